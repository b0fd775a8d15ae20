//! The one place where parser formats are registered by name.

use std::sync::Arc;

use super::cloudwatch::{CloudwatchExportParser, CloudwatchSubscriptionParser};
use super::json::JsonParser;
use super::s3_access::S3AccessParser;
use super::vpc_flow::VpcFlowParser;
use super::syslog::SyslogParser;
use super::Parser;
use crate::config::{from_node, DeError, Node};

/// Every `format` name `parse` accepts, for error messages and docs.
pub const FORMATS: &[&str] = &[
    "json",
    "s3_access",
    "vpc_flow",
    "syslog",
    "cloudwatch_subscription",
    "cloudwatch_export",
];

/// Builds the parser for `format` from its options (the `parse` filter's keys
/// other than the common ones: `format`, `field`, `target`, `on_error`, `when`).
pub fn build(format: &str, options: &Node) -> Result<Arc<dyn Parser>, DeError> {
    Ok(match format {
        "json" => Arc::new(JsonParser::new(from_node(options)?)),
        "s3_access" => Arc::new(S3AccessParser::new(from_node(options)?)),
        "vpc_flow" => Arc::new(VpcFlowParser::new(from_node(options)?)),
        "syslog" => Arc::new(SyslogParser::new(from_node(options)?)),
        "cloudwatch_subscription" => {
            Arc::new(CloudwatchSubscriptionParser::new(from_node(options)?))
        }
        "cloudwatch_export" => Arc::new(CloudwatchExportParser::new(from_node(options)?)),
        other => {
            return Err(DeError {
                message: format!(
                    "unknown format `{other}`; expected one of: {}",
                    FORMATS.join(", ")
                ),
                loc: None,
            })
        }
    })
}
