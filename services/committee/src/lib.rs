//! The committee service: the expert committee's cases, meetings, votes and
//! decisions. Built so far: the roster, cases opened from the applications
//! feed (holding each application exactly as referred), the assessment of the
//! five basic requirements, conflict-of-interest declarations, and the feed.

pub mod api;
pub mod cases;
pub mod casework;
pub mod chain;
pub mod error;
pub mod history;
pub mod meetings;
pub mod members;
pub mod minutes;
pub mod policy;
pub mod proceedings;
pub mod referrals;
pub mod rules;
pub mod signing;
pub mod store;

use socialloans_contracts::committee::committee_service_server::CommitteeServiceServer;
use socialloans_platform::{
    Context, ServiceSpec,
    config::{DefaultPorts, Env},
};

/// What makes this service itself.
pub static SPEC: ServiceSpec = ServiceSpec {
    name: "committee",
    ports: DefaultPorts { grpc: 50052, metrics: 9092 },
    policy: &policy::POLICY,
    migrator: || sqlx::migrate!("./migrations"),
    append_only: &["audit_chain", "history", "chain_head_signature"],
    check_env: |env| {
        committee_rules(env);
        signing::ChainKey::from_env(env, "CHAIN_SIGNING_KEY_FILE");
    },
    background,
};

/// `COMMITTEE_DECISION_RULE` (`majority`, the default, or `consensus`) and
/// `COMMITTEE_QUORUM` (a number; default: more than half of the active roster).
fn committee_rules(env: &mut Env) -> proceedings::Rules {
    use rules::DecisionRule::{Consensus, Majority};
    let decision =
        env.choice("COMMITTEE_DECISION_RULE", &[("majority", Majority), ("consensus", Consensus)]).unwrap_or(Majority);
    let quorum = match env.optional::<u32>("COMMITTEE_QUORUM", "a number of members, 1 or more") {
        Some(0) => {
            env.error("COMMITTEE_QUORUM=0 is out of range: expected 1 or more");
            rules::QuorumRule::MajorityOfRoster
        }
        Some(n) => rules::QuorumRule::Fixed(n),
        None => rules::QuorumRule::MajorityOfRoster,
    };
    proceedings::Rules { decision, quorum }
}

/// Consumes the applications feed, when `APPLICATIONS_FEED_URL` is set.
fn background(context: &Context) {
    context.subscribe("applications", referrals::APPLICATIONS_FEED, referrals::types(), referrals::Referrals);
}

/// Registers the service's gRPC handlers.
pub fn routes(context: &Context) -> tonic::service::Routes {
    let limit = context.config.max_message_bytes;
    tonic::service::Routes::new(
        CommitteeServiceServer::new(api::Api {
            pool: context.pool.clone(),
            feed: context.feed.clone(),
            rules: committee_rules(&mut context.config.raw.reader()),
            key: {
                let key = signing::ChainKey::from_env(&mut context.config.raw.reader(), "CHAIN_SIGNING_KEY_FILE");
                if key.ephemeral {
                    tracing::warn!(
                        key_id = %key.key_id(),
                        "no CHAIN_SIGNING_KEY_FILE: the chain's heads are signed with a key made for this process"
                    );
                }
                key
            },
        })
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit),
    )
}
