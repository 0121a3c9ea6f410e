//! The operations on applications. Each mutation is one transaction that
//! claims the request id, locks the application, checks the etag, the state
//! machine and the rules, then writes the application, its history entry, its
//! events and the answer together — so a retry replays, a race has one
//! winner, and a failure leaves nothing behind.

use chrono::Utc;
use prost::Message;
use socialloans_contracts::applications::{
    Application, ApplicationState as S, ContactPerson, CreateApplicationRequest, GetApplicationResponse,
};
use socialloans_platform::{
    Caller, Role,
    error::FieldViolation,
    events::outbox,
    trace_context,
    unit::{self, Mutation},
};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::{
    domain::{self, Action},
    error::{Error, Own},
    record::{Record, resource_name, sees_personal_data, state_name},
    store::{self, HistoryEntry},
};

/// The schema, and the producer name of this service's events.
pub const SCHEMA: &str = "applications";

/// What a change did, for the history and the feed.
#[derive(Debug, Default)]
pub struct Change {
    /// History action, e.g. `SUBMIT`.
    pub action: &'static str,
    /// Reason or comment, for the history.
    pub comment: String,
    /// Field paths an edit changed.
    pub changed_fields: Vec<String>,
    /// Events to publish: (type, encoded payload).
    pub events: Vec<(String, Vec<u8>)>,
    /// Nothing changed (a harmless repeat): no revision, history or event.
    pub unchanged: bool,
    /// A loan this change tags: it must finance no other application.
    pub loan: Option<String>,
    /// The application's loans changed: the loan table follows.
    pub loans_changed: bool,
}

/// An event to publish.
pub fn event<M: prost::Name>(payload: M) -> (String, Vec<u8>) {
    (M::full_name(), payload.encode_to_vec())
}

/// Who did something, as the history records it.
#[derive(Debug, Clone)]
pub struct Actor {
    /// Token subject.
    pub subject: String,
    /// The role acted in.
    pub role: String,
    /// A borrower's organisation.
    pub organization: String,
}

impl Actor {
    /// The caller, acting in the first of its roles that `method` allows.
    pub fn of(caller: &Caller, method: &str) -> Actor {
        let allowed = crate::policy::POLICY.methods.iter().find(|(m, _)| *m == method).map(|(_, r)| *r).unwrap_or(&[]);
        let role = allowed.iter().find(|r| caller.has(**r)).map(|r| r.as_str()).unwrap_or("unknown");
        Actor { subject: caller.subject.clone(), role: role.to_owned(), organization: caller.organization_label() }
    }

    /// The committee's decision, applied from its feed.
    pub fn committee() -> Actor {
        Actor { subject: "committee-service".into(), role: Role::Service.as_str().into(), organization: String::new() }
    }
}

/// A request that changes one application: which application, from which
/// version, and what it answers (its method and request id are a
/// [`unit::Mutation`]'s).
pub trait Targeted: unit::Mutation {
    /// The method's answer.
    type Answer: Message + Default;
    /// The application's name and the etag the caller read (empty: any version).
    fn target(&self) -> (&str, &str);
    /// The answer carrying the changed application.
    fn answer(application: Application) -> Self::Answer;
}

/// Parses `applications/{uuid}`.
pub fn parse_name(field: &str, name: &str) -> Result<Uuid, FieldViolation> {
    socialloans_platform::names::uuid(field, "applications/{uuid}", name)
}

/// The service's operations over its pool.
#[derive(Debug, Clone)]
pub struct Applications {
    /// The service's pool.
    pub pool: PgPool,
    /// The pricing discount given to approvals, in basis points.
    pub discount_bps: i32,
}

impl Applications {
    /// Creates `draft` as `request` asks; its id and times are the service's.
    pub async fn create(
        &self,
        caller: &Caller,
        request: &CreateApplicationRequest,
        draft: Application,
    ) -> Result<Application, Error> {
        let method = CreateApplicationRequest::method();
        let steps = unit::Steps {
            lock: async |_: &mut PgConnection| Ok::<_, Error>(()),
            replay: async |conn: &mut PgConnection, stored: Application, ()| {
                let id = parse_name("name", &stored.name)?;
                let row = store::lock(conn, id, caller.confined_to())
                    .await?
                    .ok_or_else(|| Error::NotFound(stored.name.clone()))?;
                Ok(replayed(stored, &Record::from_row(row)?, caller))
            },
            apply: async |conn: &mut PgConnection, (), request_id| {
                let record = Record::draft(draft, Utc::now());
                record.check_content_size()?;
                store::write(conn, &record.to_row()).await?;
                // This call is the first step of the application's thread.
                outbox::follow_thread(conn, &record.name()).await?;
                let change = Change { action: "CREATE", ..Default::default() };
                history(conn, &record, None, &Actor::of(caller, method), Some(request_id), &change).await?;
                Ok((stored_answer(&record, caller), record))
            },
            present: |stored, record: Record| replayed(stored, &record, caller),
        };
        unit::run(&self.pool, caller, request, steps).await
    }

    /// Runs `change` on the application `request` names for `caller`, as one
    /// unit of work ([`unit::run`]) of the request's method: the application
    /// is found as the caller may see it before the request id is looked at,
    /// so a stored answer is never returned to a caller who may not see the
    /// application now.
    pub async fn mutate<Req: Targeted>(
        &self,
        caller: &Caller,
        request: &Req,
        change: impl FnOnce(&mut Record) -> Result<Change, Error>,
    ) -> Result<Req::Answer, Error> {
        let method = Req::method();
        let (name, etag) = request.target();
        let id = parse_name("name", name)?;
        let steps = unit::Steps {
            lock: async |conn: &mut PgConnection| {
                let row = store::lock(conn, id, caller.confined_to())
                    .await?
                    .ok_or_else(|| Error::NotFound(name.to_owned()))?;
                Record::from_row(row)
            },
            replay: async |_: &mut PgConnection, stored, record: Record| Ok(replayed(stored, &record, caller)),
            apply: async |conn: &mut PgConnection, mut record: Record, request_id| {
                if !etag.is_empty() && etag != record.etag() {
                    return Err(Error::EtagMismatch { current: record.etag() });
                }
                outbox::follow_thread(conn, &record.name()).await?;
                let from = record.state;
                let change = change(&mut record)?;
                if let Some(loan_id) = &change.loan
                    && let Some(holder) = store::claim_loan(conn, loan_id, record.row.document.id).await?
                {
                    return Err(Error::Own(Own::LoanTaggedElsewhere {
                        loan_id: loan_id.clone(),
                        application: resource_name(holder),
                    }));
                }
                if !change.unchanged {
                    if change.action == "EDIT" {
                        record.check_content_size()?;
                    }
                    record.check_size()?;
                    record.row.document.revision += 1;
                    record.row.document.update_time = Utc::now();
                    store::write(conn, &record.to_row()).await?;
                    if change.loans_changed {
                        store::write_loans(
                            conn,
                            record.row.document.id,
                            &record.row.organization_number,
                            &record.app.loans,
                        )
                        .await?;
                    }
                    history(conn, &record, Some(from), &Actor::of(caller, method), Some(request_id), &change).await?;
                    publish(conn, &record, change.events).await?;
                }
                Ok((stored_answer(&record, caller), record))
            },
            present: |stored, record: Record| replayed(stored, &record, caller),
        };
        Ok(Req::answer(unit::run(&self.pool, caller, request, steps).await?))
    }

    /// Applies `change` to application `id` inside a transaction someone else
    /// owns (an event consumer's), acting as `actor`.
    pub async fn apply_in(
        conn: &mut PgConnection,
        id: Uuid,
        actor: &Actor,
        change: impl FnOnce(&mut Record) -> Result<Change, Error>,
    ) -> Result<(), Error> {
        let row = store::lock(conn, id, None).await?.ok_or_else(|| Error::NotFound(resource_name(id)))?;
        let mut record = Record::from_row(row)?;
        outbox::follow_thread(conn, &record.name()).await?;
        let from = record.state;
        let change = change(&mut record)?;
        if change.unchanged {
            return Ok(());
        }
        record.check_size()?;
        record.row.document.revision += 1;
        record.row.document.update_time = Utc::now();
        store::write(conn, &record.to_row()).await?;
        history(conn, &record, Some(from), actor, None, &change).await?;
        publish(conn, &record, change.events).await
    }

    /// One application, as `caller` may see it.
    pub async fn get(&self, caller: &Caller, name: &str) -> Result<GetApplicationResponse, Error> {
        let id = parse_name("name", name)?;
        let row =
            store::get(&self.pool, id, caller.confined_to()).await?.ok_or_else(|| Error::NotFound(name.to_owned()))?;
        Ok(GetApplicationResponse::spliced(crate::record::encoded_view(row, caller)?))
    }
}

/// The answer to a change as it is kept for a retry: the application as
/// `caller` sees it, without the contact person, so that no stored answer
/// holds personal data and an erasure reaches every copy ([`replayed`] adds
/// the current one back for whoever may see it).
fn stored_answer(record: &Record, caller: &Caller) -> Application {
    let mut stored = record.view_for(caller);
    stored.contact_person = None;
    stored
}

/// A stored answer as `caller` gets it again: the contact person is the
/// application's current one (after an erasure, the erasure marker).
fn replayed(mut stored: Application, current: &Record, caller: &Caller) -> Application {
    stored.contact_person =
        sees_personal_data(caller, &current.row.organization_number).then(|| current.contact.clone());
    stored
}

/// Moves `record` along the state machine for `action`.
pub fn transition(record: &mut Record, action: Action) -> Result<S, Error> {
    let to = domain::next(record.state, action).map_err(Error::from)?;
    record.state = to;
    Ok(to)
}

async fn history(
    conn: &mut PgConnection,
    record: &Record,
    from: Option<S>,
    actor: &Actor,
    request_id: Option<Uuid>,
    change: &Change,
) -> Result<(), Error> {
    store::append_history(
        conn,
        &HistoryEntry {
            application_id: record.row.document.id,
            action: change.action.to_owned(),
            from_state: from.map(state_name),
            to_state: state_name(record.state),
            actor_subject: actor.subject.clone(),
            actor_role: actor.role.clone(),
            actor_organization: actor.organization.clone(),
            request_id,
            comment: change.comment.clone(),
            changed_fields: change.changed_fields.clone(),
            trace_id: trace_context::current_trace_id(),
            ..Default::default()
        },
    )
    .await
    .map_err(Error::from)
}

async fn publish(conn: &mut PgConnection, record: &Record, events: Vec<(String, Vec<u8>)>) -> Result<(), Error> {
    for (event_type, payload) in events {
        outbox::append_encoded(
            conn,
            SCHEMA,
            &record.name(),
            Some(&record.row.organization_number),
            event_type,
            payload,
        )
        .await?;
    }
    Ok(())
}

/// The contact person after erasure: a marker, nothing personal.
pub fn erased_contact() -> ContactPerson {
    ContactPerson { erased: true, erase_time: Some(crate::record::timestamp(Utc::now())), ..Default::default() }
}
