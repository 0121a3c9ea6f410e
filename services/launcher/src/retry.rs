//! A gRPC channel that sends a unary call again when the connection it went
//! out on failed before an answer came back, or the server said UNAVAILABLE
//! (a replica stopping, stopped or killed). The channel then reconnects, by
//! the service's name, to a replica that is there.
//!
//! Sending again is safe with this suite's API: every mutation carries a
//! `request_id`, and a call that did reach the server before the connection
//! broke is answered from the server's record of it, never applied twice.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tonic::{body::Body, transport::Channel};
use tower::{Service, ServiceExt};

/// How many times a call is sent at most.
const ATTEMPTS: u32 = 30;

/// A [`Channel`] that resends unary calls across replica failures.
#[derive(Debug, Clone)]
pub struct Retrying {
    inner: Channel,
    resent: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Retrying {
    /// Wraps `channel`.
    pub fn new(inner: Channel) -> Self {
        Self { inner, resent: Default::default() }
    }

    /// How many times a call was sent again so far, over all clones.
    pub fn resent(&self) -> u64 {
        self.resent.load(std::sync::atomic::Ordering::Relaxed)
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn unavailable(response: &http::Response<Body>) -> bool {
    response.headers().get("grpc-status").is_some_and(|v| v.as_bytes() == b"14")
}

impl Service<http::Request<Body>> for Retrying {
    type Response = http::Response<Body>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Readiness is awaited per attempt, on a clone, in `call`.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let channel = self.inner.clone();
        let resent = self.resent.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let bytes: Bytes = body.collect().await.map_err(|s| Box::new(s) as BoxError)?.to_bytes();
            let mut attempt = 0;
            loop {
                attempt += 1;
                let mut again = http::Request::builder().method(parts.method.clone()).uri(parts.uri.clone());
                for (name, value) in &parts.headers {
                    again = again.header(name, value);
                }
                let again = again.body(Body::new(Full::new(bytes.clone()).map_err(|e| match e {})))?;
                let result = match channel.clone().ready_oneshot().await {
                    Ok(mut ready) => ready.call(again).await.map_err(BoxError::from),
                    Err(e) => Err(BoxError::from(e)),
                };
                match result {
                    Ok(response) if !unavailable(&response) || attempt >= ATTEMPTS => return Ok(response),
                    Err(e) if attempt >= ATTEMPTS => return Err(e),
                    _ => {
                        resent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt.min(10)))).await;
                    }
                }
            }
        })
    }
}
