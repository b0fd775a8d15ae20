//! The one place where filters are registered by name.

use std::sync::Arc;

use super::drop::{Drop, DropConfig};
use super::parse::{Parse, ParseCommon, COMMON_KEYS};
use super::remove::Remove;
use super::rename::Rename;
use super::set::Set;
use super::{BuildContext, Filter, PerEvent};
use crate::config::{from_node, DeError, Node};
use crate::parsers;

/// Every filter name, for error messages and docs.
pub const FILTERS: &[&str] = &["parse", "set", "rename", "remove", "drop"];

fn custom(message: String) -> DeError {
    DeError { message, loc: None }
}

/// Builds filter `name` from its options (without the common `when`).
pub fn build(name: &str, options: &Node, cx: &BuildContext) -> Result<Arc<dyn Filter>, DeError> {
    Ok(match name {
        "parse" => build_parse(options, cx)?,
        "set" => Arc::new(PerEvent::new(
            Set::new(from_node(options)?).map_err(|e| custom(e).at_node(options))?,
            cx,
        )),
        "rename" => Arc::new(PerEvent::new(Rename::new(from_node(options)?), cx)),
        "remove" => Arc::new(PerEvent::new(Remove::new(from_node(options)?), cx)),
        "drop" => {
            let _: DropConfig = from_node(options)?;
            Arc::new(PerEvent::new(Drop, cx))
        }
        other => {
            return Err(custom(format!(
                "unknown filter `{other}`; expected one of: {}",
                FILTERS.join(", ")
            )))
        }
    })
}

/// `parse` (and an input's `format:` shorthand): common options, then the
/// format's own options from the remaining keys.
pub fn build_parse(options: &Node, cx: &BuildContext) -> Result<Arc<dyn Filter>, DeError> {
    let (common_entries, rest) = options.split_keys(COMMON_KEYS);
    let common_node = Node {
        kind: crate::config::NodeKind::Map(
            common_entries
                .into_iter()
                .map(|(k, v)| (Node::scalar(k, v.loc), v))
                .collect(),
        ),
        loc: options.loc,
    };
    let common: ParseCommon = from_node(&common_node)?;
    let format_loc = options.get("format").map_or(options.loc, |n| n.loc);
    let parser = parsers::registry::build(&common.format, &rest).map_err(|mut e| {
        if e.loc.is_none() {
            e.loc = Some(format_loc);
        }
        e
    })?;
    Ok(Arc::new(Parse::new(common, parser, cx)))
}

trait AtNode {
    fn at_node(self, node: &Node) -> DeError;
}

impl AtNode for DeError {
    fn at_node(mut self, node: &Node) -> DeError {
        self.loc.get_or_insert(node.loc);
        self
    }
}
