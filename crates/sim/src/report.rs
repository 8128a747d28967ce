//! The answer of `simulate`: one value, second by second, that the text,
//! JSON, CSV and SVG views render. Its JSON shape is documented in
//! docs/json.md ("simulate"). Every number is a count or a time the run
//! produced; nothing here is computed again by a view.

use serde::Serialize;

use pathproof_core::evidence::Trace;

use crate::listener::Counters;

/// The version of the JSON shape; bumped on any incompatible change.
pub const SCHEMA: u32 = 1;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Run {
    pub schema: u32,
    pub scenario: String,
    pub file: String,
    pub variant: Option<String>,
    pub seconds: u32,
    pub seed: u64,
    /// The length of one step of the simulation, in microseconds.
    pub tick_us: u64,
    pub flows: Vec<FlowReport>,
    pub listeners: Vec<ListenerReport>,
    pub links: Vec<LinkReport>,
    pub conntrack: Vec<TableReport>,
    pub limiters: Vec<LimiterReport>,
}

/// What became of a flow's attempts (or packets), in one place.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Outcome {
    /// A stable key: `served`, `syn_cookie`, `syn_queue_full`, `link_saturated`, ...
    pub key: String,
    /// In the kernel's or the limiter's own words.
    pub what: String,
    /// Where: a listener, a link, a device, a limiter.
    pub at: String,
    /// Whether this outcome counts as success for the flow.
    pub ok: bool,
    pub count: u64,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FlowSecond {
    pub offered: u64,
    pub ok: u64,
    pub failed: u64,
    /// Counts per outcome, in the order of the flow's `outcomes`.
    pub outcomes: Vec<u64>,
    /// The median latency of the attempts that succeeded this second (ms).
    pub p50_ms: Option<f64>,
}

/// One class of a flow's sources and the journey the tracer gave it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ClassReport {
    /// The addresses it stands for (`203.0.113.1-203.0.113.100`, `forged: 0.0.0.0-9.255.255.255`).
    pub sources: String,
    /// Its share of the flow's attempts.
    pub share: f64,
    /// The places in time it passes, in order.
    pub stations: Vec<String>,
    pub trace: Trace,
    /// A reflection's second leg: the reflector's answer to the victim.
    pub answer_trace: Option<Trace>,
}

/// One sampled connection of a second: what happened to it, place by place.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Story {
    pub second: u32,
    pub class: usize,
    pub source: String,
    pub account: Option<String>,
    pub events: Vec<StoryEvent>,
    /// `served`, `failed` or `pending`.
    pub end: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StoryEvent {
    /// Milliseconds since the connection started.
    pub ms: f64,
    pub at: String,
    pub what: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FlowReport {
    pub name: String,
    pub kind: String,
    pub legitimate: bool,
    pub from: String,
    pub to: String,
    pub rate: f64,
    pub sources: String,
    pub offered: u64,
    pub ok: u64,
    pub failed: u64,
    /// Attempts still under way when the run ended.
    pub pending: u64,
    /// ok / (ok + failed), when anything finished.
    pub success_rate: Option<f64>,
    pub latency_ms: Option<Percentiles>,
    pub outcomes: Vec<Outcome>,
    pub per_second: Vec<FlowSecond>,
    pub classes: Vec<ClassReport>,
    /// For connection flows: the first connection started in each second.
    pub stories: Vec<Story>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ListenerSecond {
    pub syn_queue: u64,
    pub syn_queue_max: u64,
    pub accept_queue: u64,
    pub counters: Counters,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ListenerReport {
    pub name: String,
    /// min(listen() backlog, somaxconn).
    pub backlog: u64,
    pub tcp_syncookies: u8,
    pub tcp_max_syn_backlog: u64,
    pub tcp_synack_retries: u32,
    pub accept_rate: Option<f64>,
    pub counters: Counters,
    pub per_second: Vec<ListenerSecond>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LinkSecond {
    /// Share of the capacity used, 0 to 1.
    pub utilization: f64,
    pub queue_max: f64,
    pub dropped: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LinkReport {
    pub name: String,
    pub capacity_bps: f64,
    pub queue_packets: u32,
    pub passed: u64,
    pub dropped: u64,
    pub per_second: Vec<LinkSecond>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TableSecond {
    pub entries: u64,
    pub dropped: u64,
    pub early_drops: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TableReport {
    pub host: String,
    pub max: u64,
    pub dropped: u64,
    pub early_drops: u64,
    pub per_second: Vec<TableSecond>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LimiterSecond {
    pub allowed: u64,
    pub limited: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LimiterReport {
    pub name: String,
    pub algorithm: String,
    /// The parameters as the scenario gives them, in words.
    pub rule: String,
    pub key: String,
    pub at: String,
    pub answer: String,
    pub allowed: u64,
    pub limited: u64,
    /// The first request it refused, in its own words.
    pub first_refusal: Option<String>,
    pub per_second: Vec<LimiterSecond>,
}
