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

/// `v` as indented JSON and a newline, written to `w` as it is made (the
/// writers of `diff`'s and `audit`'s JSON and of `audit`'s SARIF).
pub(crate) fn write_pretty<T: serde::Serialize + ?Sized>(
    v: &T,
    mut w: impl std::io::Write,
) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut w, v).map_err(std::io::Error::from)?;
    w.write_all(b"\n")
}

/// What a writer of these answers writes, as a string.
pub(crate) fn written_text(write: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) -> String {
    let mut out = Vec::new();
    write(&mut out).expect("a vector takes every write");
    String::from_utf8(out).expect("JSON is UTF-8")
}

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
