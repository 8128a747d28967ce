//! The pathproof engine.
