//! W3C trace context carried in gRPC metadata (HTTP/2 headers).
//!
//! Incoming: [`extract`] reads `traceparent`/`tracestate` into an OpenTelemetry
//! context that becomes the parent of the request's span. Outgoing: the
//! [`PropagateTraceContext`] interceptor writes the current span's context into
//! the metadata of every call a client makes.

use opentelemetry::propagation::{Extractor, Injector};
use tracing_opentelemetry::OpenTelemetrySpanExt;

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

struct HeaderInjector<'a>(&'a mut http::HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) =
            (http::header::HeaderName::from_bytes(key.as_bytes()), http::HeaderValue::from_str(&value))
        {
            self.0.insert(name, value);
        }
    }
}

/// The remote parent context found in `headers`, if any.
pub fn extract(headers: &http::HeaderMap) -> opentelemetry::Context {
    opentelemetry::global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(headers)))
}

/// Writes the context of `span` into `headers`.
pub fn inject(span: &tracing::Span, headers: &mut http::HeaderMap) {
    let cx = span.context();
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&cx, &mut HeaderInjector(headers)));
}

/// The trace id of the current span, or "" when it is not traced.
pub fn current_trace_id() -> String {
    use opentelemetry::trace::TraceContextExt;
    let cx = tracing::Span::current().context();
    let span = cx.span();
    let context = span.span_context();
    if context.is_valid() { context.trace_id().to_string() } else { String::new() }
}

/// The traceparent of `span`, or "" when it is not traced.
pub fn traceparent_of(span: &tracing::Span) -> String {
    let mut headers = http::HeaderMap::new();
    inject(span, &mut headers);
    headers.get("traceparent").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

/// The thread of one unit of work (a gRPC call, the application of an
/// event): its root span, which links to the origins it follows, and the
/// origin its events carry.
struct Thread {
    root: tracing::Span,
    origin: std::cell::RefCell<String>,
}

tokio::task_local! {
    static THREAD: Thread;
}

/// Runs `work` as one thread rooted at `root`, which starts from `origin`
/// (an event's origin, or "" for a call).
pub async fn threaded<F: std::future::Future>(root: tracing::Span, origin: String, work: F) -> F::Output {
    if !origin.is_empty() {
        link(&root, &origin);
    }
    THREAD.scope(Thread { root, origin: std::cell::RefCell::new(origin) }, work).await
}

/// The origin the current thread's events carry: its application's first
/// step, or "".
pub fn origin() -> String {
    THREAD.try_with(|t| t.origin.borrow().clone()).unwrap_or_default()
}

/// Whether the current thread's root span is traced (this process exports
/// spans): only then is there anything to link.
pub fn traced() -> bool {
    use opentelemetry::trace::TraceContextExt;
    THREAD.try_with(|t| t.root.context().span().span_context().is_valid()).unwrap_or(false)
}

/// The origin a thread would give an application seen for the first time:
/// the origin it started from (an event's), or else its own root span (the
/// call that makes the application).
pub fn origin_or_root() -> String {
    THREAD
        .try_with(|t| {
            let origin = t.origin.borrow().clone();
            if origin.is_empty() { traceparent_of(&t.root) } else { origin }
        })
        .unwrap_or_default()
}

/// From now on the current thread follows `origin`: its root span links to
/// it (once), and the events it appends carry it.
pub fn follow(origin: &str) {
    let _ = THREAD.try_with(|t| {
        if origin.is_empty() || *t.origin.borrow() == origin {
            return;
        }
        link(&t.root, origin);
        *t.origin.borrow_mut() = origin.to_owned();
    });
}

/// Links `span` to the span `traceparent` names, unless it is in its own trace.
fn link(span: &tracing::Span, traceparent: &str) {
    use opentelemetry::trace::TraceContextExt;
    let Ok(value) = http::HeaderValue::from_str(traceparent) else { return };
    let mut headers = http::HeaderMap::new();
    headers.insert("traceparent", value);
    let target = extract(&headers).span().span_context().clone();
    let own = span.context().span().span_context().trace_id();
    if target.is_valid() && target.trace_id() != own {
        span.add_link(target);
    }
}

/// A client interceptor that sends the current span's trace context on every call.
#[derive(Debug, Clone, Copy, Default)]
pub struct PropagateTraceContext;

impl tonic::service::Interceptor for PropagateTraceContext {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let mut headers = std::mem::take(request.metadata_mut()).into_headers();
        inject(&tracing::Span::current(), &mut headers);
        *request.metadata_mut() = tonic::metadata::MetadataMap::from_headers(headers);
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[test]
    fn an_incoming_trace_continues_in_the_outgoing_metadata_with_a_new_span() {
        opentelemetry::global::set_text_map_propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new());
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let subscriber =
            tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, || {
            let mut incoming = http::HeaderMap::new();
            incoming.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
            let span = tracing::info_span!("call");
            span.set_parent(extract(&incoming)).unwrap();

            let mut outgoing = http::HeaderMap::new();
            inject(&span, &mut outgoing);
            let traceparent = outgoing.get("traceparent").unwrap().to_str().unwrap();
            assert!(traceparent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"), "{traceparent}");
            assert!(!traceparent.contains("00f067aa0ba902b7"), "the outgoing call needs this span's own id");
        });
    }
}
