//! The feed's messages as the platform sees them on the wire.
//!
//! Each service's contract defines its own `Event`, `StreamEventsRequest` and
//! `StreamEventsResponse` (package `socialloans.<service>.v1`); all three are
//! the same on the wire, field for field. These mirrors let the shared feed and
//! consumer speak to any of them; a test in `tests/` keeps them identical.

/// `StreamEventsRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct FeedRequest {
    /// Stream events with a position above this.
    #[prost(int64, tag = "1")]
    pub after_position: i64,
    /// Only these event types; empty means all.
    #[prost(string, repeated, tag = "2")]
    pub types: Vec<String>,
    /// The largest response the client can receive; 0: the feed's own limit.
    #[prost(int32, tag = "3")]
    pub max_event_bytes: i32,
}

/// `StreamEventsResponse`: an event, or a heartbeat when `event` is unset.
#[derive(Clone, PartialEq, prost::Message)]
pub struct FeedResponse {
    /// The next event.
    #[prost(message, optional, tag = "1")]
    pub event: Option<WireEvent>,
    /// The feed's head when sent.
    #[prost(int64, tag = "2")]
    pub head_position: i64,
    /// Every event of the requested types at or below this was sent.
    #[prost(int64, tag = "3")]
    pub scanned_through: i64,
}

/// `Event`, the envelope.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WireEvent {
    /// UUID.
    #[prost(string, tag = "1")]
    pub id: String,
    /// Position in the producer's feed.
    #[prost(int64, tag = "2")]
    pub position: i64,
    /// Fully-qualified payload message name.
    #[prost(string, tag = "3")]
    pub r#type: String,
    /// Resource name of the aggregate.
    #[prost(string, tag = "4")]
    pub aggregate: String,
    /// Commit time of the change.
    #[prost(message, optional, tag = "5")]
    pub occur_time: Option<prost_types::Timestamp>,
    /// W3C traceparent of the causing call.
    #[prost(string, tag = "6")]
    pub traceparent: String,
    /// W3C tracestate.
    #[prost(string, tag = "7")]
    pub tracestate: String,
    /// The payload, packed.
    #[prost(message, optional, tag = "8")]
    pub payload: Option<prost_types::Any>,
    /// The payload's size when it was left out for being too large.
    #[prost(int64, tag = "9")]
    pub omitted_payload_bytes: i64,
}

/// Re-encodes a message as another with the same wire format (a mirror into
/// a service's generated type, or back).
pub fn transcode<A: prost::Message, B: prost::Message + Default>(message: &A) -> Result<B, prost::DecodeError> {
    B::decode(message.encode_to_vec().as_slice())
}
