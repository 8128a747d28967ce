//! Real configurations in, pathproof scenarios out.
//!
//! Each importer reads other people's files (Kubernetes manifests, the JSON
//! of `aws ec2 describe-*`, per-host folders of `ip -j addr`, `ip -j route`
//! and the rule set) and writes a scenario (YAML text) that the
//! engine loads like any other: the importers hold no network semantics of
//! their own, only the mapping from a foreign object to scenario
//! declarations. Every filter rule they write carries a `source:` with the
//! file and line it was translated from, so verdicts point at the user's own
//! files.
//!
//! The crate is pure: the caller reads the files and passes `(path, text)`
//! pairs; nothing here touches the file system.

pub mod aws;
pub mod hosts;
pub mod k8s;

mod addrs;
mod emit;

/// One input file: its path as the user named it (shown in notes, errors and
/// rule sources) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub path: String,
    pub text: String,
}

impl Input {
    pub fn new(path: impl Into<String>, text: impl Into<String>) -> Self {
        Input {
            path: path.into(),
            text: text.into(),
        }
    }
}

/// What an import produced: the scenario, and notes about what was read
/// with a simplification or not read at all (each ignored kind or field).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    pub yaml: String,
    pub notes: Vec<String>,
}

/// An input the importer cannot read, located in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportError {
    pub file: String,
    /// 1-based; 0 when the problem is not at a line (an empty folder).
    pub line: u32,
    pub column: u32,
    pub message: String,
    pub help: Option<String>,
}

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, self.column) {
            (0, _) => write!(f, "{}: {}", self.file, self.message)?,
            (l, 0) => write!(f, "{}:{l}: {}", self.file, self.message)?,
            (l, c) => write!(f, "{}:{l}:{c}: {}", self.file, self.message)?,
        }
        if let Some(h) = &self.help {
            write!(f, "\n  help: {h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ImportError {}
