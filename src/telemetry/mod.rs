//! weir's own telemetry: metrics registry, exposition and the HTTP API.

pub mod api;
