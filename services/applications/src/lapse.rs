//! Approvals never drawn lapse: an approved application without a tagged
//! loan `APPROVAL_LAPSE_DAYS` after the committee's confirmed decision
//! becomes LAPSED, with the event `ApplicationLapsed`, in a sweep every
//! `APPROVAL_LAPSE_SWEEP_MS`. By default (0 days) approvals never lapse. Every
//! replica may sweep: each lapse locks its application, and a second one
//! finds it lapsed already and changes nothing.

use std::time::Duration;

use chrono::{DateTime, Utc};
use socialloans_contracts::applications::{self as pb, ApplicationState as S};
use socialloans_platform::{Role, config::Env};
use sqlx::PgPool;
use tokio::sync::watch;

use crate::{
    domain::Action,
    error::Error,
    record::{Record, StoredState, timestamp},
    service::{Actor, Applications, Change, event, transition},
    store,
};

/// `APPROVAL_LAPSE_DAYS`: days after the decision an undrawn approval
/// lapses; 0 (the default) never.
pub fn lapse_days(env: &mut Env) -> u64 {
    env.int_in("APPROVAL_LAPSE_DAYS", 0, 0..=3_650)
}

/// `APPROVAL_LAPSE_SWEEP_MS`: how often the approvals are looked at.
pub fn sweep_every(env: &mut Env) -> Duration {
    Duration::from_millis(env.int_in("APPROVAL_LAPSE_SWEEP_MS", 3_600_000, 100..=86_400_000))
}

/// Lapses `record` when it is an approval undrawn `days` after its decision
/// as of `now`; otherwise changes nothing.
pub fn lapse(record: &mut Record, days: u32, now: DateTime<Utc>) -> Result<Change, Error> {
    let unchanged = Ok(Change { unchanged: true, ..Default::default() });
    if !matches!(record.state, S::Approved | S::ApprovedWithConditions) || days == 0 {
        return unchanged;
    }
    let decided = record.app.committee_decision.as_ref().and_then(|d| d.confirm_time);
    let Some(decided) = decided.and_then(|t| DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32)) else {
        return unchanged; // no decision time to count from: never lapses
    };
    if now < decided + chrono::Duration::days(i64::from(days)) {
        return unchanged;
    }
    let previous = record.state;
    transition(record, Action::Lapse)?;
    record.app.close_time = Some(timestamp(now));
    let lapsed = pb::ApplicationLapsed {
        application: record.name(),
        organization_number: record.row.organization_number.clone(),
        previous_state: previous as i32,
        approved_amount: record.app.approved_amount.clone(),
        decision_time: Some(timestamp(decided)),
        lapse_days: days as i32,
    };
    Ok(Change {
        action: "LAPSE",
        comment: format!("no loan tagged within {days} days of the decision"),
        events: vec![event(lapsed)],
        ..Default::default()
    })
}

/// The service itself, lapsing approvals.
fn sweeper() -> Actor {
    Actor { subject: "applications-service".into(), role: Role::Service.as_str().into(), organization: String::new() }
}

/// One pass: every undrawn approval older than `days` lapses; how many did.
pub async fn sweep(pool: &PgPool, days: u32, now: DateTime<Utc>) -> Result<usize, Error> {
    let undrawn = [S::Approved, S::ApprovedWithConditions].map(|s| StoredState(s).stored());
    let approved = store::ids_in_states(pool, &undrawn).await?;
    let mut lapsed = 0;
    for id in approved {
        let mut tx = pool.begin().await?;
        let mut changed = false;
        Applications::apply_in(&mut tx, id, &sweeper(), |record| {
            let change = lapse(record, days, now)?;
            changed = !change.unchanged;
            Ok(change)
        })
        .await?;
        tx.commit().await?;
        lapsed += usize::from(changed);
    }
    Ok(lapsed)
}

/// Sweeps every `every` until the service stops.
pub async fn run(pool: PgPool, days: u32, every: Duration, mut stopping: watch::Receiver<bool>) {
    loop {
        match sweep(&pool, days, Utc::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(lapsed = n, days, "undrawn approvals lapsed"),
            Err(err) => tracing::warn!(error = %err, "the lapse sweep failed; retrying at the next interval"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stopping.wait_for(|s| *s) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn approved(decided: Option<DateTime<Utc>>, state: S) -> Record {
        let mut record = Record::draft(pb::Application::default(), Utc::now());
        record.state = state;
        record.app.committee_decision =
            Some(pb::CommitteeDecisionSummary { confirm_time: decided.map(timestamp), ..Default::default() });
        record
    }

    #[test]
    fn an_approval_lapses_exactly_when_its_period_after_the_decision_is_over() {
        let decided = DateTime::from_timestamp(1_780_000_000, 0).unwrap();
        let due = decided + chrono::Duration::days(365);
        for state in [S::Approved, S::ApprovedWithConditions] {
            let early = lapse(&mut approved(Some(decided), state), 365, due - chrono::Duration::seconds(1)).unwrap();
            assert!(early.unchanged, "{state:?} a second early");
            let mut record = approved(Some(decided), state);
            let change = lapse(&mut record, 365, due).unwrap();
            assert_eq!((change.action, record.state, change.events.len()), ("LAPSE", S::Lapsed, 1));
            assert!(record.app.close_time.is_some());
        }
    }

    #[test]
    fn nothing_lapses_without_a_period_a_decision_time_or_an_undrawn_approval() {
        let long_ago = DateTime::from_timestamp(1_000_000_000, 0).unwrap();
        let now = Utc::now();
        assert!(lapse(&mut approved(Some(long_ago), S::Approved), 0, now).unwrap().unchanged, "0 days: never");
        assert!(lapse(&mut approved(None, S::Approved), 30, now).unwrap().unchanged, "no decision time");
        for state in [S::Active, S::Closed, S::Lapsed, S::Declined, S::ReferredToCommittee] {
            let mut record = approved(Some(long_ago), state);
            assert!(lapse(&mut record, 30, now).unwrap().unchanged, "{state:?}");
            assert_eq!(record.state, state);
        }
    }
}
