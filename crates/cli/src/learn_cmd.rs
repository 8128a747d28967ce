//! `pathproof learn`: the lessons in the terminal. Without an id, the list;
//! with one, the lesson at one layer, each predict-then-see question followed
//! by the engine's live answer and the trace summary.

use pathproof_core::lessons::{self, Lesson};

use crate::InputError;

fn load_all() -> Result<Vec<Lesson>, InputError> {
    lessons::all().map_err(|e| InputError(format!("error: {e}\n")))
}

/// The list: id, title, scenario.
pub fn list() -> Result<String, InputError> {
    let all = load_all()?;
    let w_id = all.iter().map(|l| l.id.len()).max().unwrap_or(0);
    let w_scn = all.iter().map(|l| l.scenario.len()).max().unwrap_or(0);
    let mut out = String::new();
    for l in &all {
        out.push_str(&format!(
            "{:<w_id$}  {:<w_scn$}  {}\n",
            l.id, l.scenario, l.title
        ));
    }
    out.push_str("\nrun `pathproof learn ID --layer 1..4` (1 school student, 2 university student, 3 engineer, 4 security architect)\n");
    Ok(out)
}

/// One lesson at one layer, with live traces.
pub fn show(id: &str, level: u8) -> Result<String, InputError> {
    let all = load_all()?;
    let Some(lesson) = all.iter().find(|l| l.id == id) else {
        let ids = all.iter().map(|l| l.id.as_str());
        let hint = pathproof_core::load::diagnostic::nearest(id, ids)
            .map(|s| format!("did you mean `{s}`?"))
            .unwrap_or_else(|| {
                let ids: Vec<&str> = all.iter().map(|l| l.id.as_str()).collect();
                format!("lessons: {}", ids.join(", "))
            });
        return Err(InputError(format!(
            "error: no lesson named `{id}`\n  help: {hint}\n"
        )));
    };
    let Some(layer) = lesson.layers.iter().find(|l| l.level == level) else {
        return Err(InputError(format!(
            "error: lesson `{id}` has no layer {level}\n  help: layers are 1 to 4\n"
        )));
    };
    let results = lessons::check(lesson);
    let mut o = String::new();
    o.push_str(&format!(
        "{} ({}), layer {}: {}\nscenario: {}\n\n",
        lesson.title, lesson.id, layer.level, layer.name, lesson.scenario
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
        o.push_str(&format!("   $ {}\n", p.command(&lesson.scenario)));
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
        o.push_str(&format!("{}\n", wrap(h, &format!("  {}. ", i + 1))));
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
