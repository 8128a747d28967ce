//! Lessons: one journey told four ways, from a school student's picture to a
//! security architect's threat model. Each lesson is a YAML file bound to a
//! scenario; its predict-then-see questions are trace queries whose answers
//! the engine checks live.
//!
//! The built-in lessons (`scenarios/lessons/`) are embedded below, so the
//! binary needs no file on disk. An instructor adds lessons without touching
//! Rust: `pathproof learn --lessons DIR` and `pathproof serve --lessons DIR`
//! read a directory of lesson files, and the scenario files they name, and hand
//! the texts to [`from_files`]. This module never reads a file itself.
//!
//! Every lesson, built in or not, passes the same checks ([`validate`]): all
//! four layers with every section, each layer told in its own words, a
//! scenario with `break` and `harden` variants and a question under each,
//! every predict-then-see answer what the engine computes, and every line of
//! the scenario the text cites holding the declaration it quotes. The format
//! is described in docs/lessons.md.

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Component, Path};

use crate::evidence::{Fact, OutcomeKind, Stage, Trace};
use crate::journey::Query;
use crate::model::{Proto, Scenario};

/// The embedded lesson files: (path relative to the repository root, text).
pub const FILES: &[(&str, &str)] = &[
    (
        "scenarios/lessons/01-checkpoint.yaml",
        include_str!("../../../scenarios/lessons/01-checkpoint.yaml"),
    ),
    (
        "scenarios/lessons/02-stateful.yaml",
        include_str!("../../../scenarios/lessons/02-stateful.yaml"),
    ),
    (
        "scenarios/lessons/03-nat-egress.yaml",
        include_str!("../../../scenarios/lessons/03-nat-egress.yaml"),
    ),
    (
        "scenarios/lessons/04-split-dns.yaml",
        include_str!("../../../scenarios/lessons/04-split-dns.yaml"),
    ),
    (
        "scenarios/lessons/05-segmentation.yaml",
        include_str!("../../../scenarios/lessons/05-segmentation.yaml"),
    ),
    (
        "scenarios/lessons/06-ssrf-metadata.yaml",
        include_str!("../../../scenarios/lessons/06-ssrf-metadata.yaml"),
    ),
    (
        "scenarios/lessons/07-tls-verify.yaml",
        include_str!("../../../scenarios/lessons/07-tls-verify.yaml"),
    ),
    (
        "scenarios/lessons/08-mtls.yaml",
        include_str!("../../../scenarios/lessons/08-mtls.yaml"),
    ),
    (
        "scenarios/lessons/09-ipv6-bypass.yaml",
        include_str!("../../../scenarios/lessons/09-ipv6-bypass.yaml"),
    ),
    (
        "scenarios/lessons/10-proxy-xff.yaml",
        include_str!("../../../scenarios/lessons/10-proxy-xff.yaml"),
    ),
    (
        "scenarios/lessons/11-routing.yaml",
        include_str!("../../../scenarios/lessons/11-routing.yaml"),
    ),
    (
        "scenarios/lessons/12-tls13.yaml",
        include_str!("../../../scenarios/lessons/12-tls13.yaml"),
    ),
    (
        "scenarios/lessons/13-tls-mitm.yaml",
        include_str!("../../../scenarios/lessons/13-tls-mitm.yaml"),
    ),
    (
        "scenarios/lessons/14-dns-spoofing.yaml",
        include_str!("../../../scenarios/lessons/14-dns-spoofing.yaml"),
    ),
    (
        "scenarios/lessons/15-neighbour-spoofing.yaml",
        include_str!("../../../scenarios/lessons/15-neighbour-spoofing.yaml"),
    ),
    (
        "scenarios/lessons/16-scanner.yaml",
        include_str!("../../../scenarios/lessons/16-scanner.yaml"),
    ),
    (
        "scenarios/lessons/17-pod-egress.yaml",
        include_str!("../../../scenarios/lessons/17-pod-egress.yaml"),
    ),
    (
        "scenarios/lessons/18-cloud-acl.yaml",
        include_str!("../../../scenarios/lessons/18-cloud-acl.yaml"),
    ),
    (
        "scenarios/lessons/19-handshake.yaml",
        include_str!("../../../scenarios/lessons/19-handshake.yaml"),
    ),
    (
        "scenarios/lessons/20-syn-cookies.yaml",
        include_str!("../../../scenarios/lessons/20-syn-cookies.yaml"),
    ),
    (
        "scenarios/lessons/21-rate-limits.yaml",
        include_str!("../../../scenarios/lessons/21-rate-limits.yaml"),
    ),
    (
        "scenarios/lessons/22-ddos-layers.yaml",
        include_str!("../../../scenarios/lessons/22-ddos-layers.yaml"),
    ),
];
/// The names of the four layers, by level.
pub const LAYER_NAMES: [&str; 4] = [
    "School student",
    "University student",
    "Engineer",
    "Security architect",
];

/// The shortest text a section may have: a full sentence, not a placeholder.
pub const MIN_TEXT: usize = 20;

/// One lesson: a topic, the scenario it runs on, and four layers.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Lesson {
    pub id: String,
    pub title: String,
    /// The scenario as the file names it: a built-in scenario's name
    /// (`mini-lab`), or a scenario file beside the lesson (`my-lab.yaml`).
    pub scenario: String,
    /// The file name traces and rule lines of the scenario are reported with:
    /// `mini-lab.yaml` for a built-in, otherwise the path of the scenario file
    /// (the lesson file's directory joined with `scenario`).
    pub scenario_file: String,
    /// Whether `scenario` is a built-in scenario (`examples::get`).
    pub builtin_scenario: bool,
    /// Other names `pathproof learn` accepts for the lesson (`ssrf`, `xff`).
    pub aliases: Vec<String>,
    pub summary: String,
    /// Layers in the order of the file (levels 1 to 4).
    pub layers: Vec<Layer>,
    /// The file the lesson came from (for a built-in, relative to the
    /// repository root).
    pub file: String,
    /// Whether this is one of the built-in lessons embedded in the binary.
    pub builtin: bool,
    /// The line of the file where `id:` is written.
    #[serde(skip)]
    pub id_line: u32,
    /// The line of the file where `scenario:` is written.
    #[serde(skip)]
    pub scenario_line: u32,
    /// The text of the scenario file, for a lesson whose scenario is not
    /// built in ([`from_files`] or [`Lesson::attach_scenario`] set it).
    #[serde(skip)]
    pub scenario_text: Option<String>,
}

/// The lesson at one depth.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Layer {
    /// 1 school student, 2 university student, 3 engineer, 4 security architect.
    pub level: u8,
    pub name: String,
    pub takeaway: String,
    pub attacker_goal: String,
    pub trust_question: String,
    pub failure_mode: String,
    pub mental_model: String,
    /// How an attacker looks at the topic, at this depth.
    pub security_lens: String,
    /// Why the topic matters in real systems.
    pub why_it_matters: String,
    /// How engineers get this wrong.
    pub engineers_get_wrong: String,
    pub misconceptions: Vec<String>,
    /// A named real incident, with a public source.
    pub incident: Incident,
    /// A Mermaid flowchart or sequence diagram (the page draws it, the
    /// terminal prints it as text).
    pub diagram: String,
    /// Markdown.
    pub body: String,
    pub predict: Vec<Prediction>,
    /// Predict-then-see questions about traffic over time, answered by the
    /// simulator (`pathproof simulate`; checked by `pathproof_sim::lessons`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub simulate: Vec<SimPrediction>,
    pub hands_on: Vec<Step>,
    /// An `expect:` line of the scenario that keeps the unsafe path blocked:
    /// it fails under `break` and holds under `harden` (checked).
    pub regression: String,
    /// One signal an on-call engineer would watch.
    pub signal: String,
    /// The line of the file where this layer starts.
    pub line: u32,
    /// The line of the file where `regression:` is written.
    #[serde(skip)]
    pub regression_line: u32,
}

/// A real incident the lesson points to.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Incident {
    /// `Capital One, 2019`.
    pub name: String,
    /// A public source: an `https://` link.
    pub source: String,
    /// What happened, in this layer's words, and what it has to do with the lesson.
    pub text: String,
}

/// A hands-on step: what to do, and optionally the journey it runs (the
/// page shows a "Run this" button for it; `learn` traces it).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Step {
    pub text: String,
    pub run: Option<Run>,
}

/// A journey a hands-on step runs: the fields of a predict-then-see question
/// without an answer.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Run {
    pub variant: Option<String>,
    pub from: String,
    pub to: String,
    pub proto: Proto,
    pub via: Option<String>,
    pub ipv6: bool,
    pub sport: Option<u16>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub established: bool,
}

impl Run {
    /// The trace question this step asks.
    pub fn query(&self) -> Query {
        let mut q = Query::new(&self.from, &self.to);
        q.proto = self.proto;
        q.via = self.via.clone();
        q.ipv6 = self.ipv6;
        q.sport = self.sport;
        q.established = self.established;
        q
    }
}

/// What a simulate question measures.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SimMeasure {
    /// The share of the flow's attempts that succeed, as a band
    /// (`all`, `most`, `some`, `none`).
    Success,
    /// What happens to most of the flow's attempts or packets: the key of
    /// its most frequent outcome (`syn_cookie`, `link_saturated`, ...).
    Outcome,
}

/// The bands a `success` answer names: (word, lowest share, in words).
pub const SUCCESS_BANDS: [(&str, f64, &str); 4] = [
    ("all", 0.99, "99 % or more"),
    ("most", 0.5, "from 50 % to under 99 %"),
    ("some", 0.01, "from 1 % to under 50 %"),
    ("none", 0.0, "under 1 %"),
];

/// The band a share of successes falls in.
pub fn success_band(share: f64) -> &'static str {
    SUCCESS_BANDS
        .iter()
        .find(|(_, lo, _)| share >= *lo)
        .map(|b| b.0)
        .unwrap_or("none")
}

/// The outcome keys a flow's attempts and packets end with (docs/semantics.md,
/// "Traffic over time").
pub const SIM_OUTCOMES: [&str; 15] = [
    "served",
    "limited",
    "link_saturated",
    "conntrack_full",
    "network",
    "syn_queued",
    "syn_cookie",
    "syn_queue_full",
    "syn_reserved",
    "accept_queue_full",
    "synack_lost",
    "expired",
    "waiting",
    "delivered",
    "timed_out",
];

/// A predict-then-see question about a simulation.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SimPrediction {
    pub question: String,
    pub variant: Option<String>,
    /// The flow of the scenario's `traffic:` section it is about.
    pub flow: String,
    /// How long to simulate (default: the section's `seconds`).
    pub seconds: Option<u32>,
    /// The seconds [from, to) the answer is about (default: the whole run).
    pub window: Option<(u32, u32)>,
    pub measure: SimMeasure,
    /// A band for `success`, an outcome key for `outcome`.
    pub answer: String,
    /// For `outcome`: where it must happen (a listener, a link, a limiter, a device).
    pub at: Option<String>,
    pub explain: String,
    pub line: u32,
}

impl SimPrediction {
    /// The same question as a `pathproof simulate` command line.
    pub fn command(&self, scenario: &str) -> String {
        let mut c = format!("pathproof simulate {scenario}");
        if let Some(v) = &self.variant {
            c.push_str(&format!(" --variant {v}"));
        }
        if let Some(s) = self.seconds {
            c.push_str(&format!(" --seconds {s}"));
        }
        c
    }
}

/// A predict-then-see question: a trace query and the outcome the lesson says it has.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Prediction {
    pub question: String,
    /// The scenario variant to apply (`break`, `harden`), or none for the scenario as written.
    pub variant: Option<String>,
    pub from: String,
    pub to: String,
    pub proto: Proto,
    pub via: Option<String>,
    pub ipv6: bool,
    /// The client's source port (default: the engine's fixed ephemeral port).
    pub sport: Option<u16>,
    /// A packet of a connection opened earlier (`trace --established`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub established: bool,
    /// The outcome the engine must compute.
    pub answer: OutcomeKind,
    /// Optionally, the device where the journey must end (the outcome's `at`).
    pub at: Option<String>,
    /// Why, in this layer's words.
    pub explain: String,
    /// The line of the file where this question is written.
    pub line: u32,
}

impl Prediction {
    /// The trace question this prediction asks.
    pub fn query(&self) -> Query {
        let mut q = Query::new(&self.from, &self.to);
        q.proto = self.proto;
        q.via = self.via.clone();
        q.ipv6 = self.ipv6;
        q.sport = self.sport;
        q.established = self.established;
        q
    }

    /// The same question as a `pathproof trace` command line; `scenario` is
    /// what the command names (a built-in's name or a file).
    pub fn command(&self, scenario: &str) -> String {
        let mut c = format!(
            "pathproof trace {scenario} --from {} --to {}",
            self.from, self.to
        );
        if self.proto != Proto::Tcp {
            c.push_str(&format!(" --proto {}", self.proto.name()));
        }
        if let Some(v) = &self.via {
            c.push_str(&format!(" --via {v}"));
        }
        if self.ipv6 {
            c.push_str(" -6");
        }
        if let Some(p) = self.sport {
            c.push_str(&format!(" --sport {p}"));
        }
        if self.established {
            c.push_str(" --established");
        }
        if let Some(v) = &self.variant {
            c.push_str(&format!(" --variant {v}"));
        }
        c
    }
}

impl Lesson {
    /// The scenario argument of a `pathproof trace` command for this lesson:
    /// the built-in's name, or the scenario file's path.
    pub fn scenario_arg(&self) -> &str {
        if self.builtin_scenario {
            &self.scenario
        } else {
            &self.scenario_file
        }
    }

    /// Gives a lesson whose scenario is a file the text of that file.
    pub fn attach_scenario(&mut self, text: impl Into<String>) {
        self.scenario_text = Some(text.into());
    }

    /// The scenario's file name and text: the embedded text of a built-in, or
    /// the text attached to the lesson.
    pub fn scenario_source(&self) -> Result<(String, &str), String> {
        if self.builtin_scenario {
            return crate::examples::get(&self.scenario)
                .map(|e| (e.file(), e.text))
                .ok_or_else(|| format!("`{}` is not a built-in scenario", self.scenario));
        }
        match &self.scenario_text {
            Some(t) => Ok((self.scenario_file.clone(), t.as_str())),
            None => Err(format!(
                "the scenario file {} has not been read",
                self.scenario_file
            )),
        }
    }

    /// The lesson's scenario with `variant` applied.
    pub fn load_scenario(&self, variant: Option<&str>) -> Result<Scenario, String> {
        let (file, text) = self.scenario_source()?;
        crate::load(&file, text, variant).map_err(|e| e.to_string())
    }
}

/// A lesson file that cannot be used: where, and what is wrong.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LessonError {
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub message: String,
}

impl fmt::Display for LessonError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

impl std::error::Error for LessonError {}

/// What the engine said about one prediction.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PredictionResult {
    pub level: u8,
    /// The position of the question within its layer (0-based).
    pub index: usize,
    pub question: String,
    pub variant: Option<String>,
    pub expected: OutcomeKind,
    /// The outcome the engine computed; none if the scenario or the query failed.
    pub actual: Option<OutcomeKind>,
    /// The device the prediction says the journey ends at, if it says.
    pub expected_at: Option<String>,
    /// The device where the engine's journey ended.
    pub actual_at: Option<String>,
    /// `actual == expected`, and the devices agree when `expected_at` is given.
    pub ok: bool,
    /// Why there is no outcome (a load or query error).
    pub error: Option<String>,
    /// The whole trace, for views that show the journey.
    pub trace: Option<Trace>,
}

// ---------------------------------------------------------------------------
// The file format, as serde reads it.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLesson {
    id: Spanned<String>,
    title: String,
    scenario: Spanned<String>,
    #[serde(default)]
    aliases: Vec<String>,
    summary: String,
    layers: Vec<Spanned<RawLayer>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLayer {
    level: Spanned<u8>,
    name: String,
    takeaway: String,
    attacker_goal: String,
    trust_question: String,
    failure_mode: String,
    mental_model: String,
    security_lens: String,
    why_it_matters: String,
    engineers_get_wrong: String,
    misconceptions: Vec<String>,
    incident: RawIncident,
    diagram: String,
    body: String,
    predict: Vec<Spanned<RawPrediction>>,
    #[serde(default)]
    simulate: Vec<Spanned<RawSimPrediction>>,
    hands_on: Vec<RawStep>,
    regression: Spanned<String>,
    signal: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIncident {
    name: String,
    source: String,
    text: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawStep {
    Text(String),
    Run(RawRunStep),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRunStep {
    step: String,
    run: RawRun,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRun {
    #[serde(default)]
    variant: Option<String>,
    from: String,
    to: String,
    #[serde(default)]
    proto: Option<String>,
    #[serde(default)]
    via: Option<String>,
    #[serde(default)]
    ipv6: bool,
    #[serde(default)]
    sport: Option<u16>,
    #[serde(default)]
    established: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSimPrediction {
    question: String,
    #[serde(default)]
    variant: Option<String>,
    flow: String,
    #[serde(default)]
    seconds: Option<u32>,
    #[serde(default)]
    from: Option<Spanned<String>>,
    #[serde(default)]
    to: Option<Spanned<String>>,
    measure: Spanned<String>,
    answer: Spanned<String>,
    #[serde(default)]
    at: Option<String>,
    explain: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrediction {
    question: String,
    #[serde(default)]
    variant: Option<String>,
    from: String,
    to: String,
    #[serde(default)]
    proto: Option<Spanned<String>>,
    #[serde(default)]
    via: Option<String>,
    #[serde(default)]
    ipv6: bool,
    #[serde(default)]
    sport: Option<u16>,
    #[serde(default)]
    established: bool,
    answer: Spanned<String>,
    #[serde(default)]
    at: Option<String>,
    explain: String,
}

/// Only the key that tells whether a file names a scenario file: read from
/// every file of a lesson directory before the lessons themselves.
#[derive(Deserialize)]
struct ScenarioKey {
    #[serde(default)]
    scenario: Option<String>,
    #[serde(default)]
    layers: Option<serde::de::IgnoredAny>,
}

const OUTCOMES: [(&str, OutcomeKind); 11] = [
    ("reached", OutcomeKind::Reached),
    ("refused", OutcomeKind::Refused),
    ("dropped", OutcomeKind::Dropped),
    ("rejected", OutcomeKind::Rejected),
    ("no_route", OutcomeKind::NoRoute),
    ("unresolved", OutcomeKind::Unresolved),
    ("tls_failed", OutcomeKind::TlsFailed),
    ("proxy_denied", OutcomeKind::ProxyDenied),
    ("proxy_loop", OutcomeKind::ProxyLoop),
    ("ttl_exceeded", OutcomeKind::TtlExceeded),
    ("reply_lost", OutcomeKind::ReplyLost),
];

/// The snake_case name of an outcome kind, as lesson files write it.
pub fn outcome_key(kind: OutcomeKind) -> &'static str {
    OUTCOMES
        .iter()
        .find(|(_, k)| *k == kind)
        .map(|(n, _)| *n)
        .unwrap_or("reached")
}

/// Every outcome kind a lesson may give as an answer, in the order lesson
/// files and the page list them.
pub fn outcome_kinds() -> impl Iterator<Item = OutcomeKind> {
    OUTCOMES.iter().map(|(_, k)| *k)
}

/// An outcome as a prediction a learner can choose (the page's radio
/// buttons, the terminal quiz's numbered choices).
pub fn outcome_choice(kind: OutcomeKind) -> &'static str {
    match kind {
        OutcomeKind::Reached => "it gets through",
        OutcomeKind::Dropped => "it is dropped: no answer, the client waits",
        OutcomeKind::Refused => "it is refused: nothing listens there",
        OutcomeKind::Rejected => "a rule rejects it: an error at once",
        OutcomeKind::NoRoute => "it cannot be sent: there is no route",
        OutcomeKind::Unresolved => "the name does not resolve",
        OutcomeKind::TlsFailed => "the TLS handshake fails",
        OutcomeKind::ProxyDenied => "the proxy refuses it",
        OutcomeKind::ProxyLoop => "the proxies pass it round in a loop",
        OutcomeKind::TtlExceeded => "its time to live runs out",
        OutcomeKind::ReplyLost => "the request arrives, but the reply never comes back",
    }
}

/// The answers a learner chooses from for a lesson's questions: every
/// outcome its questions use, and always `reached` and one way of not
/// getting through, in the order of [`outcome_kinds`].
pub fn prediction_choices(lesson: &Lesson) -> Vec<OutcomeKind> {
    let mut used: Vec<OutcomeKind> = vec![OutcomeKind::Reached];
    for l in &lesson.layers {
        for p in &l.predict {
            if !used.contains(&p.answer) {
                used.push(p.answer);
            }
        }
    }
    if used.len() == 1 {
        used.push(OutcomeKind::Dropped);
    }
    outcome_kinds().filter(|k| used.contains(k)).collect()
}

/// How a guess compares with the engine's answer: right, half right (it does
/// not get through, but ends another way), or wrong.
pub fn grade(guess: OutcomeKind, actual: OutcomeKind) -> &'static str {
    if guess == actual {
        "right"
    } else if guess != OutcomeKind::Reached && actual != OutcomeKind::Reached {
        "partly"
    } else {
        "wrong"
    }
}

/// Reads an outcome as lesson files and learners write it (`no_route`, `no route`, `no-route`).
pub fn parse_outcome(text: &str) -> Option<OutcomeKind> {
    let t = text.trim().to_lowercase().replace([' ', '-'], "_");
    OUTCOMES.iter().find(|(n, _)| *n == t).map(|(_, k)| *k)
}

fn err_at(file: &str, loc: &serde_saphyr::Location, message: String) -> LessonError {
    LessonError {
        file: file.to_string(),
        line: loc.line() as u32,
        column: loc.column() as u32,
        message,
    }
}

fn err_line(file: &str, line: u32, message: String) -> LessonError {
    LessonError {
        file: file.to_string(),
        line: line.max(1),
        column: 1,
        message,
    }
}

fn first_line(rendered: &str) -> String {
    rendered
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("the YAML parser rejected the file")
        .to_string()
}

fn yaml_options() -> serde_saphyr::Options {
    let mut options = serde_saphyr::Options::default();
    options.strict_booleans = true;
    options.with_snippet = false;
    options
}

/// Whether a `scenario:` value names a file rather than a built-in scenario.
fn names_a_file(scenario: &str) -> bool {
    scenario.ends_with(".yaml") || scenario.ends_with(".yml")
}

/// A path with `.` components dropped and `/` between the others (no I/O:
/// the path is only taken apart).
fn normalise(path: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut absolute = false;
    for c in Path::new(path).components() {
        match c {
            Component::RootDir => absolute = true,
            Component::CurDir => {}
            Component::Prefix(p) => parts.push(p.as_os_str().to_string_lossy().into_owned()),
            Component::ParentDir => parts.push("..".to_string()),
            Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
        }
    }
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else {
        joined
    }
}

/// The directory part of a normalised path (`""` for a bare file name).
fn parent_of(path: &str) -> &str {
    path.rsplit_once('/').map(|(d, _)| d).unwrap_or("")
}

/// The path of a scenario file named `rel` by the lesson file `lesson_file`:
/// inside the lesson's directory, never above it.
fn beside(lesson_file: &str, rel: &str) -> Result<String, String> {
    let p = Path::new(rel);
    if p.is_absolute()
        || p.components()
            .any(|c| matches!(c, Component::ParentDir | Component::Prefix(_)))
    {
        return Err(format!(
            "the scenario file `{rel}` must be named relative to the lesson, in its directory or below it (no `..`, no absolute path)"
        ));
    }
    let rel = normalise(rel);
    let dir = parent_of(&normalise(lesson_file)).to_string();
    Ok(if dir.is_empty() {
        rel
    } else {
        format!("{dir}/{rel}")
    })
}

/// Reads one lesson file. `file` is the name errors report, and the place a
/// scenario file the lesson names is looked for beside. A lesson whose
/// scenario is a file comes back without the file's text: attach it with
/// [`Lesson::attach_scenario`] (or read a whole directory with
/// [`from_files`]). `parse` checks the form of the file; [`validate`] checks
/// the lesson against its scenario and the engine.
pub fn parse(file: &str, text: &str) -> Result<Lesson, LessonError> {
    let raw: RawLesson =
        serde_saphyr::from_str_with_options(text, yaml_options()).map_err(|e| {
            let (line, column) = e
                .location()
                .map(|l| (l.line() as u32, l.column() as u32))
                .unwrap_or((1, 1));
            LessonError {
                file: file.to_string(),
                line,
                column,
                message: first_line(&e.to_string()),
            }
        })?;

    let id_loc = raw.id.referenced;
    let id = raw.id.value.trim().to_string();
    let well_formed = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    if !well_formed(&id) {
        return Err(err_at(
            file,
            &id_loc,
            format!("lesson id `{id}` must be lower-case letters, digits and dashes"),
        ));
    }
    let mut aliases = Vec::new();
    for a in &raw.aliases {
        let a = a.trim().to_string();
        if !well_formed(&a) {
            return Err(err_at(
                file,
                &id_loc,
                format!("alias `{a}` must be lower-case letters, digits and dashes"),
            ));
        }
        if a == id || aliases.contains(&a) {
            return Err(err_at(file, &id_loc, format!("alias `{a}` is given twice")));
        }
        aliases.push(a);
    }
    let scenario = raw.scenario.value.trim().to_string();
    let scenario_at = raw.scenario.referenced;
    let (scenario_file, builtin_scenario) = if names_a_file(&scenario) {
        let path = beside(file, &scenario).map_err(|m| err_at(file, &scenario_at, m))?;
        (path, false)
    } else if let Some(e) = crate::examples::get(&scenario) {
        (e.file(), true)
    } else {
        let names = crate::examples::ALL.iter().map(|e| e.name);
        let hint = crate::load::diagnostic::nearest(&scenario, names)
            .map(|n| format!(" (did you mean `{n}`?)"))
            .unwrap_or_else(|| {
                " (or name a scenario file beside the lesson, `my-lab.yaml`)".to_string()
            });
        return Err(err_at(
            file,
            &scenario_at,
            format!("`{scenario}` is not a built-in scenario{hint}"),
        ));
    };
    let mut nonempty = vec![
        ("title", raw.title.trim().is_empty()),
        ("summary", raw.summary.trim().is_empty()),
    ];
    if let Some((key, _)) = nonempty.drain(..).find(|(_, empty)| *empty) {
        return Err(err_at(file, &id_loc, format!("`{key}` is empty")));
    }

    let mut layers = Vec::new();
    let mut seen = [false; 4];
    for raw_layer in raw.layers {
        let at = raw_layer.referenced;
        let l = raw_layer.value;
        let level = l.level.value;
        if !(1..=4).contains(&level) {
            return Err(err_at(
                file,
                &l.level.referenced,
                format!("layer level {level} is not one of 1, 2, 3, 4"),
            ));
        }
        if seen[level as usize - 1] {
            return Err(err_at(
                file,
                &l.level.referenced,
                format!("layer {level} is given twice"),
            ));
        }
        seen[level as usize - 1] = true;
        let texts = [
            ("name", &l.name),
            ("takeaway", &l.takeaway),
            ("attacker_goal", &l.attacker_goal),
            ("trust_question", &l.trust_question),
            ("failure_mode", &l.failure_mode),
            ("mental_model", &l.mental_model),
            ("security_lens", &l.security_lens),
            ("why_it_matters", &l.why_it_matters),
            ("engineers_get_wrong", &l.engineers_get_wrong),
            ("incident.name", &l.incident.name),
            ("incident.source", &l.incident.source),
            ("incident.text", &l.incident.text),
            ("diagram", &l.diagram),
            ("body", &l.body),
            ("regression", &l.regression.value),
            ("signal", &l.signal),
        ];
        for (key, value) in texts {
            if value.trim().is_empty() {
                return Err(err_at(
                    file,
                    &at,
                    format!("`{key}` of layer {level} is empty"),
                ));
            }
        }
        let steps: Vec<&str> = l
            .hands_on
            .iter()
            .map(|s| match s {
                RawStep::Text(t) => t.as_str(),
                RawStep::Run(r) => r.step.as_str(),
            })
            .collect();
        let misconceptions: Vec<&str> = l.misconceptions.iter().map(String::as_str).collect();
        let lists = [("misconceptions", &misconceptions), ("hands_on", &steps)];
        for (key, list) in lists {
            if list.is_empty() || list.iter().any(|s| s.trim().is_empty()) {
                return Err(err_at(
                    file,
                    &at,
                    format!("`{key}` of layer {level} needs at least one non-empty item"),
                ));
            }
        }
        let mut hands_on = Vec::new();
        for step in l.hands_on {
            hands_on.push(match step {
                RawStep::Text(t) => Step {
                    text: t.trim().to_string(),
                    run: None,
                },
                RawStep::Run(r) => {
                    let proto = match r.run.proto.as_deref().map(str::trim) {
                        None | Some("tcp") => Proto::Tcp,
                        Some("udp") => Proto::Udp,
                        Some("icmp") => Proto::Icmp,
                        Some(other) => {
                            return Err(err_at(
                                file,
                                &at,
                                format!("`{other}` is not a protocol: tcp, udp or icmp (hands_on of layer {level})"),
                            ))
                        }
                    };
                    Step {
                        text: r.step.trim().to_string(),
                        run: Some(Run {
                            variant: r.run.variant.map(|v| v.trim().to_string()),
                            from: r.run.from.trim().to_string(),
                            to: r.run.to.trim().to_string(),
                            proto,
                            via: r.run.via.map(|v| v.trim().to_string()),
                            ipv6: r.run.ipv6,
                            sport: r.run.sport,
                            established: r.run.established,
                        }),
                    }
                }
            });
        }
        if l.predict.is_empty() {
            return Err(err_at(
                file,
                &at,
                format!("layer {level} has no `predict` question"),
            ));
        }
        let mut predict = Vec::new();
        for p in l.predict {
            let p_at = p.referenced;
            let p = p.value;
            let answer = OUTCOMES
                .iter()
                .find(|(n, _)| *n == p.answer.value.trim())
                .map(|(_, k)| *k)
                .ok_or_else(|| {
                    let names: Vec<&str> = OUTCOMES.iter().map(|(n, _)| *n).collect();
                    let hint = crate::load::diagnostic::nearest(
                        p.answer.value.trim(),
                        names.iter().copied(),
                    )
                    .map(|n| format!("did you mean `{n}`?"))
                    .unwrap_or_else(|| format!("one of {}", names.join(", ")));
                    err_at(
                        file,
                        &p.answer.referenced,
                        format!("`{}` is not an outcome: {hint}", p.answer.value),
                    )
                })?;
            let proto = match &p.proto {
                None => Proto::Tcp,
                Some(s) => match s.value.trim() {
                    "tcp" => Proto::Tcp,
                    "udp" => Proto::Udp,
                    "icmp" => Proto::Icmp,
                    other => {
                        return Err(err_at(
                            file,
                            &s.referenced,
                            format!("`{other}` is not a protocol: tcp, udp or icmp"),
                        ))
                    }
                },
            };
            for (key, value) in [
                ("question", &p.question),
                ("from", &p.from),
                ("to", &p.to),
                ("explain", &p.explain),
            ] {
                if value.trim().is_empty() {
                    return Err(err_at(file, &p_at, format!("`{key}` is empty")));
                }
            }
            predict.push(Prediction {
                question: p.question.trim().to_string(),
                variant: p.variant.map(|v| v.trim().to_string()),
                from: p.from.trim().to_string(),
                to: p.to.trim().to_string(),
                proto,
                via: p.via.map(|v| v.trim().to_string()),
                ipv6: p.ipv6,
                sport: p.sport,
                established: p.established,
                answer,
                at: p.at.map(|a| a.trim().to_string()),
                explain: p.explain.trim().to_string(),
                line: p_at.line() as u32,
            });
        }
        let mut simulate = Vec::new();
        for q in l.simulate {
            let q_at = q.referenced;
            let q = q.value;
            for (key, value) in [
                ("question", &q.question),
                ("flow", &q.flow),
                ("explain", &q.explain),
            ] {
                if value.trim().is_empty() {
                    return Err(err_at(file, &q_at, format!("`{key}` is empty")));
                }
            }
            let measure = match q.measure.value.trim() {
                "success" => SimMeasure::Success,
                "outcome" => SimMeasure::Outcome,
                other => {
                    let hint = crate::load::diagnostic::nearest(other, ["success", "outcome"])
                        .map(|n| format!("did you mean `{n}`?"))
                        .unwrap_or_else(|| "success or outcome".into());
                    return Err(err_at(
                        file,
                        &q.measure.referenced,
                        format!("`{other}` is not a measure: {hint}"),
                    ));
                }
            };
            let answer = q.answer.value.trim().to_string();
            let allowed: Vec<&str> = match measure {
                SimMeasure::Success => SUCCESS_BANDS.iter().map(|b| b.0).collect(),
                SimMeasure::Outcome => SIM_OUTCOMES.to_vec(),
            };
            if !allowed.contains(&answer.as_str()) {
                let hint = crate::load::diagnostic::nearest(&answer, allowed.iter().copied())
                    .map(|n| format!("did you mean `{n}`?"))
                    .unwrap_or_else(|| format!("one of {}", allowed.join(", ")));
                return Err(err_at(
                    file,
                    &q.answer.referenced,
                    format!("`{answer}` is not an answer to this measure: {hint}"),
                ));
            }
            let second = |v: &Option<Spanned<String>>| -> Result<Option<u32>, LessonError> {
                match v {
                    None => Ok(None),
                    Some(sp) => crate::load::traffic::parse_duration(&sp.value)
                        .filter(|us| us % 1_000_000 == 0)
                        .map(|us| Some((us / 1_000_000) as u32))
                        .ok_or_else(|| {
                            err_at(
                                file,
                                &sp.referenced,
                                format!("`{}` is not a whole number of seconds (`5s`)", sp.value),
                            )
                        }),
                }
            };
            let from = second(&q.from)?;
            let to = second(&q.to)?;
            let window = match (from, to) {
                (None, None) => None,
                (f, t) => {
                    let f = f.unwrap_or(0);
                    let t = t.unwrap_or(u32::MAX);
                    if t <= f {
                        return Err(err_at(
                            file,
                            &q_at,
                            "`to` must come after `from`".to_string(),
                        ));
                    }
                    Some((f, t))
                }
            };
            simulate.push(SimPrediction {
                question: q.question.trim().to_string(),
                variant: q.variant.map(|v| v.trim().to_string()),
                flow: q.flow.trim().to_string(),
                seconds: q.seconds,
                window,
                measure,
                answer,
                at: q.at.map(|a| a.trim().to_string()),
                explain: q.explain.trim().to_string(),
                line: q_at.line() as u32,
            });
        }
        layers.push(Layer {
            level,
            name: l.name.trim().to_string(),
            takeaway: l.takeaway.trim().to_string(),
            attacker_goal: l.attacker_goal.trim().to_string(),
            trust_question: l.trust_question.trim().to_string(),
            failure_mode: l.failure_mode.trim().to_string(),
            mental_model: l.mental_model.trim().to_string(),
            misconceptions: l
                .misconceptions
                .iter()
                .map(|s| s.trim().to_string())
                .collect(),
            security_lens: l.security_lens.trim().to_string(),
            why_it_matters: l.why_it_matters.trim().to_string(),
            engineers_get_wrong: l.engineers_get_wrong.trim().to_string(),
            incident: Incident {
                name: l.incident.name.trim().to_string(),
                source: l.incident.source.trim().to_string(),
                text: l.incident.text.trim().to_string(),
            },
            diagram: l.diagram.trim_end().to_string() + "\n",
            body: l.body.trim_end().to_string() + "\n",
            predict,
            simulate,
            hands_on,
            regression: l
                .regression
                .value
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
            signal: l.signal.trim().to_string(),
            line: at.line() as u32,
            regression_line: l.regression.referenced.line() as u32,
        });
    }
    if let Some(missing) = seen.iter().position(|s| !s) {
        return Err(err_at(
            file,
            &id_loc,
            format!("lesson `{id}` has no layer {}", missing + 1),
        ));
    }
    layers.sort_by_key(|l| l.level);
    Ok(Lesson {
        id,
        title: raw.title.trim().to_string(),
        scenario,
        scenario_file,
        builtin_scenario,
        aliases,
        summary: raw.summary.trim().to_string(),
        layers,
        file: file.to_string(),
        builtin: false,
        id_line: id_loc.line() as u32,
        scenario_line: scenario_at.line() as u32,
        scenario_text: None,
    })
}

/// Every built-in lesson, in file order. The first unreadable file is the error.
pub fn all() -> Result<Vec<Lesson>, LessonError> {
    let mut out: Vec<Lesson> = Vec::new();
    for (file, text) in FILES {
        let mut lesson = parse(file, text)?;
        lesson.builtin = true;
        if let Some(e) = clash(&out, &lesson) {
            return Err(e);
        }
        out.push(lesson);
    }
    Ok(out)
}

/// One built-in lesson by id (none if it does not exist or the lessons do not load).
pub fn get(id: &str) -> Option<Lesson> {
    all().ok()?.into_iter().find(|l| l.id == id)
}

/// An id or alias of `lesson` that one of `others` already uses.
fn clash(others: &[Lesson], lesson: &Lesson) -> Option<LessonError> {
    let names = |l: &Lesson| -> Vec<String> {
        std::iter::once(l.id.clone())
            .chain(l.aliases.iter().cloned())
            .collect()
    };
    for other in others {
        let theirs = names(other);
        for (i, mine) in names(lesson).into_iter().enumerate() {
            if theirs.contains(&mine) {
                let what = if i == 0 { "lesson id" } else { "alias" };
                return Some(err_line(
                    &lesson.file,
                    lesson.id_line,
                    format!(
                        "{what} `{mine}` is also used by the lesson `{}` ({}{})",
                        other.id,
                        other.file,
                        if other.builtin { ", built in" } else { "" }
                    ),
                ));
            }
        }
    }
    None
}

/// Runs every prediction of a lesson through load and trace and compares the
/// outcome with the lesson's answer. Results are in layer order, then question order.
pub fn check(lesson: &Lesson) -> Vec<PredictionResult> {
    let mut out = Vec::new();
    let mut loaded: BTreeMap<Option<String>, Result<Scenario, String>> = BTreeMap::new();
    for layer in &lesson.layers {
        for (index, p) in layer.predict.iter().enumerate() {
            let mut r = PredictionResult {
                level: layer.level,
                index,
                question: p.question.clone(),
                variant: p.variant.clone(),
                expected: p.answer,
                actual: None,
                expected_at: p.at.clone(),
                actual_at: None,
                ok: false,
                error: None,
                trace: None,
            };
            let scn = loaded
                .entry(p.variant.clone())
                .or_insert_with(|| lesson.load_scenario(p.variant.as_deref()));
            let result = match scn {
                Err(e) => Err(e.clone()),
                Ok(scn) => crate::journey::trace(scn, &p.query()).map_err(|err| err.to_string()),
            };
            match result {
                Ok(t) => {
                    r.actual = Some(t.outcome.kind);
                    r.actual_at = t.outcome.at.clone();
                    r.ok = t.outcome.kind == p.answer
                        && p.at
                            .as_ref()
                            .is_none_or(|at| Some(at) == t.outcome.at.as_ref());
                    r.trace = Some(t);
                }
                Err(e) => r.error = Some(e),
            }
            out.push(r);
        }
    }
    out
}

/// The texts of one layer a reader sees, with the names the file gives them.
fn layer_texts(layer: &Layer) -> Vec<(String, &str)> {
    let mut out: Vec<(String, &str)> = vec![
        ("takeaway".into(), layer.takeaway.as_str()),
        ("attacker_goal".into(), layer.attacker_goal.as_str()),
        ("trust_question".into(), layer.trust_question.as_str()),
        ("failure_mode".into(), layer.failure_mode.as_str()),
        ("mental_model".into(), layer.mental_model.as_str()),
        ("security_lens".into(), layer.security_lens.as_str()),
        ("why_it_matters".into(), layer.why_it_matters.as_str()),
        (
            "engineers_get_wrong".into(),
            layer.engineers_get_wrong.as_str(),
        ),
        ("incident.text".into(), layer.incident.text.as_str()),
        ("signal".into(), layer.signal.as_str()),
        ("body".into(), layer.body.as_str()),
    ];
    for (i, m) in layer.misconceptions.iter().enumerate() {
        out.push((format!("misconceptions[{}]", i + 1), m.as_str()));
    }
    for (i, h) in layer.hands_on.iter().enumerate() {
        out.push((format!("hands_on[{}]", i + 1), h.text.as_str()));
    }
    for (i, p) in layer.predict.iter().enumerate() {
        out.push((format!("predict[{}].question", i + 1), p.question.as_str()));
        out.push((format!("predict[{}].explain", i + 1), p.explain.as_str()));
    }
    for (i, p) in layer.simulate.iter().enumerate() {
        out.push((
            format!("predict-simulate[{}].question", i + 1),
            p.question.as_str(),
        ));
        out.push((
            format!("predict-simulate[{}].explain", i + 1),
            p.explain.as_str(),
        ));
    }
    out
}

fn short(text: &str) -> String {
    let t: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if t.chars().count() > 60 {
        format!("{}…", t.chars().take(60).collect::<String>())
    } else {
        t
    }
}

/// Checks a lesson as a teacher would before handing it out: every section of
/// every layer is a real sentence, the layers are told differently, the
/// layers carry their names, the scenario loads with `break` and `harden`
/// variants and the lesson asks a question under each, every predict-then-see
/// answer is what the engine computes, and every line of the scenario the
/// text cites holds the declaration it quotes. `text` is the lesson file's
/// text (for the lines of the errors). An empty list means the lesson is good.
pub fn validate(lesson: &Lesson, text: &str) -> Vec<LessonError> {
    let file = lesson.file.as_str();
    let mut errs = Vec::new();
    for layer in &lesson.layers {
        let want = LAYER_NAMES[layer.level as usize - 1];
        if layer.name != want {
            errs.push(err_line(
                file,
                layer.line,
                format!(
                    "layer {} is named `{}`; layer {} is `{want}`",
                    layer.level, layer.name, layer.level
                ),
            ));
        }
        for (key, value) in layer_texts(layer) {
            let n = value.trim().chars().count();
            if n < MIN_TEXT && !key.starts_with("predict") {
                errs.push(err_line(
                    file,
                    locate(text, value, layer.line).unwrap_or(layer.line),
                    format!(
                        "`{key}` of layer {} is too short ({n} characters): write at least a sentence",
                        layer.level
                    ),
                ));
            }
        }
    }
    // The same sentence under two layers is not a second telling.
    let mut seen: BTreeMap<String, u8> = BTreeMap::new();
    for layer in &lesson.layers {
        for (key, value) in layer_texts(layer) {
            if key.starts_with("predict") {
                continue;
            }
            let norm = value.split_whitespace().collect::<Vec<_>>().join(" ");
            match seen.get(&norm) {
                Some(&prev) => errs.push(err_line(
                    file,
                    locate(text, value, layer.line).unwrap_or(layer.line),
                    format!(
                        "`{key}` of layer {} repeats layer {prev} word for word (`{}`): tell each layer in its own words",
                        layer.level,
                        short(value)
                    ),
                )),
                None => {
                    seen.insert(norm, layer.level);
                }
            }
        }
    }
    match lesson.scenario_source() {
        Err(e) => errs.push(err_line(file, lesson.scenario_line, e)),
        Ok((scn_file, scn_text)) => match crate::load(&scn_file, scn_text, None) {
            Err(e) => errs.push(err_line(
                file,
                lesson.scenario_line,
                format!("its scenario does not load:\n{e}"),
            )),
            Ok(scn) => {
                for v in ["break", "harden"] {
                    if !scn.variants.iter().any(|x| x.name == v) {
                        errs.push(err_line(
                            file,
                            lesson.scenario_line,
                            format!(
                                "the scenario {scn_file} has no `{v}` variant: a lesson breaks one assumption and hardens it again"
                            ),
                        ));
                    }
                }
                errs.extend(check_references(lesson, text, &scn_file, scn_text));
            }
        },
    }
    for v in ["break", "harden"] {
        let asked = lesson
            .layers
            .iter()
            .flat_map(|l| l.predict.iter())
            .any(|p| p.variant.as_deref() == Some(v))
            || lesson
                .layers
                .iter()
                .flat_map(|l| l.simulate.iter())
                .any(|p| p.variant.as_deref() == Some(v));
        if !asked {
            errs.push(err_line(
                file,
                lesson.id_line,
                format!("no predict-then-see question uses the `{v}` variant: ask at least one"),
            ));
        }
    }
    errs.extend(check_simulate_form(lesson));
    errs.extend(check_shape(lesson, text));
    errs.extend(check_runs(lesson));
    errs.extend(check_regressions(lesson));
    let results = check(lesson);
    for r in results.iter().filter(|r| !r.ok) {
        let p = &lesson
            .layers
            .iter()
            .find(|l| l.level == r.level)
            .expect("results follow layers")
            .predict[r.index];
        let cmd = p.command(lesson.scenario_arg());
        let message = match (&r.actual, &r.trace) {
            (Some(actual), Some(t)) => {
                let at =
                    |a: &Option<String>| a.as_ref().map(|d| format!(" at {d}")).unwrap_or_default();
                format!(
                    "layer {} question {}: the lesson's answer is `{}`{}, but the engine computes `{}`{} ({}); run `{cmd}`",
                    r.level,
                    r.index + 1,
                    outcome_key(r.expected),
                    at(&r.expected_at),
                    outcome_key(*actual),
                    at(&r.actual_at),
                    t.outcome.text
                )
            }
            _ => format!(
                "layer {} question {} cannot be traced: {}",
                r.level,
                r.index + 1,
                r.error.clone().unwrap_or_default()
            ),
        };
        errs.push(err_line(file, p.line, message));
    }
    errs
}

/// The simulate questions ask about what the scenario has: a traffic
/// section (with the variant applied) with that flow, and a window inside
/// the run. Their answers are the simulator's to check
/// (`pathproof_sim::lessons::validate`).
fn check_simulate_form(lesson: &Lesson) -> Vec<LessonError> {
    let file = lesson.file.as_str();
    let mut errs = Vec::new();
    let mut loaded: BTreeMap<Option<String>, Result<Scenario, String>> = BTreeMap::new();
    for layer in &lesson.layers {
        for (i, q) in layer.simulate.iter().enumerate() {
            let scn = loaded
                .entry(q.variant.clone())
                .or_insert_with(|| lesson.load_scenario(q.variant.as_deref()));
            let here = |m: String| {
                err_line(
                    file,
                    q.line,
                    format!("layer {} simulate question {}: {m}", layer.level, i + 1),
                )
            };
            match scn {
                Err(e) => errs.push(here(format!("its scenario does not load: {e}"))),
                Ok(scn) => match &scn.traffic {
                    None => errs.push(here(format!(
                        "the scenario {} has no `traffic:` section to simulate",
                        scn.file
                    ))),
                    Some(t) => {
                        if t.flow(&q.flow).is_none() {
                            let names: Vec<&str> =
                                t.flows.iter().map(|f| f.name.as_str()).collect();
                            let hint =
                                crate::load::diagnostic::nearest(&q.flow, names.iter().copied())
                                    .map(|n| format!("did you mean `{n}`?"))
                                    .unwrap_or_else(|| format!("its flows: {}", names.join(", ")));
                            errs.push(here(format!("no flow `{}`: {hint}", q.flow)));
                        }
                        let seconds = q.seconds.unwrap_or(t.seconds);
                        if let Some((from, _)) = q.window {
                            if from >= seconds {
                                errs.push(here(format!(
                                    "the window starts at {from} s, after the run's {seconds} s"
                                )));
                            }
                        }
                    }
                },
            }
        }
    }
    errs
}

/// Whether a text holds an address prefix (`10.0.1.0/24`).
fn has_prefix(text: &str) -> bool {
    text.split(|c: char| c.is_whitespace() || "()`,;\"'".contains(c))
        .any(|w| {
            w.split_once('/').is_some_and(|(a, n)| {
                a.parse::<std::net::IpAddr>().is_ok() && n.parse::<u8>().is_ok()
            })
        })
}

/// The sections every layer has beyond their text: a real source for the
/// incident, a Mermaid diagram the page can draw, and at layer 1 a picture
/// without jargon: no command to type (a step runs its journey instead), no
/// address prefix.
fn check_shape(lesson: &Lesson, text: &str) -> Vec<LessonError> {
    let file = lesson.file.as_str();
    let mut errs = Vec::new();
    for layer in &lesson.layers {
        let level = layer.level;
        let line_of = |needle: &str| locate(text, needle, layer.line).unwrap_or(layer.line);
        let src = &layer.incident.source;
        let host = src
            .strip_prefix("https://")
            .map(|r| r.split('/').next().unwrap_or(""))
            .unwrap_or("");
        if !host.contains('.') || src.contains(char::is_whitespace) {
            errs.push(err_line(
                file,
                line_of(src),
                format!("the incident of layer {level} needs a public source: an https:// link, not `{src}`"),
            ));
        }
        let first = layer
            .diagram
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("");
        let kind_ok = ["flowchart ", "graph ", "sequenceDiagram"]
            .iter()
            .any(|k| first.starts_with(k) || first == k.trim());
        if !kind_ok {
            errs.push(err_line(
                file,
                line_of(first),
                format!("the diagram of layer {level} must be a Mermaid flowchart (`flowchart LR`) or sequence diagram (`sequenceDiagram`), not `{}`", short(first)),
            ));
        }
        let lower = layer.diagram.to_lowercase();
        for bad in ["click ", "%%{", "<script", "javascript:", "href"] {
            if lower.contains(bad) {
                errs.push(err_line(
                    file,
                    line_of(first),
                    format!("the diagram of layer {level} uses `{}`: diagrams are pictures, with no links, callbacks or configuration", bad.trim()),
                ));
            }
        }
        if level == 1 {
            for (key, value) in layer_texts(layer) {
                if value.contains("pathproof ") {
                    errs.push(err_line(
                        file,
                        line_of(value),
                        format!("`{key}` of layer 1 shows a command: at layer 1 a hands-on step runs its journey (`run:`) instead"),
                    ));
                }
                if has_prefix(value) {
                    errs.push(err_line(
                        file,
                        line_of(value),
                        format!("`{key}` of layer 1 writes an address prefix: tell it with names and pictures at layer 1"),
                    ));
                }
            }
            if !layer.hands_on.iter().any(|s| s.run.is_some()) {
                errs.push(err_line(
                    file,
                    layer.line,
                    "layer 1 needs a hands-on step with `run:` (the page shows a \"Run this\" button for it)".to_string(),
                ));
            }
        }
    }
    errs
}

/// Every hands-on step that runs a journey can be traced under its variant.
fn check_runs(lesson: &Lesson) -> Vec<LessonError> {
    let mut errs = Vec::new();
    let mut loaded: BTreeMap<Option<String>, Result<Scenario, String>> = BTreeMap::new();
    for layer in &lesson.layers {
        for (i, step) in layer.hands_on.iter().enumerate() {
            let Some(run) = &step.run else { continue };
            let scn = loaded
                .entry(run.variant.clone())
                .or_insert_with(|| lesson.load_scenario(run.variant.as_deref()));
            let problem = match scn {
                Err(e) => Some(e.clone()),
                Ok(scn) => crate::journey::trace(scn, &run.query())
                    .err()
                    .map(|e| e.to_string()),
            };
            if let Some(p) = problem {
                errs.push(err_line(
                    &lesson.file,
                    layer.line,
                    format!(
                        "hands_on[{}] of layer {} cannot be run: {p}",
                        i + 1,
                        layer.level
                    ),
                ));
            }
        }
    }
    errs
}

/// The result of the scenario's `expect:` line `line` under `variant`:
/// `Some(passed)`, or none when the scenario has no such line there.
fn expectation_holds(lesson: &Lesson, variant: &str, line: &str) -> Result<Option<bool>, String> {
    let scn = lesson.load_scenario(Some(variant))?;
    let report = crate::analysis::check::check(&scn);
    Ok(report
        .results
        .iter()
        .find(|r| squash(&r.expectation) == line)
        .map(|r| r.passed))
}

/// Every layer's `regression:` is an `expect:` line of the scenario that
/// keeps the unsafe path blocked: it fails under `break` (it would have
/// caught the careless change) and holds under `harden`.
fn check_regressions(lesson: &Lesson) -> Vec<LessonError> {
    let mut errs = Vec::new();
    let mut cache: BTreeMap<(String, String), Result<Option<bool>, String>> = BTreeMap::new();
    for layer in &lesson.layers {
        let line = layer.regression.as_str();
        let mut result = |v: &str| {
            cache
                .entry((v.to_string(), line.to_string()))
                .or_insert_with(|| expectation_holds(lesson, v, line))
                .clone()
        };
        let at = |m: String| err_line(&lesson.file, layer.regression_line, m);
        match (result("harden"), result("break")) {
            (Err(e), _) | (_, Err(e)) => errs.push(at(format!("the regression check of layer {} cannot run: {e}", layer.level))),
            (Ok(None), _) | (_, Ok(None)) => errs.push(at(format!(
                "the regression `{line}` of layer {} is not an `expect:` line of the scenario: add it to the scenario's `expect:` list, where `check` holds both `break` and `harden` to it",
                layer.level
            ))),
            (Ok(Some(false)), _) => errs.push(at(format!(
                "the regression `{line}` of layer {} does not hold under `harden`: `pathproof check {} --variant harden` fails on it",
                layer.level,
                lesson.scenario_arg()
            ))),
            (_, Ok(Some(true))) => errs.push(at(format!(
                "the regression `{line}` of layer {} also holds under `break`: it does not catch the unsafe path the lesson breaks open",
                layer.level
            ))),
            _ => {}
        }
    }
    errs
}

// ---------------------------------------------------------------------------
// Lines of the scenario that the text cites.

/// A place in lesson text that cites lines of a file.
#[derive(Debug, PartialEq)]
struct Citation {
    /// Byte range of the citation in the text.
    start: usize,
    end: usize,
    /// The file named, or none for a bare `(line N)`.
    file: Option<String>,
    first: u32,
    last: u32,
}

fn digits_at(s: &str, i: usize) -> Option<(u32, usize)> {
    let n = s[i..].bytes().take_while(u8::is_ascii_digit).count();
    if n == 0 || n > 7 {
        return None;
    }
    s[i..i + n].parse().ok().map(|v| (v, i + n))
}

/// `line N` or `lines N to M` starting at byte `i`: (first, last, end).
fn line_words_at(s: &str, i: usize) -> Option<(u32, u32, usize)> {
    if let Some(rest) = s[i..].strip_prefix("lines ") {
        let j = s.len() - rest.len();
        let (a, k) = digits_at(s, j)?;
        let rest = s[k..].strip_prefix(" to ")?;
        let (b, end) = digits_at(s, s.len() - rest.len())?;
        return Some((a, b, end));
    }
    let rest = s[i..].strip_prefix("line ")?;
    let (a, end) = digits_at(s, s.len() - rest.len())?;
    Some((a, a, end))
}

fn file_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/')
}

/// Every citation of lines in `text`, and every line number that is not part
/// of a citation (those are errors: a number nothing checks).
fn citations(text: &str) -> (Vec<Citation>, Vec<usize>) {
    let mut found = Vec::new();
    let mut covered: Vec<(usize, usize)> = Vec::new();
    for ext in [".yaml", ".yml"] {
        let mut from = 0;
        while let Some(pos) = text[from..].find(ext) {
            let at = from + pos;
            let after = at + ext.len();
            from = after;
            if text[after..].starts_with(|c: char| c.is_ascii_alphanumeric()) {
                continue;
            }
            let start = text[..at]
                .char_indices()
                .rev()
                .take_while(|(_, c)| file_char(*c))
                .last()
                .map(|(i, _)| i)
                .unwrap_or(at);
            let name = text[start..after].to_string();
            let cite = if let Some(rest) = text[after..].strip_prefix(':') {
                digits_at(text, text.len() - rest.len()).map(|(n, end)| (n, n, end))
            } else if let Some(rest) = text[after..].strip_prefix(' ') {
                line_words_at(text, text.len() - rest.len())
            } else {
                None
            };
            if let Some((first, last, end)) = cite {
                covered.push((start, end));
                found.push(Citation {
                    start,
                    end,
                    file: Some(name),
                    first,
                    last,
                });
            }
        }
    }
    let mut from = 0;
    while let Some(pos) = text[from..].find("(line") {
        let at = from + pos;
        from = at + 1;
        if let Some((first, last, end)) = line_words_at(text, at + 1) {
            if !covered.iter().any(|&(s, e)| s <= at && at < e) {
                covered.push((at, end));
                found.push(Citation {
                    start: at + 1,
                    end,
                    file: None,
                    first,
                    last,
                });
            }
        }
    }
    // Any other `line N` is a number no test holds the scenario to.
    let mut loose = Vec::new();
    let mut from = 0;
    while let Some(pos) = text[from..].find("line") {
        let at = from + pos;
        from = at + 4;
        let word_start = at == 0 || !text[..at].ends_with(|c: char| c.is_ascii_alphanumeric());
        let rest = &text[at + 4..];
        let rest = rest.strip_prefix('s').unwrap_or(rest);
        let numbered = rest
            .strip_prefix(' ')
            .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()));
        if word_start && numbered && !covered.iter().any(|&(s, e)| s <= at && at < e) {
            loose.push(at);
        }
    }
    for ext in [".yaml:", ".yml:"] {
        let mut from = 0;
        while let Some(pos) = text[from..].find(ext) {
            let at = from + pos;
            from = at + ext.len();
            if digits_at(text, from).is_some() && !covered.iter().any(|&(s, e)| s <= at && at < e) {
                loose.push(at);
            }
        }
    }
    found.sort_by_key(|c| c.start);
    (found, loose)
}

/// The last `code span` that ends before `pos` in the same paragraph.
fn quoted_before(text: &str, pos: usize) -> Option<&str> {
    let para_start = text[..pos].rfind("\n\n").map(|i| i + 2).unwrap_or(0);
    let before = &text[para_start..pos];
    let close = before.rfind('`')?;
    let open = before[..close].rfind('`')?;
    Some(&before[open + 1..close])
}

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Checks every citation of the scenario's lines in the lesson's text: it
/// names the lesson's scenario file, the lines exist, and the code span
/// quoted just before it is written on the (first) line cited.
fn check_references(
    lesson: &Lesson,
    lesson_text: &str,
    scn_file: &str,
    scn_text: &str,
) -> Vec<LessonError> {
    let mut errs = Vec::new();
    let scn_lines: Vec<&str> = scn_text.lines().collect();
    let scn_base = scn_file.rsplit('/').next().unwrap_or(scn_file);
    let mut texts: Vec<(String, u32, &str)> =
        vec![("summary".into(), lesson.id_line, lesson.summary.as_str())];
    for layer in &lesson.layers {
        for (key, value) in layer_texts(layer) {
            texts.push((format!("{key} of layer {}", layer.level), layer.line, value));
        }
    }
    for (key, from_line, text) in texts {
        let (cites, loose) = citations(text);
        let line_of =
            |a: usize, b: usize| locate(lesson_text, &text[a..b], from_line).unwrap_or(from_line);
        for at in loose {
            let end = (at + 24).min(text.len());
            let end = (0..=end)
                .rev()
                .find(|&i| text.is_char_boundary(i))
                .unwrap_or(at);
            errs.push(err_line(
                &lesson.file,
                line_of(at, end),
                format!(
                    "{key} cites a line number nothing checks (`{}`): write it as `QUOTED DECLARATION` ({scn_base} line N)",
                    short(&text[at..end])
                ),
            ));
        }
        for c in cites {
            let cited = &text[c.start..c.end];
            let line = line_of(c.start, c.end);
            if let Some(f) = &c.file {
                let base = f.rsplit('/').next().unwrap_or(f);
                if base != scn_base {
                    errs.push(err_line(
                        &lesson.file,
                        line,
                        format!("{key} cites `{cited}`, but the lesson runs on {scn_base}"),
                    ));
                    continue;
                }
            }
            if c.first == 0 || c.last < c.first || c.last as usize > scn_lines.len() {
                errs.push(err_line(
                    &lesson.file,
                    line,
                    format!(
                        "{key} cites `{cited}`, but {scn_base} has {} lines",
                        scn_lines.len()
                    ),
                ));
                continue;
            }
            let Some(quote) = quoted_before(text, c.start)
                .map(squash)
                .filter(|q| !q.is_empty())
            else {
                errs.push(err_line(
                    &lesson.file,
                    line,
                    format!(
                        "{key} cites `{cited}` without quoting what is written there: put the declaration in backticks just before it"
                    ),
                ));
                continue;
            };
            let written = squash(scn_lines[c.first as usize - 1]);
            if !written.contains(&quote) {
                let actual = scn_lines
                    .iter()
                    .position(|l| squash(l).contains(&quote))
                    .map(|i| format!("; `{quote}` is on line {}", i + 1))
                    .unwrap_or_default();
                errs.push(err_line(
                    &lesson.file,
                    line,
                    format!(
                        "{key} cites `{cited}` for `{quote}`, but line {} of {scn_base} is `{written}`{actual}",
                        c.first
                    ),
                ));
            }
        }
    }
    errs
}

/// The line of `file_text`, at or after `from_line`, where `needle` starts,
/// with any run of white space in the needle matching any run in the file
/// (YAML folds long texts over several lines).
fn locate(file_text: &str, needle: &str, from_line: u32) -> Option<u32> {
    let words: Vec<&str> = needle.split_whitespace().collect();
    let first = *words.first()?;
    let lines: Vec<&str> = file_text.lines().collect();
    let start = (from_line.max(1) as usize - 1).min(lines.len());
    // The words of the file from `start` on, each with its line.
    let mut file_words: Vec<(&str, usize)> = Vec::new();
    for (i, l) in lines.iter().enumerate().skip(start) {
        for w in l.split_whitespace() {
            file_words.push((w, i + 1));
        }
    }
    (0..file_words.len())
        .find(|&i| {
            file_words[i].0.ends_with(first)
                && words.len() <= file_words.len() - i
                && words[1..].iter().zip(&file_words[i + 1..]).enumerate().all(
                    |(k, (w, (fw, _)))| {
                        if k + 2 == words.len() {
                            fw.starts_with(w)
                        } else {
                            fw == w
                        }
                    },
                )
        })
        .map(|i| file_words[i].1 as u32)
}

// ---------------------------------------------------------------------------
// Lessons from a directory.

/// Reads the lessons of a directory, as `pathproof learn --lessons DIR` and
/// `pathproof serve --lessons DIR` do: `files` holds the path and text of
/// every `.yaml`/`.yml` file in `dir` and its subdirectories (the caller reads
/// them; this function does no I/O). A file a lesson names as its `scenario`
/// is that lesson's scenario; every other file directly in `dir` is a lesson;
/// other files in subdirectories are left alone. Each lesson is validated
/// ([`validate`]) and its id and aliases must be new (none of a built-in
/// lesson's, none of another file's). Returns the lessons in file-name order,
/// or every error found.
pub fn from_files(dir: &str, files: &[(String, String)]) -> Result<Vec<Lesson>, Vec<LessonError>> {
    let dir = normalise(dir);
    let mut by_path: BTreeMap<String, &(String, String)> = BTreeMap::new();
    for f in files {
        by_path.insert(normalise(&f.0), f);
    }
    // Which files are scenarios named by a lesson.
    let mut named: BTreeSet<String> = BTreeSet::new();
    for (path, (_, text)) in &by_path {
        if let Some(s) = scenario_key(text).filter(|s| names_a_file(s)) {
            if let Ok(p) = beside(path, &s) {
                named.insert(p);
            }
        }
    }
    let mut errs = Vec::new();
    let mut out: Vec<Lesson> = Vec::new();
    let builtins = all().map_err(|e| vec![e])?;
    for (path, (shown, text)) in &by_path {
        if named.contains(path) || parent_of(path) != dir {
            continue;
        }
        let mut lesson = match parse(shown, text) {
            Ok(l) => l,
            Err(mut e) => {
                // A scenario file that no lesson names is the likelier mistake.
                let looks_like_scenario =
                    serde_saphyr::from_str_with_options::<ScenarioKey>(text, yaml_options())
                        .map(|k| k.layers.is_none() && k.scenario.is_none())
                        .unwrap_or(false);
                if looks_like_scenario {
                    e.message = format!(
                        "{} (this file has no `layers:`: if it is a scenario, name it with `scenario: {}` in a lesson, or move it to a subdirectory)",
                        e.message,
                        path.rsplit('/').next().unwrap_or(path)
                    );
                }
                errs.push(e);
                continue;
            }
        };
        if !lesson.builtin_scenario {
            match by_path.get(&normalise(&lesson.scenario_file)) {
                Some((_, t)) => lesson.attach_scenario(t.clone()),
                None => {
                    errs.push(err_line(
                        shown,
                        lesson.scenario_line,
                        format!(
                            "the scenario file `{}` is not there: the lesson looks for it at {}",
                            lesson.scenario, lesson.scenario_file
                        ),
                    ));
                    continue;
                }
            }
        }
        let mut known: Vec<Lesson> = builtins.clone();
        known.extend(out.iter().cloned());
        if let Some(e) = clash(&known, &lesson) {
            errs.push(e);
            continue;
        }
        let problems = validate(&lesson, text);
        if problems.is_empty() {
            out.push(lesson);
        } else {
            errs.extend(problems);
        }
    }
    if errs.is_empty() {
        Ok(out)
    } else {
        Err(errs)
    }
}

/// The top-level `scenario:` of a file, even when the rest of the file does
/// not parse (so that a broken lesson's scenario file is not taken for a
/// lesson too).
fn scenario_key(text: &str) -> Option<String> {
    if let Ok(k) = serde_saphyr::from_str_with_options::<ScenarioKey>(text, yaml_options()) {
        return k.scenario.map(|s| s.trim().to_string());
    }
    text.lines().find_map(|l| {
        let v = l.strip_prefix("scenario:")?;
        let v = v.split(" #").next().unwrap_or(v).trim();
        let v = v.trim_matches(|c| c == '"' || c == '\'');
        (!v.is_empty()).then(|| v.to_string())
    })
}

// ---------------------------------------------------------------------------
// Finding a lesson by what a learner types.

/// Why no single lesson answers to a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotFound {
    pub message: String,
    pub help: String,
}

/// The lesson a learner means by `query`: its id, one of its aliases, the
/// start of either, or the start of one of their dash-separated words
/// (`ssrf` and `meta` both find `ssrf-metadata`). A query several lessons
/// answer to is ambiguous; one none answers to gets the nearest name.
pub fn find<'a>(lessons: &'a [Lesson], query: &str) -> Result<&'a Lesson, NotFound> {
    let q = query.trim().to_lowercase();
    let names =
        |l: &'a Lesson| std::iter::once(l.id.as_str()).chain(l.aliases.iter().map(String::as_str));
    type Rule = fn(&str, &str) -> bool;
    let rules: [Rule; 3] = [
        |name, q| name == q,
        |name, q| name.starts_with(q),
        |name, q| name.split('-').any(|w| w.starts_with(q)),
    ];
    if !q.is_empty() {
        for rule in rules {
            let hits: Vec<&Lesson> = lessons
                .iter()
                .filter(|l| names(l).any(|n| rule(n, &q)))
                .collect();
            match hits.len() {
                0 => continue,
                1 => return Ok(hits[0]),
                _ => {
                    let ids: Vec<&str> = hits.iter().map(|l| l.id.as_str()).collect();
                    return Err(NotFound {
                        message: format!("`{query}` could be more than one lesson"),
                        help: format!("say which: {}", ids.join(", ")),
                    });
                }
            }
        }
    }
    let all_names: Vec<&str> = lessons.iter().flat_map(names).collect();
    let help = match crate::load::diagnostic::nearest(&q, all_names.iter().copied()) {
        Some(n) => {
            let id = lessons
                .iter()
                .find(|l| names(l).any(|x| x == n))
                .map(|l| l.id.as_str())
                .unwrap_or(n);
            format!("did you mean `{id}`?")
        }
        None => {
            let ids: Vec<&str> = lessons.iter().map(|l| l.id.as_str()).collect();
            format!("lessons: {}", ids.join(", "))
        }
    };
    Err(NotFound {
        message: format!("no lesson named `{query}`"),
        help,
    })
}

// ---------------------------------------------------------------------------
// The words of each layer.

/// A view of the web page that explains itself in the words of each layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum View {
    /// The reachability matrix: sources × hosts.
    Matrix,
    /// The journeys a variant adds and removes.
    Changes,
    /// A host assumed compromised, and what it reaches.
    Attacker,
    /// The scenario's `expect:` journeys, as written and under a variant.
    Expectations,
}

/// Every view, in the order the page shows them.
pub const VIEWS: [View; 4] = [
    View::Matrix,
    View::Changes,
    View::Attacker,
    View::Expectations,
];

/// What a view of the page shows, in the words of one layer (1..=4; other
/// values are clamped). The page puts it at the top of the view.
pub fn view_words(view: View, level: u8) -> &'static str {
    match view {
        View::Matrix => pick(level, [
            "Who can knock on which door. Each row is someone who sends a letter, each column a house with doors someone opens; a tick means at least one letter gets all the way to an open door, a dot means every letter is stopped on the way.",
            "Sources × hosts: a cell lists the listening sockets (protocol and port) that some packet from that source reaches, after routing, NAT and every filter on the path; · means no packet reaches a socket there.",
            "The inventory of allowed flows: each cell is what a port scan from that source would find open, and the rules that let it through. Pick a cell to replay an example journey and see the rule and line that decided.",
            "The set of allowed journeys is the real policy. Read the column of each sensitive host (★): every tick there is a path an attacker who holds that row can use, and each should be intended, owned and held by an `expect:` line.",
        ]),
        View::Changes => pick(level, [
            "What one change to the rule book does: new ways through (+) and ways that are now shut (−), each with the line of the rule book that changed.",
            "The journeys a variant adds (+) and removes (−), computed over every packet, each with the changed declaration (filter rule, NAT rule, route, DNS record) that its traces cite.",
            "The reachability diff a change review needs: a rule that only allows more breaks nothing and raises no alert, so read every + before it ships, and every − for a flow someone still needs.",
            "Each + is authority granted and each − authority revoked. A change that adds journeys to a sensitive host needs an owner and a reason; one that removes them should be kept by an expectation so it cannot quietly return.",
        ]),
        View::Attacker => pick(level, [
            "Pretend a burglar got into one house. From there, which houses can they get into next, and from those? The star houses are the ones that must stay safe.",
            "Assume a host is compromised: every TCP service it reaches gives a foothold, and the walk goes on from each foothold. The shortest path to each sensitive host is listed hop by hop.",
            "Lateral movement as an incident responder sees it: which services a compromised host can open, which rule allows each step, and where a host filter or a narrower rule would cut the path.",
            "Blast radius: the transitive reach of one compromised host. Network position is authority here; every step allowed without authenticating the caller lets the attacker act as the host they took over.",
        ]),
        View::Expectations => pick(level, [
            "The promises in the rule book (`expect:`): journeys that must work and journeys that must never work, tried again each time you flip break or harden.",
            "Each `expect:` journey traced as written and under the variant: how it ends (reached, dropped, refused, …) and whether the variant changes that.",
            "The scenario's regression tests: a journey that appears under a variant is the failing check that should block the change. `pathproof check` holds the same lines in CI.",
            "Expectations turn intended trust boundaries into evidence: a `deny` that is checked on every change is a control; one that is never run is only a diagram.",
        ]),
    }
}

fn pick(level: u8, words: [&'static str; 4]) -> &'static str {
    words[(level.clamp(1, 4) - 1) as usize]
}

/// What a kind of claim means, in the words of one layer (1..=4; other values
/// are clamped). The web page shows this beside each hop's proves/trusts lines.
pub fn fact_words(fact: Fact, level: u8) -> &'static str {
    match fact {
        Fact::SourceAddress => pick(level, [
            "The return address written on the envelope. Anyone can write any return address; a checkpoint can only sometimes tell whether it is real.",
            "The source IP address in the packet header. The sender fills it in; routers do not check it unless reverse-path filtering or a completed TCP handshake backs it up.",
            "The source address your firewall rules, logs and allow lists key on. It is only as good as rp_filter, the handshake, and every NAT between the client and you.",
            "A network location, not an identity. Treat an allow rule on a source address as authorisation only where spoofing is impossible and no NAT or proxy merges many clients into one address.",
        ]),
        Fact::Destination => pick(level, [
            "The address the message is going to. A gate can check it, and a forwarding desk can quietly change it.",
            "The destination IP address (after any DNAT). A filter that names it proves where the packet is headed at this point in the path.",
            "The address after translation: check nft and conntrack for DNAT before you trust what a log line says was dialled.",
            "Where a request lands decides its blast radius. A rule that names the destination narrows it; DNAT can move the target without the client knowing.",
        ]),
        Fact::Service => pick(level, [
            "Which door of the building the message knocks on: the door number.",
            "The protocol and port (tcp/443, udp/53). A rule or a listening socket proves the packet is aimed at that port, not what program answers or what it says.",
            "What `ss -tlnp` shows: the process on the port. A port rule says nothing about which program actually listens there.",
            "A port is a convention, not a guarantee. Anything allowed on a port is reachable by every source the rule admits; inventory what really listens.",
        ]),
        Fact::Connection => pick(level, [
            "The checkpoint remembers letting the first message through, so it lets the answers back without asking again.",
            "A conntrack entry matched: the packet belongs to a connection (5-tuple) the stateful filter already allowed.",
            "`conntrack -L` shows these entries. They outlive a rule change until they time out or you flush them, so an allow you just removed can keep working.",
            "Earlier decisions keep authority after the policy changes. A revocation is only complete when the state that carries old decisions is flushed too.",
        ]),
        Fact::NameMapping => pick(level, [
            "The address book saying which house a name belongs to. If someone changes the book, you visit the wrong house.",
            "A DNS answer mapping a name to an address. Plain DNS is unsigned, and different resolvers can give different answers (split horizon).",
            "What `dig @resolver name` returns from that resolver. Always ask the resolver the client actually uses; the view decides the answer.",
            "Whoever controls the answer controls where requests go. Only server authentication (TLS) turns a poisoned answer into a failed connection rather than a breach.",
        ]),
        Fact::NextHop => pick(level, [
            "The next helper the message is handed to on the same street. Nobody checks the helper's badge.",
            "The neighbour resolved by ARP (IPv4) or neighbour discovery (IPv6) for the next-hop address. Both are unauthenticated.",
            "`ip neigh` shows the mapping. Duplicate-address or spoofing problems on a segment look like random timeouts.",
            "Anyone on the same segment can claim the next hop. Everything one segment shares is one trust zone unless traffic is authenticated end to end.",
        ]),
        Fact::ServerIdentity => pick(level, [
            "A seal only the holder of the name's key can make. It shows who holds the key for the name you asked for; whether that name is the place you meant is the address book's word.",
            "A verified TLS certificate: the server holds the private key for a certificate whose name matches and whose issuer the client trusts.",
            "What `openssl s_client -connect host:port -servername name -verify_hostname name -verify_return_error` checks (without `-verify_hostname`, s_client checks the chain but not the name). With verification off, the handshake succeeds against anyone.",
            "The only hop that binds a name to a key. It moves trust from the network path to the certificate authorities the client trusts, so that trust list is the real perimeter.",
        ]),
        Fact::ClientIdentity => pick(level, [
            "Who is sending the message. An open gate does not know; a gate that checks a badge does.",
            "Who the client is. A packet filter cannot know it; mutual TLS proves it with a client certificate from a trusted CA.",
            "The identity in the client certificate (often a SPIFFE ID). Log it at the server: it is what you authorise on, not the source IP.",
            "Authority should come from a credential the caller holds, issued and revocable per workload. Anything weaker is a network location dressed up as an identity.",
        ]),
        Fact::ClientAddress => pick(level, [
            "A note the helper adds saying who gave it the message. The note is only as honest as every helper who wrote on it.",
            "The X-Forwarded-For header: proxies write the address they saw. A client can write anything in it before the first proxy.",
            "Trust only the entries your own proxies added: take the address your last trusted proxy saw, never the leftmost.",
            "A header is a claim, not evidence. It becomes authority the moment a rate limit, allow list or audit log believes it, so decide exactly which proxy may write it.",
        ]),
        Fact::Confidentiality => pick(level, [
            "The envelope is sealed: nobody on the road can read or change the letter.",
            "Encryption and integrity from TLS. It protects against a man in the middle only if the server was authenticated too.",
            "Verified TLS end to end. Traffic decrypted at a load balancer or proxy is plain text on the next leg.",
            "Secrecy is only as good as the authentication: an encrypted channel to the wrong party leaks everything to that party.",
        ]),
        Fact::Content => pick(level, [
            "What the letter says. Gates that only read the envelope never see it.",
            "The payload. A packet filter reads headers only; the request's meaning is checked, if at all, by the application.",
            "Firewalls allow ports, not requests. Validation, authorisation and logging of what is asked for live in the application or a proxy that reads it.",
            "The attack usually rides inside an allowed connection. Every network control above assumes the application does its own checks.",
        ]),
    }
}

/// What a stage of the journey is, in the words of one layer (1..=4; other values are clamped).
pub fn stage_words(stage: Stage, level: u8) -> &'static str {
    match stage {
        Stage::Resolve => pick(level, [
            "Looking up the name in an address book to find the house number.",
            "DNS resolution: the client's resolver (its view) turns the name into an A or AAAA record.",
            "The resolver the client really uses (`/etc/resolv.conf`, `dig`), with split-horizon views giving different answers inside and out.",
            "The first place a journey can be steered: whoever answers the name decides the destination.",
        ]),
        Stage::Send => pick(level, [
            "The sender writes the addresses on the envelope and posts it.",
            "The sender builds the packet: source and destination address and port, TTL.",
            "The kernel picks the source address from the route and an ephemeral port; the output hook runs.",
            "The sender writes every header field itself; nothing here is evidence yet.",
        ]),
        Stage::Conntrack => pick(level, [
            "The checkpoint looks in its notebook: has it seen this conversation before?",
            "Connection tracking: the packet is classified as new, established or invalid, and NAT is undone for replies.",
            "The conntrack table (`conntrack -L`): what the filter relies on for replies, and what outlives rule changes.",
            "State carried from earlier decisions; it grants passage without re-checking the current policy.",
        ]),
        Stage::Dnat => pick(level, [
            "A forwarding desk changes the address on the envelope to the real house inside.",
            "Destination NAT in prerouting: the destination address (and port) is rewritten, and conntrack remembers it.",
            "Port forwards and load balancer VIPs. Check the nat table (`nft list ruleset`) when a log shows an address nobody dialled.",
            "A published door: every DNAT rule is an entry point to a private host and belongs in the exposure inventory.",
        ]),
        Stage::Martian => pick(level, [
            "The gate throws away an envelope whose return address cannot be anyone's house.",
            "A martian source: the kernel drops a packet whose source can never be a real sender (0.0.0.0, loopback, multicast, broadcast; for IPv6 ::1 and multicast, and :: or link-local when forwarding).",
            "Linux drops martians whatever `rp_filter` says, before any forward rule; `sysctl net.ipv4.conf.all.log_martians=1` logs them.",
            "A free sanity check against crude spoofing: it proves only that the source is not impossible, never who sent the packet.",
        ]),
        Stage::ReversePath => pick(level, [
            "The gate checks that the return address fits the road the letter came in on.",
            "Reverse-path filtering: the route back to the source must use the incoming interface (strict) or exist (loose).",
            "The `rp_filter` sysctl. Strict mode breaks asymmetric routing; loose mode stops little.",
            "Anti-spoofing: what turns a source address from a claim into weak evidence of where the packet came from.",
        ]),
        Stage::Route => pick(level, [
            "Choosing which road to take next, using the signposts.",
            "A routing decision: the longest matching prefix in the routing table picks the next hop and interface.",
            "`ip route get ADDRESS` shows the same choice the kernel makes; default routes hide mistakes.",
            "Routing decides which checkpoints a packet meets at all; a route around a filter is a hole in it.",
        ]),
        Stage::Filter => pick(level, [
            "The checkpoint guard compares the envelope with a list of rules and lets it pass or stops it.",
            "A packet filter: rules in order, first match wins, else the default policy; stateful filters also use conntrack.",
            "The nftables chain (`nft list ruleset`) with counters; the rule number and line tell you which rule decided.",
            "The policy enforcement point: its rules are the written authority, and its log is the evidence trail.",
        ]),
        Stage::Snat => pick(level, [
            "A desk replaces the return address with its own, so the answer comes back to the desk.",
            "Source NAT or masquerade in postrouting: the source address is rewritten to the router's.",
            "Everything after this hop logs the NAT address; map it back with the router's conntrack table.",
            "A visibility gap: downstream logs and rules can no longer tell clients apart.",
        ]),
        Stage::Link => pick(level, [
            "Handing the envelope to the next helper on the same street.",
            "Delivery on one segment to the neighbour that owns the next-hop address (ARP or neighbour discovery).",
            "`ip neigh` and the switch: where a wrong MAC or missing neighbour shows up.",
            "Everyone on a segment can claim an address; a segment is a trust zone.",
        ]),
        Stage::Socket => pick(level, [
            "Someone inside the house opens the door, or nobody is home.",
            "The socket lookup: a process listening on the protocol, port and bind address accepts, else the connection is refused.",
            "What `ss -tlnp` lists: the process, port and bind address (0.0.0.0 versus 127.0.0.1 matters).",
            "The final asset. Anything listening on a reachable address is attack surface, whatever it was meant for.",
        ]),
        Stage::Tls => pick(level, [
            "Checking the seal on the envelope to be sure who you are talking to, and sealing the letters.",
            "The TLS handshake: certificate name and issuer checked against the client's trusted CAs, optionally a client certificate too.",
            "`openssl s_client -servername NAME -verify_hostname NAME -verify_return_error` reproduces it (add `-cert` and `-key` when the server asks for a client certificate); `verify: false` hides every failure.",
            "Where identity enters the journey: names bound to keys by CAs you choose to trust.",
        ]),
        Stage::Proxy => pick(level, [
            "A helper who takes your letter and sends a new one in their own name, with a note saying it came from you.",
            "An HTTP proxy: a second connection from the proxy, with the original client's address only in X-Forwarded-For.",
            "Proxy logs and allow lists; the upstream sees the proxy's address. Check which proxy writes the header.",
            "A point where a network fact becomes a claim: downstream decisions now rest on what the proxy says.",
        ]),
        Stage::Receive => pick(level, [
            "The sender gets the answer back and knows the conversation has started.",
            "The client receives the reply with exactly the reversed addresses and ports; anything else is not its connection.",
            "A reply that never arrives looks like a timeout to the client, even when the request got through.",
            "Success is only known at the sender: a request can have effects even when the reply is lost.",
        ]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fact_and_stage_has_four_distinct_wordings() {
        let facts = [
            Fact::SourceAddress,
            Fact::Destination,
            Fact::Service,
            Fact::Connection,
            Fact::NameMapping,
            Fact::NextHop,
            Fact::ServerIdentity,
            Fact::ClientIdentity,
            Fact::ClientAddress,
            Fact::Confidentiality,
            Fact::Content,
        ];
        for f in facts {
            let w: Vec<&str> = (1..=4).map(|l| fact_words(f, l)).collect();
            for (i, a) in w.iter().enumerate() {
                assert!(!a.is_empty());
                assert!(!w[i + 1..].contains(a), "{f:?} repeats a wording");
            }
        }
        assert_eq!(fact_words(Fact::Content, 9), fact_words(Fact::Content, 4));
        assert_eq!(stage_words(Stage::Tls, 0), stage_words(Stage::Tls, 1));
    }
}
