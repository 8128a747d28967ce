//! Analyses over every journey a scenario allows, built on the same stages as
//! the tracer: the symbolic engine, and the questions asked of it (`reach`,
//! `check`, `diff`, `audit`, `foothold`).

pub mod audit;
pub mod check;
pub mod diff;
pub mod fasthash;
pub mod foothold;
pub mod reach;
pub mod reach_table;
pub mod space;
pub mod symbolic;
