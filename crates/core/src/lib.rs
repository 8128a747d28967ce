//! The pathproof engine: the model of a network, the stages a packet meets on
//! its journey, and the analyses built on them.
//!
//! This crate does no I/O: callers hand it text and get values back. See
//! ARCHITECTURE.md at the repository root for the map.

pub mod load;
pub mod model;

pub use load::{load, load_with, referenced_files, Files, LoadError, Problem};
pub mod evidence;
pub mod journey;

pub use evidence::Trace;
pub use journey::{trace, Query, QueryError};
pub mod analysis;
pub mod examples;
pub mod lessons;
pub mod render;
pub mod synth;
pub mod telling;
pub mod tools;
