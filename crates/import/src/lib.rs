//! # pathproof-import
//!
//! Real configurations in, scenarios out: each importer reads the files a person
//! already has (here: per-host folders of `ip -j addr`, `ip -j route` and the rule
//! set) and writes a scenario (YAML) that every command then works on. The crate
//! does no I/O: the caller reads the files and hands their texts in ([`Input`]).
//! What an importer does not read is said in [`Imported::notes`], never dropped
//! silently; bad input is an [`ImportError`] naming the file, line and column.
//!
//! See docs/import.md for what each importer reads and how it maps.

pub mod hosts;

/// One file given to an importer: its path (as the user named it) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub path: String,
    pub text: String,
}

/// What an importer made: the scenario as YAML, and notes on what it did not read
/// or had to assume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    pub yaml: String,
    pub notes: Vec<String>,
}

/// Bad input: the file, the line and column (1-based; 0 when unknown), what was
/// expected, and a way out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportError {
    pub file: String,
    pub line: usize,
    pub column: usize,
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
