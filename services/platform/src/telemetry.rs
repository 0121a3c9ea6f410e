//! Structured logs through `tracing`, and OpenTelemetry traces over OTLP.
//!
//! Logs are JSON lines by default. When `OTEL_EXPORTER_OTLP_ENDPOINT` is set,
//! spans are also exported over OTLP/gRPC; the tracer provider is kept in the
//! returned [`Telemetry`] and shut down at exit, or the last spans are lost.
//! The W3C trace-context propagator is installed either way, so trace ids
//! cross calls and events even when this process exports nothing.

use opentelemetry::{propagation::TextMapCompositePropagator, trace::TracerProvider as _};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::{
    Resource,
    propagation::{BaggagePropagator, TraceContextPropagator},
    trace::SdkTracerProvider,
};
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

/// Keeps the tracer provider alive; call [`Telemetry::shutdown`] before exit.
#[derive(Debug)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Flushes and stops span export.
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(err) = provider.shutdown()
        {
            eprintln!("telemetry: span exporter shutdown failed: {err}");
        }
    }
}

/// Installs the global subscriber and propagator. `RUST_LOG` (or `LOG_LEVEL`)
/// sets the filter; default `info`.
pub fn init(service_name: &'static str, json: bool, otlp_endpoint: Option<&str>) -> Result<Telemetry, String> {
    opentelemetry::global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ]));

    let filter =
        std::env::var("RUST_LOG").or_else(|_| std::env::var("LOG_LEVEL")).unwrap_or_else(|_| "info".to_owned());
    let filter = EnvFilter::try_new(&filter).map_err(|e| format!("RUST_LOG/LOG_LEVEL={filter:?} is malformed: {e}"))?;

    let fmt_layer = if json {
        tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_target(true)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer().boxed()
    };

    let provider = match otlp_endpoint {
        Some(endpoint) => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint)
                .build()
                .map_err(|e| format!("OTEL_EXPORTER_OTLP_ENDPOINT={endpoint:?}: {e}"))?;
            Some(
                SdkTracerProvider::builder()
                    .with_batch_exporter(exporter)
                    .with_resource(Resource::builder().with_service_name(service_name).build())
                    .build(),
            )
        }
        None => None,
    };
    let otel_layer = provider.as_ref().map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer(service_name)));

    tracing_subscriber::registry()
        .with(filter)
        .with(fmt_layer)
        .with(otel_layer)
        .try_init()
        .map_err(|e| format!("telemetry already initialised: {e}"))?;
    Ok(Telemetry { provider })
}
