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
    pathproof_core::load(&file, &text, variant).map_err(|e| InputError(diagnostics::load_error(&e)))
}
