//! The optional SCENARIO argument: a file on disk or a built-in name.

use pathproof_core::{examples, model::Scenario};

use crate::{diagnostics, InputError};

pub fn load_text(arg: Option<&str>) -> Result<(String, String), InputError> {
    let name = arg.unwrap_or(examples::DEFAULT);
    let path = std::path::Path::new(name);
    if path.exists() {
        let text = std::fs::read(path)
            .map_err(|e| InputError(format!("error: cannot read {name}: {e}\n")))?;
        let text = String::from_utf8(text).map_err(|e| {
            InputError(format!(
                "error: {name} is not UTF-8 text (first bad byte at offset {})\n",
                e.utf8_error().valid_up_to()
            ))
        })?;
        return Ok((name.to_string(), text));
    }
    if let Some(e) = examples::get(name) {
        return Ok((e.file(), e.text.to_string()));
    }
    let names: Vec<&str> = examples::ALL.iter().map(|e| e.name).collect();
    let hint = pathproof_core::load::diagnostic::nearest(name, names.iter().copied())
        .map(|s| format!("did you mean the built-in `{s}`?"))
        .unwrap_or_else(|| format!("built-in scenarios: {}", names.join(", ")));
    Err(InputError(format!(
        "error: no file or built-in scenario named `{name}`\n  help: {hint}\n"
    )))
}

pub fn load(arg: Option<&str>, variant: Option<&str>) -> Result<Scenario, InputError> {
    let (file, text) = load_text(arg)?;
    let files = read_files(&file, &text)?;
    pathproof_core::load_with(&file, &text, variant, &files)
        .map_err(|e| InputError(diagnostics::load_error(&e)))
}

/// The files a scenario names (`ruleset:`), read relative to the scenario's folder.
/// A built-in scenario names none.
pub fn read_files(file: &str, text: &str) -> Result<pathproof_core::Files, InputError> {
    let mut files = pathproof_core::Files::new();
    let dir = std::path::Path::new(file)
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_default();
    for name in pathproof_core::referenced_files(text) {
        let path = dir.join(&name);
        match std::fs::read(&path) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(t) => {
                    files.insert(name, t);
                }
                Err(e) => {
                    return Err(InputError(format!(
                        "error: {} (named by {file}'s `ruleset:`) is not UTF-8 text (first bad byte at offset {})\n",
                        path.display(),
                        e.utf8_error().valid_up_to()
                    )))
                }
            },
            // Not read: the loader names the `ruleset:` line that wants it.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(InputError(format!(
                    "error: cannot read {} (named by {file}'s `ruleset:`): {e}\n",
                    path.display()
                )))
            }
        }
    }
    Ok(files)
}
