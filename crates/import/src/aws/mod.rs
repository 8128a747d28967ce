//! AWS `describe-*` JSON as a scenario (`pathproof import aws`).

use crate::{ImportError, Imported, Input};

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub expect: Vec<String>,
}

pub fn import(inputs: &[Input], _options: &Options) -> Result<Imported, ImportError> {
    Err(ImportError {
        file: inputs.first().map(|i| i.path.clone()).unwrap_or_default(),
        line: 0,
        column: 0,
        message: "not yet".into(),
        help: None,
    })
}
