//! The one place where inputs are registered by type.

use std::sync::Arc;

use super::beats::BeatsConfig;
use super::file::FileConfig;
use super::kinesis::KinesisConfig;
use super::s3::S3InputConfig;
use super::stdin::StdinConfig;
use super::tcp::TcpConfig;
use super::udp::UdpConfig;
use super::InputConfig;
use crate::config::{from_node, DeError, Node};

/// Every input `type`, for error messages and docs.
pub const INPUTS: &[&str] = &["tcp", "beats", "udp", "stdin", "file", "s3", "kinesis"];

fn checked<T>(config: T, check: impl FnOnce(&T) -> Result<(), String>) -> Result<T, DeError> {
    check(&config).map_err(|message| DeError { message, loc: None })?;
    Ok(config)
}

/// Inputs that take `format` among their own options, because the format
/// changes how they read (an S3 export's key layout, a Kinesis record that
/// holds many log events). The pipeline applies only what
/// [`InputConfig::pipeline_format`] returns as a parse filter.
///
/// [`InputConfig::pipeline_format`]: super::InputConfig::pipeline_format
pub const READS_FORMAT: &[&str] = &["s3", "kinesis"];

/// Builds input `kind` from its options (without `type` and `format`).
pub fn build(kind: &str, options: &Node) -> Result<Arc<dyn InputConfig>, DeError> {
    Ok(match kind {
        "tcp" => Arc::new(checked(
            from_node::<TcpConfig>(options)?,
            TcpConfig::validate,
        )?),
        "beats" => Arc::new(checked(
            from_node::<BeatsConfig>(options)?,
            BeatsConfig::validate,
        )?),
        "udp" => Arc::new(checked(
            from_node::<UdpConfig>(options)?,
            UdpConfig::validate,
        )?),
        "stdin" => Arc::new(from_node::<StdinConfig>(options)?),
        "file" => Arc::new(checked(
            from_node::<FileConfig>(options)?,
            FileConfig::validate,
        )?),
        "s3" => Arc::new(checked(
            from_node::<S3InputConfig>(options)?,
            S3InputConfig::validate,
        )?),
        "kinesis" => Arc::new(checked(
            from_node::<KinesisConfig>(options)?,
            KinesisConfig::validate,
        )?),
        other => {
            return Err(DeError {
                message: format!(
                    "unknown input type `{other}`; expected one of: {}",
                    INPUTS.join(", ")
                ),
                loc: None,
            })
        }
    })
}
