//! Analyses over every journey a scenario allows, built on the same stages as
//! the tracer: the symbolic engine, and the questions asked of it (`reach`,
//! `check`, `diff`, `audit`, `foothold`).

pub mod audit;
pub mod budget;
pub mod check;
pub mod classes;
pub mod consulted;
pub mod diff;
pub mod fasthash;
pub mod foothold;
pub mod incremental;
pub mod reach;
pub mod reach_table;
pub mod space;
pub mod symbolic;

/// Distinct names in their order, up to twelve; past that, ten and how many
/// more. The text views' one way of shortening a list (JSON lists all).
pub(crate) fn name_list<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    // First sight order; a hash set: an audit's entry can name a source
    // for each of its findings' involved sources, thousands of times over.
    let mut seen = fasthash::FastSet::default();
    let v: Vec<&str> = names.into_iter().filter(|n| seen.insert(*n)).collect();
    if v.len() <= 12 {
        v.join(", ")
    } else {
        format!("{} and {} more", v[..10].join(", "), v.len() - 10)
    }
}
