//! Reading and writing the `notices` schema: recipients, the communication
//! log and its delivery attempts. Every statement is schema-qualified.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::texts::{Audience, Draft};
use socialloans_contracts::notices as pb;
use socialloans_documents::Language;
use socialloans_platform::events::outbox;

/// A stored recipient.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Recipient {
    /// Primary key.
    pub id: Uuid,
    /// `NNNNNN-NNNN`.
    pub organization_number: String,
    /// The person's name.
    pub display_name: String,
    /// The address.
    pub email: String,
    /// `sv` or `en`.
    pub language: String,
    /// Registered.
    pub create_time: DateTime<Utc>,
    /// Last changed.
    pub update_time: DateTime<Utc>,
}

const RECIPIENT: &str = "id, organization_number, display_name, email, language, create_time, update_time";

/// Registers `email` at `organization` (or changes its name and language).
pub async fn set_recipient(
    conn: &mut PgConnection,
    organization: &str,
    email: &str,
    display_name: &str,
    language: Language,
) -> Result<Recipient, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO notices.recipient (id, organization_number, email, display_name, language)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (organization_number, email)
         DO UPDATE SET display_name = EXCLUDED.display_name, language = EXCLUDED.language, update_time = now()
         RETURNING {RECIPIENT}"
    )))
    .bind(Uuid::now_v7())
    .bind(organization)
    .bind(email)
    .bind(display_name)
    .bind(language.tag())
    .fetch_one(conn)
    .await
}

/// One recipient.
pub async fn recipient(conn: &mut PgConnection, id: Uuid) -> Result<Option<Recipient>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {RECIPIENT} FROM notices.recipient WHERE id = $1 FOR UPDATE")))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Removes recipient `id`.
pub async fn delete_recipient(conn: &mut PgConnection, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM notices.recipient WHERE id = $1").bind(id).execute(conn).await?;
    Ok(())
}

/// A page of `organization`'s recipients in registration order, one more than `limit`.
pub async fn recipients(
    pool: &PgPool,
    organization: &str,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: u32,
) -> Result<Vec<Recipient>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {RECIPIENT} FROM notices.recipient
          WHERE organization_number = $1 AND ($2::timestamptz IS NULL OR (create_time, id) > ($2, $3))
          ORDER BY create_time, id LIMIT $4"
    )))
    .bind(organization)
    .bind(after.map(|a| a.0))
    .bind(after.map(|a| a.1))
    .bind(i64::from(limit) + 1)
    .fetch_all(pool)
    .await
}

/// Writes `draft`, caused by `cause`, once per address it goes to: every
/// recipient of the organisation in their language, or the `analysts`; a
/// borrower without recipients gets one entry saying so (NO_RECIPIENT).
/// Written before (same cause, kind and address): nothing happens.
pub async fn write(conn: &mut PgConnection, cause: &str, draft: &Draft, analysts: &str) -> Result<(), sqlx::Error> {
    let to: Vec<(String, Language)> = match draft.audience {
        Audience::Analysts => vec![(analysts.to_owned(), Language::Swedish)],
        Audience::Borrower => sqlx::query_as::<_, (String, String)>(
            "SELECT email, language FROM notices.recipient WHERE organization_number = $1 ORDER BY create_time, id",
        )
        .bind(&draft.organization_number)
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|(email, tag)| (email, Language::from_tag(&tag)))
        .collect(),
    };
    let nobody = to.is_empty();
    let to = if nobody { vec![(String::new(), Language::Swedish)] } else { to };
    for (email, language) in to {
        let (subject, body) = draft.write(language);
        let id = Uuid::now_v7();
        let written = sqlx::query(
            "INSERT INTO notices.communication
                (id, kind, organization_number, application, monitoring_plan, committee_case, recipient_email,
                 language, subject, body, state, send_after, message_id, cause, settled_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, now() + make_interval(days => $12), $13, $14, $15)
             ON CONFLICT (cause, kind, recipient_email) DO NOTHING",
        )
        .bind(id)
        .bind(draft.kind.stored())
        .bind(&draft.organization_number)
        .bind(&draft.application)
        .bind(&draft.monitoring_plan)
        .bind(&draft.case)
        .bind(&email)
        .bind(language.tag())
        .bind(subject)
        .bind(body)
        .bind(if nobody { "NO_RECIPIENT" } else { "PENDING" })
        .bind(draft.delay_days as i32)
        .bind(format!("<{id}@socialloans>"))
        .bind(cause)
        .bind(&draft.settled_by)
        .execute(&mut *conn)
        .await?;
        if nobody && written.rows_affected() == 1 {
            let undelivered = pb::NoticeUndelivered {
                communication: format!("communications/{id}"),
                kind: draft.kind.contract() as i32,
                organization_number: draft.organization_number.clone(),
                application: draft.application.clone(),
                monitoring_plan: draft.monitoring_plan.clone(),
                state: pb::DeliveryState::NoRecipient as i32,
                attempts: 0,
            };
            let aggregate = format!("communications/{id}");
            outbox::append(conn, "notices", &aggregate, Some(&draft.organization_number), &undelivered).await?;
        }
    }
    Ok(())
}

/// Says on the feed what became of `notice` after `attempt`: sent, or
/// given up; a retry says nothing yet.
pub async fn announce(conn: &mut PgConnection, notice: &Communication, attempt: &Attempt) -> Result<(), sqlx::Error> {
    let kind = crate::texts::Kind::from_stored(&notice.kind).map_or(pb::NoticeKind::Unspecified, |k| k.contract());
    let aggregate = format!("communications/{}", notice.id);
    let org = Some(notice.organization_number.as_str()).filter(|o| !o.is_empty());
    match attempt {
        Attempt::Sent => {
            let sent = pb::NoticeSent {
                communication: aggregate.clone(),
                kind: kind as i32,
                organization_number: notice.organization_number.clone(),
                application: notice.application.clone(),
                monitoring_plan: notice.monitoring_plan.clone(),
                sent_time: Some(socialloans_platform::timestamp(Utc::now())),
            };
            outbox::append(conn, "notices", &aggregate, org, &sent).await?;
        }
        Attempt::Failed(_) => {
            let failed = pb::NoticeUndelivered {
                communication: aggregate.clone(),
                kind: kind as i32,
                organization_number: notice.organization_number.clone(),
                application: notice.application.clone(),
                monitoring_plan: notice.monitoring_plan.clone(),
                state: pb::DeliveryState::Failed as i32,
                attempts: notice.attempts + 1,
            };
            outbox::append(conn, "notices", &aggregate, org, &failed).await?;
        }
        Attempt::Retry(..) => {}
    }
    Ok(())
}

/// Cancels the notices still waiting that `key` settles.
pub async fn settle(conn: &mut PgConnection, key: &str) -> Result<u64, sqlx::Error> {
    let done =
        sqlx::query("UPDATE notices.communication SET state = 'CANCELLED' WHERE settled_by = $1 AND state = 'PENDING'")
            .bind(key)
            .execute(conn)
            .await?;
    Ok(done.rows_affected())
}

/// A stored notice.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Communication {
    /// Primary key.
    pub id: Uuid,
    /// As [`crate::texts::Kind::stored`].
    pub kind: String,
    /// The borrower.
    pub organization_number: String,
    /// The application, or empty.
    pub application: String,
    /// The plan, or empty.
    pub monitoring_plan: String,
    /// The case, or empty.
    pub committee_case: String,
    /// The address, or empty.
    pub recipient_email: String,
    /// `sv` or `en`.
    pub language: String,
    /// The subject line.
    pub subject: String,
    /// The Markdown body.
    pub body: String,
    /// `PENDING`, `SENT`, `FAILED`, `CANCELLED` or `NO_RECIPIENT`.
    pub state: String,
    /// Attempts so far.
    pub attempts: i32,
    /// The last failure.
    pub last_error: String,
    /// Written.
    pub create_time: DateTime<Utc>,
    /// Not before.
    pub send_after: DateTime<Utc>,
    /// Accepted by the relay.
    pub sent_time: Option<DateTime<Utc>>,
    /// The Message-ID header.
    pub message_id: String,
    /// The event that caused it.
    pub cause: String,
}

const COMMUNICATION: &str = "id, kind, organization_number, application, monitoring_plan, committee_case, \
     recipient_email, language, subject, body, state, attempts, last_error, create_time, send_after, sent_time, \
     message_id, cause";

/// What a list of the log is filtered by; empty: any.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only these organisations' (a borrower's own); `None`: any.
    pub organizations: Option<Vec<String>>,
    /// Only this application's.
    pub application: String,
    /// Only this plan's.
    pub monitoring_plan: String,
}

/// A page of the log, newest first, one more than `limit`.
pub async fn communications(
    pool: &PgPool,
    filter: &Filter,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: u32,
) -> Result<Vec<Communication>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COMMUNICATION} FROM notices.communication
          WHERE ($1::text[] IS NULL OR organization_number = ANY($1))
            AND ($2 = '' OR application = $2) AND ($3 = '' OR monitoring_plan = $3)
            AND ($4::timestamptz IS NULL OR (create_time, id) < ($4, $5))
          ORDER BY create_time DESC, id DESC LIMIT $6"
    )))
    .bind(filter.organizations.as_deref())
    .bind(&filter.application)
    .bind(&filter.monitoring_plan)
    .bind(before.map(|b| b.0))
    .bind(before.map(|b| b.1))
    .bind(i64::from(limit) + 1)
    .fetch_all(pool)
    .await
}

/// Up to `limit` notices due now, locked for sending; those another
/// replica is sending are skipped.
pub async fn due(conn: &mut PgConnection, limit: i64) -> Result<Vec<Communication>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COMMUNICATION} FROM notices.communication
          WHERE state = 'PENDING' AND send_after <= now()
          ORDER BY send_after, id LIMIT $1 FOR UPDATE SKIP LOCKED"
    )))
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// How an attempt to send ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    /// The relay accepted it.
    Sent,
    /// It failed; tried again after the backoff (seconds).
    Retry(String, i64),
    /// It failed for the last time.
    Failed(String),
}

/// Records `attempt` on notice `id`: its state, and a line in the attempts.
pub async fn attempted(conn: &mut PgConnection, id: Uuid, attempt: &Attempt) -> Result<(), sqlx::Error> {
    let (state, error, backoff, outcome) = match attempt {
        Attempt::Sent => ("SENT", "", 0, "SENT"),
        Attempt::Retry(error, seconds) => ("PENDING", error.as_str(), *seconds, "RETRY"),
        Attempt::Failed(error) => ("FAILED", error.as_str(), 0, "FAILED"),
    };
    sqlx::query(
        "UPDATE notices.communication
            SET state = $2, attempts = attempts + 1, last_error = $3,
                send_after = now() + make_interval(secs => $4),
                sent_time = CASE WHEN $2 = 'SENT' THEN now() ELSE sent_time END
          WHERE id = $1",
    )
    .bind(id)
    .bind(state)
    .bind(error)
    .bind(backoff as f64)
    .execute(&mut *conn)
    .await?;
    sqlx::query("INSERT INTO notices.delivery_attempt (communication_id, outcome, detail) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(outcome)
        .bind(error)
        .execute(conn)
        .await?;
    Ok(())
}
