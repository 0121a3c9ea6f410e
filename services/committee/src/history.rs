//! The committee's history: database triggers record every change to a
//! member, case, meeting or vote (migration 0004). A transaction first says
//! who acts, in which request ([`socialloans_platform::unit::name_actor`]); the
//! triggers read that, so no code path can change the data without leaving
//! its trace.

use socialloans_contracts::committee::HistoryEntry;
use socialloans_contracts::common::Actor;

use crate::{cases::timestamp, store::history::Row};

impl crate::store::Sequenced for Row {
    fn sequence(&self) -> i64 {
        self.sequence
    }
}

impl Row {
    /// The API view.
    pub fn view(self) -> HistoryEntry {
        HistoryEntry {
            name: format!("historyEntries/{}", self.sequence),
            sequence: self.sequence,
            action: self.action,
            resource: self.resource,
            operation: self.operation,
            from_state: self.from_state,
            to_state: self.to_state,
            actor: Some(Actor {
                subject: self.actor_subject,
                role: self.actor_role,
                organization_number: String::new(),
            }),
            occur_time: Some(timestamp(self.occur_time)),
            request_id: self.request_id,
            trace_id: self.trace_id,
        }
    }
}
