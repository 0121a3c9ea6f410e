//! The tower layer every gRPC call passes through before its handler:
//! trace context, authentication, authorisation and metrics.
//!
//! Health and reflection are open to everyone (probes and tooling carry no
//! token). Every other call must carry a valid bearer token whose roles the
//! service's [`Policy`] allows on the method; the [`Caller`], narrowed to the
//! roles the method allows, is then put into the request's extensions for the
//! handler. A path that is neither open nor in the policy is refused here
//! (fail closed), and metrics and logs name methods only by the policy's own
//! names: a client's bytes never become a label.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Instant,
};

use rustls_pki_types::{CertificateDer, ServerName};
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
    /// The peers that read this service's feed (`FEED_READERS`): a client
    /// certificate valid for one of these names is that peer, in the
    /// `service` role; and the `service` role is theirs alone. Empty: any
    /// `service` token, and no certificate identities.
    pub(crate) feed_readers: Arc<[String]>,
    /// The service's own deadline of every call (`GRPC_REQUEST_TIMEOUT_MS`).
    pub(crate) request_timeout: std::time::Duration,
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

/// The methods anyone may call without a token: health and reflection.
const OPEN_METHODS: [&str; 4] = [
    "grpc.health.v1.Health/Check",
    "grpc.health.v1.Health/Watch",
    "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
];

/// The metrics label of every path that is no method of the service.
pub const UNKNOWN_METHOD: &str = "unknown";

/// What a request's path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// Health or reflection: open.
    Open(&'static str),
    /// One of the service's methods, with the roles allowed on it.
    Method(&'static str, &'static [Role]),
    /// A method of the service that its policy forgot: nobody may call it.
    Unlisted,
    /// Anything else.
    Unknown,
}

impl CallGuard {
    fn target(&self, path: &str) -> Target {
        let name = path.strip_prefix('/').unwrap_or(path);
        if let Some(open) = OPEN_METHODS.iter().find(|m| **m == name) {
            return Target::Open(open);
        }
        if let Some((method, roles)) = self.policy.method(path) {
            return Target::Method(method, roles);
        }
        match name.split_once('/') {
            Some((service, _)) if service == self.policy.service => Target::Unlisted,
            _ => Target::Unknown,
        }
    }

    /// The metrics and log name of `target`: always one of a fixed set.
    fn label(&self, target: Target) -> &'static str {
        match target {
            Target::Open(name) => name,
            Target::Method(method, _) => interned(self.policy.service, method),
            Target::Unlisted | Target::Unknown => UNKNOWN_METHOD,
        }
    }

    /// Who calls `target`, from the `authorization` header and, over mTLS,
    /// the client certificate's chain (`peer`).
    async fn authorise(
        &self,
        header: Option<&str>,
        peer: Option<&[CertificateDer<'static>]>,
        target: Target,
    ) -> Result<Option<Caller>, Status> {
        let allowed = match target {
            Target::Open(_) => return Ok(None),
            Target::Method(_, allowed) => allowed,
            Target::Unknown => {
                return Err(with_reason(Code::Unimplemented, "METHOD_UNKNOWN", "no such method", &[]));
            }
            Target::Unlisted => &[],
        };
        let has_certificate = peer.is_some_and(|certs| !certs.is_empty());
        let caller = match (header, self.feed_reader(peer)) {
            // A peer service proves itself with its certificate alone.
            (None, Some(reader)) => {
                Caller { subject: reader, roles: [Role::Service].into(), organizations: Vec::new(), expires_at: 0 }
            }
            (header, _) => self.verifier.verify_header(header).await.map_err(|err| {
                let (code, reason) = match err {
                    AuthError::Missing => (Code::Unauthenticated, "TOKEN_MISSING"),
                    AuthError::Malformed => (Code::Unauthenticated, "TOKEN_MALFORMED"),
                    AuthError::Expired => (Code::Unauthenticated, "TOKEN_EXPIRED"),
                    AuthError::NotYetValid => (Code::Unauthenticated, "TOKEN_NOT_YET_VALID"),
                    AuthError::Invalid(_) => (Code::Unauthenticated, "TOKEN_INVALID"),
                    AuthError::KeysUnavailable => (Code::Unavailable, "TOKEN_KEYS_UNAVAILABLE"),
                };
                with_reason(code, reason, err.to_string(), &[])
            })?,
        };
        if target == Target::Unlisted {
            return Err(with_reason(
                Code::PermissionDenied,
                "METHOD_NOT_IN_POLICY",
                "no role may call this method",
                &[],
            ));
        }
        // The caller acts only in the roles this method allows: a borrower
        // who also holds a role the method does not take stays a borrower.
        let mut caller = caller.acting_for(allowed);
        // With readers named, the service role is theirs alone: a service
        // token or certificate of another peer reads nothing here.
        if !self.feed_readers.is_empty() && caller.has(Role::Service) && !self.feed_readers.contains(&caller.subject) {
            caller.roles.remove(&Role::Service);
            if caller.roles.is_empty() {
                return Err(with_reason(
                    Code::PermissionDenied,
                    "NOT_A_FEED_READER",
                    "this service's feed is read only by the peers in its FEED_READERS",
                    &[],
                ));
            }
        }
        if caller.roles.is_empty() {
            let roles = allowed.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",");
            return Err(with_reason(
                Code::PermissionDenied,
                "ROLE_NOT_ALLOWED",
                format!("this method needs one of the roles: {roles}"),
                &[("allowed_roles", roles.clone())],
            ));
        }
        if self.system_roles_need_certificate
            && (caller.has(Role::CoreBanking) || caller.has(Role::Service))
            && !has_certificate
        {
            return Err(with_reason(
                Code::PermissionDenied,
                "CLIENT_CERTIFICATE_REQUIRED",
                "system callers must present a client certificate",
                &[],
            ));
        }
        Ok(Some(caller))
    }

    /// The feed reader a client certificate names: the first of
    /// `FEED_READERS` the certificate is valid for (its DNS names). The
    /// chain was verified against `TLS_CLIENT_CA_FILE` in the handshake.
    fn feed_reader(&self, peer: Option<&[CertificateDer<'static>]>) -> Option<String> {
        let leaf = peer?.first()?;
        let cert = webpki::EndEntityCert::try_from(leaf).ok()?;
        self.feed_readers
            .iter()
            .find(|reader| {
                ServerName::try_from(reader.as_str())
                    .is_ok_and(|name| cert.verify_is_valid_for_subject_name(&name).is_ok())
            })
            .cloned()
    }
}

/// `service/method`, made once per method in the life of the process (the
/// methods are the policies' own, a fixed set): no allocation per call.
fn interned(service: &'static str, method: &'static str) -> &'static str {
    type Labels = std::collections::HashMap<(&'static str, &'static str), &'static str>;
    static LABELS: std::sync::OnceLock<std::sync::Mutex<Labels>> = std::sync::OnceLock::new();
    let mut labels = LABELS.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    labels.entry((service, method)).or_insert_with(|| Box::leak(format!("{service}/{method}").into_boxed_str()))
}

/// Logs a path that is no method, shortened, at most once a minute (with how
/// many were not logged): a flood of random paths must not flood the log.
fn log_unknown_path(path: &str) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    static SUPPRESSED: AtomicU64 = AtomicU64::new(0);
    let now = crate::auth::now_secs();
    let last = LAST.load(Ordering::Relaxed);
    if now >= last + 60 && LAST.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
        let shown: String = path.chars().take(80).filter(|c| !c.is_control()).collect();
        let suppressed = SUPPRESSED.swap(0, Ordering::Relaxed);
        tracing::info!(path = %shown, path_bytes = path.len(), suppressed, "call to an unknown method refused");
    } else {
        SUPPRESSED.fetch_add(1, Ordering::Relaxed);
    }
}

/// Counts a call in flight for as long as it lives, also when a handler panics.
struct InFlight(Metrics);

impl InFlight {
    fn start(metrics: &Metrics) -> InFlight {
        metrics.in_flight().inc();
        InFlight(metrics.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight().dec();
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
        let target = guard.target(request.uri().path());
        if target == Target::Unknown {
            log_unknown_path(request.uri().path());
        }
        let method = guard.label(target);
        let span = tracing::info_span!("grpc.call", otel.kind = "server", rpc.method = %method, rpc.grpc.status_code = tracing::field::Empty);
        let _ = span.set_parent(crate::trace_context::extract(request.headers()));
        let started = Instant::now();
        let header =
            request.headers().get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let peer = request.extensions().get::<TlsConnectInfo<TcpConnectInfo>>().and_then(|info| info.peer_certs());

        let root = span.clone();
        Box::pin(
            crate::trace_context::threaded(root, String::new(), async move {
                let in_flight = InFlight::start(&guard.metrics);
                let mut expires = None;
                let response = match guard.authorise(header.as_deref(), peer.as_deref().map(|c| &c[..]), target).await {
                    Ok(None) => inner.call(request).await,
                    Ok(Some(caller)) => {
                        expires = (caller.expires_at > 0)
                            .then(|| caller.expires_at.saturating_add(guard.verifier.leeway_secs()));
                        request.extensions_mut().insert(caller);
                        let deadline = client_deadline(request.headers())
                            .filter(|timeout| *timeout < guard.request_timeout)
                            .map(|timeout| tokio::time::Instant::now() + timeout);
                        // Held until the handler has answered (for a stream: until it starts).
                        let _permit = guard.limiter.clone().acquire_owned().await.expect("the limiter is never closed");
                        match deadline {
                            // The database work of the call ends with its deadline (unit::run).
                            Some(deadline) => crate::db::DEADLINE.scope(deadline, inner.call(request)).await,
                            None => inner.call(request).await,
                        }
                    }
                    Err(status) => Ok(status.into_http()),
                };
                let response = response?;
                let recorder =
                    Recorder { metrics: guard.metrics, method, started, span: tracing::Span::current(), in_flight };
                let early = header_status(response.headers());
                let (parts, body) = response.into_parts();
                let body = match early {
                    // Trailers-only response: the call is over.
                    Some(code) => {
                        recorder.finish(code);
                        body
                    }
                    None => tonic::body::Body::new(RecordingBody {
                        inner: body,
                        recorder: Some(recorder),
                        expires_at: expires,
                        expiry: None,
                        expired: false,
                    }),
                };
                Ok(http::Response::from_parts(parts, body))
            })
            .instrument(span),
        )
    }
}

fn header_status(headers: &http::HeaderMap) -> Option<Code> {
    headers.get("grpc-status").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<i32>().ok()).map(Code::from_i32)
}

/// The client's deadline from its `grpc-timeout` header (`100m`, `5S`, …).
fn client_deadline(headers: &http::HeaderMap) -> Option<std::time::Duration> {
    let value = headers.get("grpc-timeout")?.to_str().ok()?;
    let (amount, unit) = value.split_at(value.len().checked_sub(1)?);
    let amount: u64 = amount.parse().ok()?;
    Some(match unit {
        "H" => std::time::Duration::from_secs(amount.saturating_mul(3600)),
        "M" => std::time::Duration::from_secs(amount.saturating_mul(60)),
        "S" => std::time::Duration::from_secs(amount),
        "m" => std::time::Duration::from_millis(amount),
        "u" => std::time::Duration::from_micros(amount),
        "n" => std::time::Duration::from_nanos(amount),
        _ => return None,
    })
}

/// How long from now until `epoch_secs`.
fn until_epoch(epoch_secs: u64) -> std::time::Duration {
    std::time::Duration::from_secs(epoch_secs.saturating_sub(crate::auth::now_secs()))
}

struct Recorder {
    metrics: Metrics,
    method: &'static str,
    started: Instant,
    span: tracing::Span,
    in_flight: InFlight,
}

impl Recorder {
    fn finish(self, code: Code) {
        let seconds = self.started.elapsed().as_secs_f64();
        drop(self.in_flight);
        self.metrics.record_call(self.method, code, seconds);
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

/// Reads the status from the trailers; a body dropped before its end was
/// cancelled. A response still running when the caller's token expires (a
/// feed stream) ends there with UNAUTHENTICATED `TOKEN_EXPIRED`: the client
/// reconnects with a fresh token, and nobody reads on with a token that has
/// lapsed or been withdrawn.
struct RecordingBody {
    inner: tonic::body::Body,
    recorder: Option<Recorder>,
    /// When the caller's token lapses, seconds since the epoch.
    expires_at: Option<u64>,
    /// The timer of `expires_at`, set once the response first waits (a
    /// stream): a unary answer, ready at once, never needs one.
    expiry: Option<Pin<Box<tokio::time::Sleep>>>,
    expired: bool,
}

fn expired_trailers() -> http::HeaderMap {
    let status = with_reason(
        Code::Unauthenticated,
        "TOKEN_EXPIRED",
        "the token that opened this stream expired; reconnect with a fresh one",
        &[],
    );
    let mut trailers = http::HeaderMap::new();
    if status.add_header(&mut trailers).is_err() {
        trailers.insert("grpc-status", http::HeaderValue::from(Code::Unauthenticated as i32));
    }
    trailers
}

impl http_body::Body for RecordingBody {
    type Data = bytes::Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        if self.expired {
            return Poll::Ready(None);
        }
        let expires_at = self.expires_at;
        let lapsed = match (self.expiry.as_mut(), expires_at) {
            (Some(expiry), _) => expiry.as_mut().poll(cx).is_ready(),
            (None, Some(at)) => crate::auth::now_secs() >= at,
            (None, None) => false,
        };
        if lapsed {
            self.expired = true;
            if let Some(recorder) = self.recorder.take() {
                recorder.finish(Code::Unauthenticated);
            }
            return Poll::Ready(Some(Ok(http_body::Frame::trailers(expired_trailers()))));
        }
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
            Poll::Pending => {
                if self.expiry.is_none()
                    && let Some(at) = self.expires_at
                {
                    let mut expiry = Box::pin(tokio::time::sleep(until_epoch(at)));
                    if expiry.as_mut().poll(cx).is_ready() {
                        // Lapsed already: poll again at once to end it.
                        cx.waker().wake_by_ref();
                    }
                    self.expiry = Some(expiry);
                }
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.expired || self.inner.is_end_stream()
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
