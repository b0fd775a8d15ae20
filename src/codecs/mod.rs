//! Codecs: splitting byte streams into frames and frames into events.

pub mod acker;
pub mod beats_event;
pub mod lumberjack;
pub mod window;
