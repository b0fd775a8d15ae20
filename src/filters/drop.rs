//! `drop`: removes events (all of them, or those its `when:` matches).

use super::{EventFilter, Verdict};
use crate::event::Event;

/// Options of `drop` (only the common `when`).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropConfig {}

#[derive(Debug)]
pub struct Drop;

impl EventFilter for Drop {
    fn apply(&self, _event: &mut Event) -> Verdict {
        Verdict::Drop
    }
}
