//! The notices service's gRPC handlers: recipients, and the communication
//! log. A borrower works only with its own organisations'.

use socialloans_contracts::notices::{self as pb, notices_service_server::NoticesService};
use socialloans_documents::Language;
use socialloans_platform::{
    Caller, Reply,
    auth::open,
    error::FieldViolation,
    pagination::{cut_page, decode_position, page_size},
    timestamp, unit,
};
use sqlx::PgPool;
use tonic::{Request, Response};
use uuid::Uuid;

use crate::{error::Error, store, texts::Kind};

/// The notices handlers.
#[derive(Debug, Clone)]
pub struct Api {
    /// The service's pool.
    pub pool: PgPool,
    /// The service's feed.
    pub feed: socialloans_platform::events::Feed,
}

/// Whether `text` is an organisation number's form, `NNNNNN-NNNN`.
fn organization_form(text: &str) -> bool {
    text.len() == 11 && text.char_indices().all(|(i, c)| if i == 6 { c == '-' } else { c.is_ascii_digit() })
}

/// The organisation `asked` for, as `caller` may act for it: a borrower
/// for its own (its only one when it asks for none); NOT_FOUND for
/// another's, as if it did not exist.
fn organization(caller: &Caller, field: &str, asked: &str) -> Result<String, Error> {
    match caller.confined_to() {
        Some([only]) if asked.is_empty() => Ok(only.clone()),
        Some(own) if !own.iter().any(|o| o == asked) => {
            if asked.is_empty() {
                Err(FieldViolation::new(field, "is required: the token names several organisations").into())
            } else {
                Err(Error::NotFound(format!("organizations/{asked}")))
            }
        }
        _ if !organization_form(asked) => Err(FieldViolation::new(field, "is required: NNNNNN-NNNN").into()),
        _ => Ok(asked.to_owned()),
    }
}

fn recipient_view(row: store::Recipient) -> pb::Recipient {
    let language = Language::from_tag(&row.language);
    pb::Recipient {
        name: format!("recipients/{}", row.id),
        organization_number: row.organization_number,
        display_name: row.display_name,
        email: row.email,
        language: language.contract() as i32,
        create_time: Some(timestamp(row.create_time)),
        update_time: Some(timestamp(row.update_time)),
    }
}

fn communication_view(row: store::Communication) -> pb::Communication {
    let kind = Kind::from_stored(&row.kind).map_or(pb::NoticeKind::Unspecified, Kind::contract);
    let state = pb::DeliveryState::from_str_name(&format!("DELIVERY_STATE_{}", row.state)).unwrap_or_default();
    let language = Language::from_tag(&row.language);
    pb::Communication {
        name: format!("communications/{}", row.id),
        kind: kind as i32,
        organization_number: row.organization_number,
        application: row.application,
        monitoring_plan: row.monitoring_plan,
        case: row.committee_case,
        recipient_email: row.recipient_email,
        language: language.contract() as i32,
        subject: row.subject,
        body: row.body,
        state: state as i32,
        attempts: row.attempts,
        last_error: row.last_error,
        create_time: Some(timestamp(row.create_time)),
        send_after: Some(timestamp(row.send_after)),
        sent_time: row.sent_time.map(timestamp),
        message_id: row.message_id,
        cause: row.cause,
    }
}

/// The recipient `given` checked, every bad field named: its address and language.
fn checked_recipient(given: &pb::Recipient) -> Result<(String, Language), Error> {
    let mut violations = Vec::new();
    let email = given.email.trim();
    if email.len() > 254 || email.parse::<lettre::Address>().is_err() {
        violations
            .push(FieldViolation::new("recipient.email", "is required: an e-mail address, at most 254 characters"));
    }
    if socialloans_platform::limits::unfit(&given.display_name, 200) {
        violations.push(FieldViolation::new("recipient.display_name", "is at most 200 characters"));
    }
    let language = Language::asked(given.language);
    if language.is_none() {
        violations.push(FieldViolation::new("recipient.language", "is LANGUAGE_SWEDISH or LANGUAGE_ENGLISH"));
    }
    match language {
        Some(language) if violations.is_empty() => Ok((email.to_owned(), language)),
        _ => Err(Error::InvalidArgument(violations)),
    }
}

#[tonic::async_trait]
impl NoticesService for Api {
    type StreamEventsStream = socialloans_platform::events::FeedStream;

    async fn stream_events(
        &self,
        request: Request<socialloans_contracts::events::StreamEventsRequest>,
    ) -> Reply<Self::StreamEventsStream> {
        self.feed.serve(request).await
    }

    async fn set_recipient(&self, request: Request<pb::SetRecipientRequest>) -> Reply<pb::SetRecipientResponse> {
        let (caller, req) = open(request)?;
        let given =
            req.recipient.clone().ok_or_else(|| Error::from(FieldViolation::new("recipient", "is required")))?;
        let (email, language) = checked_recipient(&given)?;
        let org = organization(&caller, "recipient.organization_number", &given.organization_number)?;
        let answer = unit::run_simple(&self.pool, &caller, &req, async |conn| {
            let row = store::set_recipient(conn, &org, &email, given.display_name.trim(), language).await?;
            Ok::<_, Error>(pb::SetRecipientResponse { recipient: Some(recipient_view(row)) })
        })
        .await?;
        Ok(Response::new(answer))
    }

    async fn list_recipients(&self, request: Request<pb::ListRecipientsRequest>) -> Reply<pb::ListRecipientsResponse> {
        let (caller, req) = open(request)?;
        let org = organization(&caller, "organization_number", &req.organization_number)?;
        let size = page_size(req.page_size).map_err(Error::from)?;
        let after = decode_position(&org, &req.page_token).map_err(Error::from)?;
        let mut rows = store::recipients(&self.pool, &org, after, size).await.map_err(Error::from)?;
        let next_page_token = cut_page(&org, &mut rows, size, |r| r.email.len() + 64, |r| (r.create_time, r.id));
        let recipients = rows.into_iter().map(recipient_view).collect();
        Ok(Response::new(pb::ListRecipientsResponse { recipients, next_page_token }))
    }

    async fn delete_recipient(
        &self,
        request: Request<pb::DeleteRecipientRequest>,
    ) -> Reply<pb::DeleteRecipientResponse> {
        let (caller, req) = open(request)?;
        let id: Uuid =
            socialloans_platform::names::uuid("name", "recipients/{uuid}", &req.name).map_err(Error::from)?;
        let answer = unit::run_simple(&self.pool, &caller, &req, async |conn| {
            let row = store::recipient(conn, id).await?.ok_or_else(|| Error::NotFound(req.name.clone()))?;
            if caller.confined_to().is_some_and(|own| !own.contains(&row.organization_number)) {
                return Err(Error::NotFound(req.name.clone()));
            }
            store::delete_recipient(conn, id).await?;
            Ok(pb::DeleteRecipientResponse {})
        })
        .await?;
        Ok(Response::new(answer))
    }

    async fn list_communications(
        &self,
        request: Request<pb::ListCommunicationsRequest>,
    ) -> Reply<pb::ListCommunicationsResponse> {
        let (caller, req) = open(request)?;
        let organizations = match (caller.confined_to(), req.organization_number.as_str()) {
            (own, "") => own.map(<[String]>::to_vec),
            (_, asked) => Some(vec![organization(&caller, "organization_number", asked)?]),
        };
        let filter = store::Filter {
            organizations,
            application: req.application.clone(),
            monitoring_plan: req.monitoring_plan.clone(),
        };
        let query = format!("{:?}|{}|{}", filter.organizations, filter.application, filter.monitoring_plan);
        let size = page_size(req.page_size).map_err(Error::from)?;
        let before = decode_position(&query, &req.page_token).map_err(Error::from)?;
        let mut rows = store::communications(&self.pool, &filter, before, size).await.map_err(Error::from)?;
        let next_page_token = cut_page(&query, &mut rows, size, |r| r.body.len() + 512, |r| (r.create_time, r.id));
        let communications = rows.into_iter().map(communication_view).collect();
        Ok(Response::new(pb::ListCommunicationsResponse { communications, next_page_token }))
    }
}
