//! The audit trail. A transaction first says who acts and why
//! ([`socialloans_platform::unit::name_actor`]: the caller and method, or the service applying
//! an event or sweeping for overdue items); each change in it is then
//! recorded with [`store::audit::record`], in the same transaction, so the
//! trail never disagrees with the data.

use socialloans_contracts::common::Actor;
use socialloans_contracts::monitoring::AuditEntry;
use socialloans_platform::Caller;

use crate::store;

/// The actor of a caller's request.
pub fn actor_of(caller: &Caller) -> Actor {
    Actor {
        subject: caller.subject.clone(),
        role: caller.role_names(),
        organization_number: caller.organization_label(),
    }
}

impl store::audit::Row {
    /// The position in the trail.
    pub fn sequence(&self) -> i64 {
        self.sequence
    }

    /// The API view.
    pub fn view(self) -> AuditEntry {
        AuditEntry {
            name: format!("auditEntries/{}", self.sequence),
            sequence: self.sequence,
            action: self.action,
            resource: self.resource,
            from_state: self.from_state,
            to_state: self.to_state,
            actor: Some(Actor {
                subject: self.actor_subject,
                role: self.actor_role,
                organization_number: self.actor_organization,
            }),
            occur_time: Some(socialloans_platform::timestamp(self.occur_time)),
            request_id: self.request_id,
            comment: self.comment,
            trace_id: self.trace_id,
        }
    }
}
