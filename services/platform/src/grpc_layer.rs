//! The tower layer every gRPC call passes through before its handler:
//! trace context, authentication, authorisation and metrics.
//!
//! Health and reflection are open to everyone (probes and tooling carry no
//! token). Every other call must carry a valid bearer token whose roles the
//! service's [`Policy`] allows on the method; the [`Caller`] is then put into
//! the request's extensions for the handler.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Instant,
};

use tonic::{Code, Status, transport::server::TcpConnectInfo, transport::server::TlsConnectInfo};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::{
    auth::{AuthError, Caller, Policy, Role, Verifier},
    error::with_reason,
    metrics::{Metrics, code_name},
};

/// What the layer needs to know.
#[derive(Clone)]
pub struct CallGuard {
    pub(crate) verifier: Arc<Verifier>,
    pub(crate) policy: &'static Policy,
    pub(crate) metrics: Metrics,
    /// With optional mTLS, system roles must still prove themselves with a certificate.
    pub(crate) system_roles_need_certificate: bool,
    /// Bounds the handlers running at once; calls beyond it wait their turn.
    /// Health and reflection bypass it, so probes answer even under overload.
    pub(crate) limiter: Arc<tokio::sync::Semaphore>,
}

impl<S> tower::Layer<S> for CallGuard {
    type Service = Guarded<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Guarded { inner, guard: self.clone() }
    }
}

/// The service produced by [`CallGuard`].
#[derive(Clone)]
pub struct Guarded<S> {
    inner: S,
    guard: CallGuard,
}

fn is_open(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.Health/") || path.starts_with("/grpc.reflection.")
}

impl CallGuard {
    fn authorise<B>(&self, request: &http::Request<B>) -> Result<Option<Caller>, Status> {
        let path = request.uri().path();
        if is_open(path) {
            return Ok(None);
        }
        let header = request.headers().get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let caller = self.verifier.verify_header(header).map_err(|err| {
            let reason = match err {
                AuthError::Missing => "TOKEN_MISSING",
                AuthError::Malformed => "TOKEN_MALFORMED",
                AuthError::Expired => "TOKEN_EXPIRED",
                AuthError::Invalid(_) => "TOKEN_INVALID",
            };
            with_reason(Code::Unauthenticated, reason, err.to_string(), &[])
        })?;
        let Some(allowed) = self.policy.allowed(path) else {
            let ours = path.strip_prefix('/').is_some_and(|p| p.starts_with(self.policy.service));
            return if ours {
                // A method of ours that the policy forgot: nobody may call it.
                Err(with_reason(Code::PermissionDenied, "METHOD_NOT_IN_POLICY", "no role may call this method", &[]))
            } else {
                Ok(Some(caller)) // not ours: the router answers UNIMPLEMENTED
            };
        };
        if !allowed.iter().any(|role| caller.has(*role)) {
            let roles = allowed.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",");
            return Err(with_reason(
                Code::PermissionDenied,
                "ROLE_NOT_ALLOWED",
                format!("this method needs one of the roles: {roles}"),
                &[("allowed_roles", roles.clone())],
            ));
        }
        if self.system_roles_need_certificate && (caller.has(Role::CoreBanking) || caller.has(Role::Service)) {
            let has_certificate = request
                .extensions()
                .get::<TlsConnectInfo<TcpConnectInfo>>()
                .and_then(|info| info.peer_certs())
                .is_some_and(|certs| !certs.is_empty());
            if !has_certificate {
                return Err(with_reason(
                    Code::PermissionDenied,
                    "CLIENT_CERTIFICATE_REQUIRED",
                    "system callers must present a client certificate",
                    &[],
                ));
            }
        }
        Ok(Some(caller))
    }
}

type BoxFuture<T> = Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for Guarded<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send,
    B: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        // The clone that was made ready is the one to call (tower's contract).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let guard = self.guard.clone();
        let method = request.uri().path().trim_start_matches('/').to_owned();
        let span = tracing::info_span!("grpc.call", otel.kind = "server", rpc.method = %method, rpc.grpc.status_code = tracing::field::Empty);
        let _ = span.set_parent(crate::trace_context::extract(request.headers()));
        let started = Instant::now();

        Box::pin(
            async move {
                guard.metrics.in_flight().inc();
                let response = match guard.authorise(&request) {
                    Ok(None) => inner.call(request).await,
                    Ok(Some(caller)) => {
                        request.extensions_mut().insert(caller);
                        // Held until the handler has answered (for a stream: until it starts).
                        let _permit = guard.limiter.clone().acquire_owned().await.expect("the limiter is never closed");
                        inner.call(request).await
                    }
                    Err(status) => Ok(status.into_http()),
                };
                let response = match response {
                    Ok(response) => response,
                    Err(err) => {
                        guard.metrics.in_flight().dec();
                        return Err(err);
                    }
                };
                let recorder = Recorder { metrics: guard.metrics, method, started, span: tracing::Span::current() };
                let early = header_status(response.headers());
                let (parts, body) = response.into_parts();
                let body = match early {
                    // Trailers-only response: the call is over.
                    Some(code) => {
                        recorder.finish(code);
                        body
                    }
                    None => tonic::body::Body::new(RecordingBody { inner: body, recorder: Some(recorder) }),
                };
                Ok(http::Response::from_parts(parts, body))
            }
            .instrument(span),
        )
    }
}

fn header_status(headers: &http::HeaderMap) -> Option<Code> {
    headers.get("grpc-status").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<i32>().ok()).map(Code::from_i32)
}

struct Recorder {
    metrics: Metrics,
    method: String,
    started: Instant,
    span: tracing::Span,
}

impl Recorder {
    fn finish(self, code: Code) {
        let seconds = self.started.elapsed().as_secs_f64();
        self.metrics.in_flight().dec();
        self.metrics.record_call(&self.method, code, seconds);
        self.span.record("rpc.grpc.status_code", code as i32);
        let _entered = self.span.enter();
        let millis = seconds * 1000.0;
        match code {
            Code::Ok => {
                tracing::debug!(method = %self.method, code = code_name(code), millis, "call finished")
            }
            Code::Internal | Code::Unknown | Code::DataLoss => {
                tracing::warn!(method = %self.method, code = code_name(code), millis, "call failed")
            }
            _ => {
                tracing::info!(method = %self.method, code = code_name(code), millis, "call refused")
            }
        }
    }
}

/// Reads the status from the trailers; a body dropped before its end was cancelled.
struct RecordingBody {
    inner: tonic::body::Body,
    recorder: Option<Recorder>,
}

impl http_body::Body for RecordingBody {
    type Data = bytes::Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref()
                    && let Some(recorder) = self.recorder.take()
                {
                    recorder.finish(header_status(trailers).unwrap_or(Code::Unknown));
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(recorder) = self.recorder.take() {
                    recorder.finish(Code::Internal);
                }
            }
            Poll::Ready(None) => {
                if let Some(recorder) = self.recorder.take() {
                    recorder.finish(Code::Ok);
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for RecordingBody {
    fn drop(&mut self) {
        if let Some(recorder) = self.recorder.take() {
            recorder.finish(Code::Cancelled);
        }
    }
}
