//! Delivery: notices due now are sent through the SMTP relay (`SMTP_URL`),
//! each as plain text with an HTML alternative and a Message-ID that stays
//! the same on every attempt. A failure is retried with exponential backoff
//! (2, 4, 8 … seconds, at most an hour) until `NOTICE_MAX_ATTEMPTS`, then
//! the notice is FAILED. Replicas share the work: a notice being sent by
//! one is skipped by the others (`FOR UPDATE SKIP LOCKED`).

use std::time::Duration;

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, MultiPart},
};
use sqlx::PgPool;
use tokio::sync::watch;

use crate::{
    Settings,
    store::{self, Attempt, Communication},
};

/// How many due notices one pass takes.
const BATCH: i64 = 20;

/// Sends due notices.
#[derive(Clone)]
pub struct Sender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    max_attempts: i32,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender").field("from", &self.from).field("max_attempts", &self.max_attempts).finish()
    }
}

/// The wait before attempt `attempts + 1`, in seconds.
pub fn backoff(attempts: i32) -> i64 {
    1i64.checked_shl(attempts.clamp(1, 12) as u32).unwrap_or(3600).min(3600)
}

impl Sender {
    /// A sender to the relay `settings` name; `None` without `SMTP_URL`.
    pub fn new(settings: &Settings) -> Result<Option<Sender>, String> {
        let Some(url) = &settings.smtp_url else { return Ok(None) };
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| format!("SMTP_URL: {e}"))?
            .timeout(Some(Duration::from_secs(20)))
            .build();
        let from = settings.from.parse().map_err(|e| format!("NOTICE_FROM: {e}"))?;
        Ok(Some(Sender { transport, from, max_attempts: settings.max_attempts }))
    }

    /// Sends what is due every `every` until `stopping` turns true.
    pub async fn run(self, pool: PgPool, every: Duration, mut stopping: watch::Receiver<bool>) {
        loop {
            let pause = match self.send_due(&pool).await {
                Ok(n) if n as i64 == BATCH => Duration::ZERO,
                Ok(_) => every,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot read the notices due");
                    every
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stopping.changed() => {}
            }
            if *stopping.borrow() {
                return;
            }
        }
    }

    /// One pass: sends the notices due now; how many were tried.
    pub async fn send_due(&self, pool: &PgPool) -> Result<usize, sqlx::Error> {
        let mut tx = pool.begin().await?;
        let due = store::due(&mut tx, BATCH).await?;
        for notice in &due {
            let attempt = match self.message(notice) {
                Err(err) => Attempt::Failed(err),
                Ok(message) => match self.transport.send(message).await {
                    Ok(_) => Attempt::Sent,
                    Err(err) if notice.attempts + 1 >= self.max_attempts => Attempt::Failed(err.to_string()),
                    Err(err) => Attempt::Retry(err.to_string(), backoff(notice.attempts + 1)),
                },
            };
            match &attempt {
                Attempt::Sent => tracing::info!(notice = %notice.id, kind = notice.kind, "notice sent"),
                other => tracing::warn!(notice = %notice.id, kind = notice.kind, outcome = ?other, "notice not sent"),
            }
            store::attempted(&mut tx, notice.id, &attempt).await?;
            store::announce(&mut tx, notice, &attempt).await?;
        }
        tx.commit().await?;
        Ok(due.len())
    }

    /// The e-mail of `notice`.
    fn message(&self, notice: &Communication) -> Result<Message, String> {
        let to: Mailbox = notice.recipient_email.parse().map_err(|e| format!("the address: {e}"))?;
        let language = socialloans_documents::Language::from_tag(&notice.language);
        let html = socialloans_documents::html::page(&notice.body, &notice.subject, language);
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(notice.subject.clone())
            .message_id(Some(notice.message_id.clone()))
            .multipart(MultiPart::alternative_plain_html(notice.body.clone(), html))
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retry_waits_twice_as_long_each_time_and_never_more_than_an_hour() {
        assert_eq!([1, 2, 3, 4].map(backoff), [2, 4, 8, 16]);
        assert_eq!(backoff(12), 3600);
        assert_eq!(backoff(100), 3600);
        assert_eq!(backoff(-5), 2);
    }
}
