//! Pipeline configuration: YAML files read with positions, `${VAR}`
//! interpolation, and errors that name file, line and column.

mod de;
pub mod yaml;

pub use de::{from_node, DeError, NodeDe};
pub use yaml::{Loc, Node, NodeKind};
