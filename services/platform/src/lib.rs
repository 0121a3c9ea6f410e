//! The platform every Social Loans service stands on, used the same way by all three:
//! configuration from the environment, the gRPC server with health, reflection,
//! TLS, limits and graceful shutdown, bearer-token auth with a per-service role
//! policy, JSON logs and OpenTelemetry traces, Prometheus metrics, the
//! service's PostgreSQL pool, bootstrap and migrations, and error helpers.

pub mod auth;
pub mod background;
pub mod backoff;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod events;
pub mod grpc_layer;
pub mod idempotency;
pub mod jwks;
pub mod limits;
pub mod mask;
pub mod metrics;
pub mod names;
pub mod pagination;
pub mod server;
pub mod signing;
pub mod stored;
pub mod telemetry;
pub mod trace_context;
pub mod unit;

pub use auth::{Caller, Policy, Role};
pub use server::{Context, Running, ServiceSpec};

/// What a gRPC handler answers.
pub type Reply<T> = Result<tonic::Response<T>, tonic::Status>;

/// A `check_env` for services with no variables of their own.
pub fn no_env(_: &mut config::Env) {}

/// A `background` for services with nothing to run beside serving.
pub fn no_background(_: &Context) {}

/// The calendar date in Europe/Stockholm at `now`, by the IANA time zone
/// database (summer time included, and whatever the rules become).
pub fn stockholm_date(now: chrono::DateTime<chrono::Utc>) -> chrono::NaiveDate {
    now.with_timezone(&chrono_tz::Europe::Stockholm).date_naive()
}

/// A protobuf timestamp of `time`.
pub fn timestamp(time: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: time.timestamp(), nanos: time.timestamp_subsec_nanos() as i32 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn the_date_in_stockholm_follows_summer_time() {
        let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(stockholm_date(at("2026-12-31T22:59:59Z")), day(2026, 12, 31), "23:59 in winter");
        assert_eq!(stockholm_date(at("2026-12-31T23:00:00Z")), day(2027, 1, 1), "midnight in winter is 23:00 UTC");
        assert_eq!(stockholm_date(at("2027-06-30T21:59:59Z")), day(2027, 6, 30));
        assert_eq!(stockholm_date(at("2027-06-30T22:00:00Z")), day(2027, 7, 1), "midnight in summer is 22:00 UTC");
        // 2027: summer time from 28 March 01:00 UTC to 31 October 01:00 UTC.
        assert_eq!(stockholm_date(at("2027-03-28T22:30:00Z")), day(2027, 3, 29));
        assert_eq!(stockholm_date(at("2027-03-27T22:30:00Z")), day(2027, 3, 27));
        assert_eq!(stockholm_date(at("2027-10-31T22:30:00Z")), day(2027, 10, 31));
    }
}
