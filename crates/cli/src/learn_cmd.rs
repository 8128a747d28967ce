//! `pathproof learn`: the lessons in the terminal. Without an id, the list;
//! with one, the lesson at one layer, each predict-then-see question followed
//! by the engine's live answer and the trace summary. `--lessons DIR` adds an
//! instructor's lessons (and the scenario files they name) from a directory;
//! `pathproof serve --lessons DIR` reads them the same way.

use std::path::Path;

use pathproof_core::lessons::{self, Lesson};

use crate::InputError;

/// How deep below DIR scenario files are looked for.
const MAX_DEPTH: usize = 4;

/// The built-in lessons, then those of `dir` (in file-name order). A lesson
/// of `dir` that does not pass the checks every lesson passes is an error
/// with its file and line.
pub fn load(dir: Option<&str>) -> Result<Vec<Lesson>, InputError> {
    let mut all = lessons::all().map_err(|e| InputError(format!("error: {e}\n")))?;
    let Some(dir) = dir else { return Ok(all) };
    let root = Path::new(dir);
    if !root.is_dir() {
        return Err(InputError(format!(
            "error: --lessons {dir}: not a directory\n  help: give the directory that holds the lesson files (NN-ID.yaml)\n"
        )));
    }
    let mut files = Vec::new();
    read_yaml_files(root, 0, &mut files)?;
    files.sort();
    let external = lessons::from_files(dir, &files).map_err(|errs| {
        let mut out = String::new();
        for e in &errs {
            out.push_str(&format!("error: {e}\n"));
        }
        out.push_str(&format!(
            "{} problem{} in the lessons of {dir}; see docs/lessons.md for the format\n",
            errs.len(),
            if errs.len() == 1 { "" } else { "s" }
        ));
        InputError(out)
    })?;
    if external.is_empty() {
        return Err(InputError(format!(
            "error: --lessons {dir}: no lesson file (*.yaml) in the directory\n"
        )));
    }
    all.extend(external);
    Ok(all)
}

/// Every `.yaml` and `.yml` file under `dir`, as (path, text).
fn read_yaml_files(
    dir: &Path,
    depth: usize,
    out: &mut Vec<(String, String)>,
) -> Result<(), InputError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| InputError(format!("error: cannot read {}: {e}\n", dir.display())))?;
    for entry in entries {
        let entry = entry
            .map_err(|e| InputError(format!("error: cannot read {}: {e}\n", dir.display())))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            if depth < MAX_DEPTH {
                read_yaml_files(&path, depth + 1, out)?;
            }
            continue;
        }
        if !(name.ends_with(".yaml") || name.ends_with(".yml")) {
            continue;
        }
        let shown = path.to_string_lossy().into_owned();
        let bytes = std::fs::read(&path)
            .map_err(|e| InputError(format!("error: cannot read {shown}: {e}\n")))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            InputError(format!(
                "error: {shown} is not UTF-8 text (first bad byte at offset {})\n",
                e.utf8_error().valid_up_to()
            ))
        })?;
        out.push((shown, text));
    }
    Ok(())
}

/// The list: id, scenario, title (and where a lesson that is not built in comes from).
pub fn list(all: &[Lesson]) -> String {
    let w_id = all.iter().map(|l| l.id.len()).max().unwrap_or(0);
    let w_scn = all.iter().map(|l| l.scenario.len()).max().unwrap_or(0);
    let mut out = String::new();
    for l in all {
        let from = if l.builtin {
            String::new()
        } else {
            format!("  [{}]", l.file)
        };
        out.push_str(&format!(
            "{:<w_id$}  {:<w_scn$}  {}{from}\n",
            l.id, l.scenario, l.title
        ));
    }
    out.push_str("\nrun `pathproof learn ID --layer 1..4` (1 school student, 2 university student, 3 engineer, 4 security architect)\n");
    out
}

/// One lesson at one layer, with live traces.
/// `query` is an id, an alias, or an unambiguous start of either (`ssrf`).
pub fn show(all: &[Lesson], query: &str, level: u8) -> Result<String, InputError> {
    let lesson = lessons::find(all, query)
        .map_err(|e| InputError(format!("error: {}\n  help: {}\n", e.message, e.help)))?;
    let id = &lesson.id;
    let Some(layer) = lesson.layers.iter().find(|l| l.level == level) else {
        return Err(InputError(format!(
            "error: lesson `{id}` has no layer {level}\n  help: layers are 1 to 4\n"
        )));
    };
    let results = lessons::check(lesson);
    let mut o = String::new();
    o.push_str(&format!(
        "{} ({}), layer {}: {}\nscenario: {}\n\n",
        lesson.title,
        lesson.id,
        layer.level,
        layer.name,
        lesson.scenario_arg()
    ));
    o.push_str(&format!("{}\n\n", wrap(&lesson.summary, "")));
    for (label, text) in [
        ("Key takeaway", &layer.takeaway),
        ("Attacker's goal", &layer.attacker_goal),
        ("Trust question", &layer.trust_question),
        ("Failure mode", &layer.failure_mode),
        ("Mental model", &layer.mental_model),
    ] {
        o.push_str(&format!("{label}\n{}\n\n", wrap(text, "  ")));
    }
    o.push_str("Common misconceptions\n");
    for m in &layer.misconceptions {
        o.push_str(&format!("{}\n", bullet(m)));
    }
    o.push('\n');
    o.push_str(layer.body.trim_end());
    o.push_str("\n\nPredict, then see\n");
    for (i, p) in layer.predict.iter().enumerate() {
        o.push_str(&format!("\n{}. {}\n", i + 1, p.question));
        o.push_str(&format!("   $ {}\n", p.command(lesson.scenario_arg())));
        let r = results
            .iter()
            .find(|r| r.level == layer.level && r.index == i);
        match r.and_then(|r| r.trace.as_ref()) {
            Some(t) => {
                let at = t
                    .outcome
                    .at
                    .as_deref()
                    .map(|a| format!(" at {a}"))
                    .unwrap_or_default();
                o.push_str(&format!(
                    "   engine: {}{at}: {}\n   the client sees: {}\n",
                    t.outcome.kind.name().to_uppercase(),
                    t.outcome.text,
                    t.outcome.client_sees
                ));
                let ok = r.is_some_and(|r| r.ok);
                o.push_str(&format!(
                    "   the lesson's answer: {}{}\n",
                    lessons::outcome_key(p.answer),
                    if ok { "" } else { " (the engine disagrees)" }
                ));
                o.push_str(&format!("{}\n", wrap(&p.explain, "   ")));
                if !t.summary.believes.is_empty() || !t.summary.trusts.is_empty() {
                    o.push_str("   what the service can believe:\n");
                    for c in &t.summary.believes {
                        o.push_str(&format!("     + {}\n", c.text));
                    }
                    for c in &t.summary.trusts {
                        o.push_str(&format!("     ? {}\n", c.text));
                    }
                }
            }
            None => {
                let err = r.and_then(|r| r.error.clone()).unwrap_or_default();
                o.push_str(&format!("   engine: no trace: {err}\n"));
            }
        }
    }
    o.push_str("\nHands on\n");
    for (i, h) in layer.hands_on.iter().enumerate() {
        o.push_str(&format!("{}\n", wrap(&h.text, &format!("  {}. ", i + 1))));
    }
    Ok(o)
}

fn bullet(text: &str) -> String {
    wrap(text, "  - ")
}

/// Joins the words of `text` into lines of at most 80 columns; the first line
/// starts with `first`, the others with as many spaces.
fn wrap(text: &str, first: &str) -> String {
    let indent = " ".repeat(first.chars().count());
    let mut out = String::new();
    let mut line = first.to_string();
    let mut empty = true;
    for word in text.split_whitespace() {
        if !empty && line.chars().count() + 1 + word.chars().count() > 80 {
            out.push_str(line.trim_end());
            out.push('\n');
            line = indent.clone();
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    out.push_str(line.trim_end());
    out
}
