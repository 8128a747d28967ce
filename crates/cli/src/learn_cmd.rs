//! `pathproof learn`: the lessons in the terminal. Without an id, the list;
//! with one, the lesson at one layer, each predict-then-see question followed
//! by the engine's live answer and the trace summary. `--lessons DIR` adds an
//! instructor's lessons (and the scenario files they name) from a directory;
//! `pathproof serve --lessons DIR` reads them the same way.

use std::path::Path;

use pathproof_core::lessons::{self, Lesson};
use pathproof_core::telling;

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
    // Simulate questions are answered by the simulator.
    let errs: Vec<_> = external
        .iter()
        .flat_map(pathproof_sim::lessons::validate)
        .collect();
    if !errs.is_empty() {
        let mut out = String::new();
        for e in &errs {
            out.push_str(&format!("error: {e}\n"));
        }
        out.push_str(&format!(
            "{} problem{} in the lessons of {dir}; see docs/lessons.md for the format\n",
            errs.len(),
            if errs.len() == 1 { "" } else { "s" }
        ));
        return Err(InputError(out));
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
    let (lesson, layer) = pick(all, query, level)?;
    let results = lessons::check(lesson);
    let mut o = head(lesson, layer);
    o.push_str("\nPredict, then see\n");
    for (i, p) in layer.predict.iter().enumerate() {
        o.push_str(&format!("\n{}. {}\n", i + 1, p.question));
        if level >= 2 {
            o.push_str(&format!("   $ {}\n", p.command(lesson.scenario_arg())));
        }
        let r = results
            .iter()
            .find(|r| r.level == layer.level && r.index == i);
        o.push_str(&reveal(lesson, level, p, r));
    }
    o.push_str(&simulated(lesson, layer));
    o.push_str(&tail(lesson, layer));
    Ok(o)
}

/// The lesson as a quiz: each predict-then-see question is asked, the answer
/// read from `input` (an outcome's number or name; an empty line or the end
/// of input gives no guess), then the engine's answer is shown with whether
/// the guess was right.
pub fn quiz(
    all: &[Lesson],
    query: &str,
    level: u8,
    input: &mut dyn std::io::BufRead,
    echo: bool,
    out: &mut dyn std::io::Write,
) -> Result<(), InputError> {
    let (lesson, layer) = pick(all, query, level)?;
    let results = lessons::check(lesson);
    let choices = lessons::prediction_choices(lesson);
    let io = |e: std::io::Error| InputError(format!("error: {e}\n"));
    write!(out, "{}", head(lesson, layer)).map_err(io)?;
    writeln!(
        out,
        "\nQuiz: {} question{}",
        layer.predict.len(),
        if layer.predict.len() == 1 { "" } else { "s" }
    )
    .map_err(io)?;
    let mut score = (0usize, 0usize);
    for (i, p) in layer.predict.iter().enumerate() {
        writeln!(out, "\n{}. {}", i + 1, p.question).map_err(io)?;
        for (n, k) in choices.iter().enumerate() {
            writeln!(
                out,
                "   {}) {:<12} {}",
                n + 1,
                lessons::outcome_key(*k),
                lessons::outcome_choice(*k)
            )
            .map_err(io)?;
        }
        let guess = loop {
            write!(out, "   your prediction (1-{}, or a name): ", choices.len()).map_err(io)?;
            out.flush().map_err(io)?;
            let mut line = String::new();
            if input.read_line(&mut line).map_err(io)? == 0 {
                writeln!(out).map_err(io)?;
                break None;
            }
            let line = line.trim();
            if echo {
                writeln!(out, "{line}").map_err(io)?;
            }
            if line.is_empty() {
                break None;
            }
            let by_number = line
                .parse::<usize>()
                .ok()
                .and_then(|n| n.checked_sub(1))
                .and_then(|n| choices.get(n).copied());
            match by_number.or_else(|| lessons::parse_outcome(line)) {
                Some(k) => break Some(k),
                None => writeln!(out, "   `{line}` is not one of the choices").map_err(io)?,
            }
        };
        let r = results
            .iter()
            .find(|r| r.level == layer.level && r.index == i);
        let actual = r.and_then(|r| r.actual);
        match (guess, actual) {
            (Some(g), Some(a)) => {
                score.1 += 1;
                let verdict = lessons::grade(g, a);
                if verdict == "right" {
                    score.0 += 1;
                }
                writeln!(
                    out,
                    "   {}",
                    match verdict {
                        "right" => format!("right: you said {}", lessons::outcome_key(g)),
                        "partly" => format!("half right: you said {}; it does not get through, but ends another way", lessons::outcome_key(g)),
                        _ => format!("not this time: you said {}", lessons::outcome_key(g)),
                    }
                )
                .map_err(io)?;
            }
            (None, _) => writeln!(out, "   no prediction").map_err(io)?,
            (_, None) => {}
        }
        if level >= 2 {
            writeln!(out, "   $ {}", p.command(lesson.scenario_arg())).map_err(io)?;
        }
        write!(out, "{}", reveal(lesson, level, p, r)).map_err(io)?;
    }
    writeln!(
        out,
        "\nscore: {} of {} predictions right",
        score.0,
        layer.predict.len()
    )
    .map_err(io)?;
    write!(out, "{}", simulated(lesson, layer)).map_err(io)?;
    write!(out, "{}", tail(lesson, layer)).map_err(io)?;
    Ok(())
}

fn pick<'a>(
    all: &'a [Lesson],
    query: &str,
    level: u8,
) -> Result<(&'a Lesson, &'a lessons::Layer), InputError> {
    let lesson = lessons::find(all, query)
        .map_err(|e| InputError(format!("error: {}\n  help: {}\n", e.message, e.help)))?;
    let Some(layer) = lesson.layers.iter().find(|l| l.level == level) else {
        return Err(InputError(format!(
            "error: lesson `{}` has no layer {level}\n  help: layers are 1 to 4\n",
            lesson.id
        )));
    };
    Ok((lesson, layer))
}

/// Everything before the questions: the sections, the body and the diagram.
fn head(lesson: &Lesson, layer: &lessons::Layer) -> String {
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
        ("Security lens", &layer.security_lens),
        ("Trust question", &layer.trust_question),
        ("Failure mode", &layer.failure_mode),
        ("Attacker's goal", &layer.attacker_goal),
        ("Mental model", &layer.mental_model),
        ("Why this matters in real systems", &layer.why_it_matters),
        ("How engineers get this wrong", &layer.engineers_get_wrong),
    ] {
        o.push_str(&format!("{label}\n{}\n\n", wrap(text, "  ")));
    }
    o.push_str("Common misconceptions\n");
    for m in &layer.misconceptions {
        o.push_str(&format!("{}\n", bullet(m)));
    }
    o.push('\n');
    o.push_str(layer.body.trim_end());
    o.push_str("\n\nDiagram (Mermaid; the web page draws it)\n```mermaid\n");
    o.push_str(layer.diagram.trim_end());
    o.push_str("\n```\n\n");
    o.push_str(&format!(
        "A real incident: {}\n{}\n  source: {}\n",
        layer.incident.name,
        wrap(&layer.incident.text, "  "),
        layer.incident.source
    ));
    o
}

/// The engine's answer to a question, told at the lesson's layer (the
/// engine's own sentences from layer 3), and the lesson's explanation.
fn reveal(
    lesson: &Lesson,
    level: u8,
    p: &lessons::Prediction,
    r: Option<&lessons::PredictionResult>,
) -> String {
    let mut o = String::new();
    match r.and_then(|r| r.trace.as_ref()) {
        Some(t) => {
            let scn = lesson.load_scenario(p.variant.as_deref()).ok();
            let told = telling::tell(scn.as_ref(), t, level);
            let at = t
                .outcome
                .at
                .as_deref()
                .map(|a| format!(" at {a}"))
                .unwrap_or_default();
            o.push_str(&format!(
                "   engine: {}{at}: {}
   the client sees: {}
",
                t.outcome.kind.name().to_uppercase(),
                told.outcome.headline,
                told.outcome.client_sees
            ));
            let ok = r.is_some_and(|r| r.ok);
            o.push_str(&format!(
                "   the lesson's answer: {}{}
",
                lessons::outcome_key(p.answer),
                if ok { "" } else { " (the engine disagrees)" }
            ));
            o.push_str(&format!("{}\n", wrap(&p.explain, "   ")));
            if !told.outcome.believes.is_empty() || !told.outcome.trusts.is_empty() {
                o.push_str("   what the service can believe:\n");
                for c in &told.outcome.believes {
                    o.push_str(&format!("{}\n", wrap(&c.text, "     + ")));
                }
                for c in &told.outcome.trusts {
                    o.push_str(&format!("{}\n", wrap(&c.text, "     ? ")));
                }
            }
        }
        None => {
            let err = r.and_then(|r| r.error.clone()).unwrap_or_default();
            o.push_str(&format!("   engine: no trace: {err}\n"));
        }
    }
    o
}

/// The layer's predict-then-simulate questions with the simulator's answers
/// (empty when the layer has none).
fn simulated(lesson: &Lesson, layer: &lessons::Layer) -> String {
    let mut o = String::new();
    if layer.simulate.is_empty() {
        return o;
    }
    let sims = pathproof_sim::lessons::check_levels(lesson, &[layer.level]);
    o.push_str("\nPredict, then simulate\n");
    for (i, q) in layer.simulate.iter().enumerate() {
        o.push_str(&format!("\n{}. {}\n", i + 1, q.question));
        o.push_str(&format!("   $ {}\n", q.command(lesson.scenario_arg())));
        let r = sims.iter().find(|r| r.level == layer.level && r.index == i);
        match r {
            Some(r) if r.actual.is_some() => {
                o.push_str(&format!(
                    "   simulator: {}: {}\n",
                    r.actual.clone().unwrap_or_default(),
                    r.detail
                ));
                o.push_str(&format!(
                    "   the lesson's answer: {}{}\n",
                    q.answer,
                    if r.ok {
                        ""
                    } else {
                        " (the simulator disagrees)"
                    }
                ));
            }
            _ => {
                let err = r.and_then(|r| r.error.clone()).unwrap_or_default();
                o.push_str(&format!("   simulator: no answer: {err}\n"));
            }
        }
        o.push_str(&format!("{}\n", wrap(&q.explain, "   ")));
    }
    o
}

/// Everything after the questions: the hands-on steps (a step that runs a
/// journey is traced live), the regression check and the on-call signal.
fn tail(lesson: &Lesson, layer: &lessons::Layer) -> String {
    let mut o = String::from("\nHands on\n");
    for (i, h) in layer.hands_on.iter().enumerate() {
        o.push_str(&format!("{}\n", wrap(&h.text, &format!("  {}. ", i + 1))));
        if let Some(run) = &h.run {
            let variant = run.variant.as_deref();
            let journey = format!(
                "{} -> {}{}",
                run.from,
                run.to,
                variant.map(|v| format!(" with {v}")).unwrap_or_default()
            );
            // Told in the layer's words, as the page tells it.
            let result = lesson.load_scenario(variant).and_then(|scn| {
                pathproof_core::trace(&scn, &run.query())
                    .map(|t| {
                        let told = telling::tell(Some(&scn), &t, layer.level);
                        (t, told)
                    })
                    .map_err(|e| e.to_string())
            });
            match result {
                Ok((t, told)) => o.push_str(&format!(
                    "     run {journey}: {}{}: {}\n",
                    t.outcome.kind.name().to_uppercase(),
                    t.outcome
                        .at
                        .as_deref()
                        .map(|a| format!(" at {a}"))
                        .unwrap_or_default(),
                    told.outcome.headline
                )),
                Err(e) => o.push_str(&format!("     run {journey}: {e}\n")),
            }
        }
    }
    o.push_str(&format!(
        "\nRegression check (an `expect:` line of {}: it fails under break and holds under harden)\n  {}\n",
        lesson.scenario_file, layer.regression
    ));
    o.push_str(&format!(
        "\nOn-call signal\n{}\n",
        wrap(&layer.signal, "  ")
    ));
    o
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
