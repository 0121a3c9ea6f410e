//! Events between services: a transactional outbox in each producer's schema,
//! positions given in commit order, a resumable gRPC feed, and a consumer that
//! applies each event exactly once. See each module for the why.

pub mod consumer;
pub mod feed;
pub mod notify;
pub mod outbox;
pub mod sequencer;

pub use consumer::{Handler, HandlerError, Subscription, TokenSource, decode, payload};
pub use feed::{Confinement, Feed, FeedStream};
pub use outbox::append;
pub use socialloans_contracts::events::{Event, StreamEventsRequest, StreamEventsResponse};

/// Resolves once `stop` turns true (or its sender is gone). Unlike
/// `wait_for`, holds no borrow of the value, so it can sit in `select!`.
pub(crate) async fn until_stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
