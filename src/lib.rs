//! weir: a log ingestion and processing pipeline.
//!
//! Inputs read records into batches of [`event::Event`]s, workers run each
//! pipeline's filter chain on them, and outputs deliver them; acknowledgements
//! flow back so inputs that can replay only move on once everything is delivered.
//! See `DESIGN.md` in the shared folder and the README for the full picture.

pub mod aws;
pub mod codecs;
pub mod config;
pub mod event;
pub mod filters;
pub mod inputs;
pub mod outputs;
pub mod parsers;
pub mod pattern;
pub mod state;
pub mod telemetry;
pub mod topology;
