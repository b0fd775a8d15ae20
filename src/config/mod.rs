//! Pipeline configuration: YAML files read with positions, `${VAR}`
//! interpolation, and errors that name file, line and column.

mod de;
pub mod duration;
pub mod error;
pub mod interpolate;
pub mod pipeline;
pub mod size;
pub mod tests;
pub mod yaml;

pub use de::{from_node, DeError, NodeDe};
pub use error::{ConfigError, ConfigErrors};
pub use pipeline::{load_file, load_str, PipelineSpec, Settings};
pub use yaml::{Loc, Node, NodeKind};
