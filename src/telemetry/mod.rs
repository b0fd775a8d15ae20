//! weir's own telemetry: the metrics registry every component and every
//! log-derived metric records into, and its Prometheus / OpenMetrics exposition.
//!
//! Components record through the [`metrics`] facade (`metrics::counter!(..)`)
//! once [`install`] has made the [`Registry`] the global recorder; filters that
//! need typed control (metric filters, error-code counts, thresholds) use the
//! registry's direct API ([`Registry::counter`] and friends). The HTTP side
//! (`/metrics`, `/health`) and the Pushgateway client live next to these
//! modules; a Pushgateway body is simply [`Format::Text`].

pub mod api;
pub mod exposition;
pub mod internal;
pub mod registry;

pub use exposition::{negotiate, Encoder, Format};

/// The labels every component's own metrics carry: which pipeline, which
/// component in it.
pub fn component_labels(pipeline: &str, component: &str) -> [(&'static str, String); 2] {
    [
        ("pipeline", pipeline.to_owned()),
        ("component", component.to_owned()),
    ]
}
pub use registry::{global, install, MetricOptions, OptionsError, Registry, RegistryConfig};
