//! The one place where outputs are registered by type.

use std::sync::Arc;

use super::blackhole::BlackholeConfig;
use super::elasticsearch;
use super::file::FileOutputConfig;
use super::prometheus::PrometheusConfig;
use super::s3;
use super::stdout::StdoutConfig;
use super::OutputConfig;
use crate::config::{from_node, DeError, Node};

/// Every output `type`, for error messages and docs.
pub const OUTPUTS: &[&str] = &[
    "stdout",
    "file",
    "blackhole",
    "elasticsearch",
    "s3",
    "prometheus",
];

/// Builds output `kind` from its options (without `type`, `when`, `when_full`
/// and `buffer_batches`).
pub fn build(kind: &str, options: &Node) -> Result<Arc<dyn OutputConfig>, DeError> {
    Ok(match kind {
        "stdout" => Arc::new(from_node::<StdoutConfig>(options)?),
        "file" => Arc::new(from_node::<FileOutputConfig>(options)?),
        "blackhole" => Arc::new(from_node::<BlackholeConfig>(options)?),
        "elasticsearch" => Arc::new(elasticsearch::load(options)?),
        "s3" => Arc::new(s3::load(options)?),
        "prometheus" => Arc::new(PrometheusConfig::from_options(options)?),
        other => {
            return Err(DeError {
                message: format!(
                    "unknown output type `{other}`; expected one of: {}",
                    OUTPUTS.join(", ")
                ),
                loc: None,
            })
        }
    })
}
