//! The one place where inputs are registered by type.

use std::sync::Arc;

use super::file::FileConfig;
use super::stdin::StdinConfig;
use super::tcp::TcpConfig;
use super::udp::UdpConfig;
use super::InputConfig;
use crate::config::{from_node, DeError, Node};

/// Every input `type`, for error messages and docs.
pub const INPUTS: &[&str] = &["tcp", "udp", "stdin", "file"];

fn checked<T>(config: T, check: impl FnOnce(&T) -> Result<(), String>) -> Result<T, DeError> {
    check(&config).map_err(|message| DeError { message, loc: None })?;
    Ok(config)
}

/// Builds input `kind` from its options (without `type` and `format`).
pub fn build(kind: &str, options: &Node) -> Result<Arc<dyn InputConfig>, DeError> {
    Ok(match kind {
        "tcp" => Arc::new(checked(
            from_node::<TcpConfig>(options)?,
            TcpConfig::validate,
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
