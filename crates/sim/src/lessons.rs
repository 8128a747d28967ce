//! The lessons' simulate questions, answered by the simulator. The lesson
//! format is the core's (`pathproof_core::lessons`, docs/lessons.md); the
//! core checks that a question asks about a flow the scenario has, and this
//! module runs the simulation and checks the answer.

use std::collections::BTreeMap;

use serde::Serialize;

use pathproof_core::lessons::{
    self, success_band, Lesson, LessonError, SimMeasure, SimPrediction, SUCCESS_BANDS,
};

use crate::report::Run;
use crate::{simulate, Options};

/// What the simulator said about one simulate question.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SimResult {
    pub level: u8,
    /// The position of the question among the layer's simulate questions.
    pub index: usize,
    pub question: String,
    pub variant: Option<String>,
    pub expected: String,
    /// The simulator's answer: a band or an outcome key.
    pub actual: Option<String>,
    /// The answer's place (an outcome's `at`).
    pub actual_at: Option<String>,
    /// What the answer rests on, in words (`412 of 415 served (99.3 %)`).
    pub detail: String,
    pub ok: bool,
    pub error: Option<String>,
}

/// The measure of one question on a run.
pub fn measure(run: &Run, q: &SimPrediction) -> Result<(String, Option<String>, String), String> {
    let Some(flow) = run.flows.iter().find(|f| f.name == q.flow) else {
        return Err(format!("the run has no flow `{}`", q.flow));
    };
    let (from, to) = q.window.unwrap_or((0, u32::MAX));
    let to = to.min(run.seconds);
    let seconds = &flow.per_second[(from as usize).min(flow.per_second.len())..to as usize];
    match q.measure {
        SimMeasure::Success => {
            let ok: u64 = seconds.iter().map(|s| s.ok).sum();
            let failed: u64 = seconds.iter().map(|s| s.failed).sum();
            if ok + failed == 0 {
                return Err(format!(
                    "nothing of flow `{}` finished between {from} s and {to} s",
                    q.flow
                ));
            }
            let share = ok as f64 / (ok + failed) as f64;
            let band = success_band(share);
            let words = SUCCESS_BANDS
                .iter()
                .find(|b| b.0 == band)
                .map(|b| b.2)
                .unwrap_or("");
            Ok((
                band.to_string(),
                None,
                format!(
                    "{ok} of {} succeeded ({:.1} %, {band}: {words}) between {from} s and {to} s",
                    ok + failed,
                    share * 100.0
                ),
            ))
        }
        SimMeasure::Outcome => {
            // The most frequent outcome in the window; with `at`, among
            // those at that place.
            let mut totals: Vec<(usize, u64)> = flow
                .outcomes
                .iter()
                .enumerate()
                .map(|(i, _)| {
                    (
                        i,
                        seconds
                            .iter()
                            .map(|s| s.outcomes.get(i).copied().unwrap_or(0))
                            .sum(),
                    )
                })
                .collect();
            totals.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            let all: u64 = totals.iter().map(|t| t.1).sum();
            let Some(&(i, n)) = totals.first().filter(|t| t.1 > 0) else {
                return Err(format!(
                    "nothing of flow `{}` ended between {from} s and {to} s",
                    q.flow
                ));
            };
            let o = &flow.outcomes[i];
            Ok((
                o.key.clone(),
                Some(o.at.clone()),
                format!(
                    "{n} of {all} ({:.1} %): {} at {}",
                    n as f64 * 100.0 / all as f64,
                    o.what,
                    o.at
                ),
            ))
        }
    }
}

/// Runs every simulate question of a lesson. Results are in layer order,
/// then question order.
pub fn check(lesson: &Lesson) -> Vec<SimResult> {
    check_levels(lesson, &[1, 2, 3, 4])
}

/// The simulate questions of some layers only (`pathproof learn` shows one).
pub fn check_levels(lesson: &Lesson, levels: &[u8]) -> Vec<SimResult> {
    let mut out = Vec::new();
    let mut runs: BTreeMap<(Option<String>, Option<u32>), Result<Run, String>> = BTreeMap::new();
    for layer in lesson.layers.iter().filter(|l| levels.contains(&l.level)) {
        for (index, q) in layer.simulate.iter().enumerate() {
            let run = runs
                .entry((q.variant.clone(), q.seconds))
                .or_insert_with(|| {
                    let scn = lesson.load_scenario(q.variant.as_deref())?;
                    simulate(
                        &scn,
                        &Options {
                            seconds: q.seconds,
                            seed: None,
                        },
                    )
                    .map_err(|e| e.to_string())
                });
            let mut r = SimResult {
                level: layer.level,
                index,
                question: q.question.clone(),
                variant: q.variant.clone(),
                expected: q.answer.clone(),
                actual: None,
                actual_at: None,
                detail: String::new(),
                ok: false,
                error: None,
            };
            match run
                .as_ref()
                .map_err(Clone::clone)
                .and_then(|run| measure(run, q))
            {
                Ok((answer, at, detail)) => {
                    r.ok = answer == q.answer
                        && q.at.as_ref().is_none_or(|want| Some(want) == at.as_ref());
                    r.actual = Some(answer);
                    r.actual_at = at;
                    r.detail = detail;
                }
                Err(e) => r.error = Some(e),
            }
            out.push(r);
        }
    }
    out
}

/// Every simulate answer the simulator does not give, as lesson errors
/// (file and line of the question), with the command to see it.
pub fn validate(lesson: &Lesson) -> Vec<LessonError> {
    let mut errs = Vec::new();
    for r in check(lesson).into_iter().filter(|r| !r.ok) {
        let q = &lesson
            .layers
            .iter()
            .find(|l| l.level == r.level)
            .expect("results follow layers")
            .simulate[r.index];
        let message = match (&r.actual, &r.error) {
            (Some(actual), _) => format!(
                "layer {} simulate question {}: the lesson's answer is `{}`{}, but the simulator computes `{actual}`{} ({}); run `{}`",
                r.level,
                r.index + 1,
                r.expected,
                q.at.as_ref().map(|a| format!(" at {a}")).unwrap_or_default(),
                r.actual_at.as_ref().map(|a| format!(" at {a}")).unwrap_or_default(),
                r.detail,
                q.command(lesson.scenario_arg())
            ),
            (None, e) => format!(
                "layer {} simulate question {} cannot be simulated: {}",
                r.level,
                r.index + 1,
                e.clone().unwrap_or_default()
            ),
        };
        errs.push(LessonError {
            file: lesson.file.clone(),
            line: q.line,
            column: 1,
            message,
        });
    }
    errs
}

/// The built-in lessons' simulate questions, checked (for tests and `learn`).
pub fn builtin_errors() -> Vec<LessonError> {
    match lessons::all() {
        Ok(all) => all.iter().flat_map(validate).collect(),
        Err(e) => vec![e],
    }
}
