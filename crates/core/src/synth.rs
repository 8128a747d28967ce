//! Being written: the seeded scenario generator.
