//! `pathproof simulate`: traffic over time on a scenario's network. Legitimate
//! clients, SYN floods, HTTP floods, credential stuffing and UDP floods and
//! reflections meet links with a capacity and a queue, conntrack tables, rate
//! limiters and the kernel's TCP listener (SYN queue, accept queue, SYN
//! cookies), second by second, and every drop is named in the kernel's or the
//! limiter's own terms.
//!
//! The way each flow's packets take is not decided here: every flow is
//! traced by the engine (`pathproof_core::trace`) and the simulation runs
//! its packets through the places that trace passes. This crate does no I/O
//! and reads no clock; a seed gives byte-identical output. See
//! docs/semantics.md ("Traffic over time") for the model and the kernel
//! version each rule matches.

pub mod engine;
pub mod journey;
pub mod lessons;
pub mod limit;
pub mod listener;
pub mod network;
pub mod render;
pub mod report;
pub mod rng;

pub use engine::Options;
pub use report::Run;

use pathproof_core::model::Scenario;

/// A question the scenario cannot answer: no traffic section, or a flow the
/// tracer cannot follow. `line` and `column` point at the declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimError {
    pub message: String,
    pub help: Option<String>,
    pub line: u32,
    pub column: u32,
}

impl std::fmt::Display for SimError {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "{}", self.message)?;
        if let Some(h) = &self.help {
            write!(f, "\n  help: {h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SimError {}

/// Runs the scenario's `traffic:` section.
pub fn simulate(scn: &Scenario, opts: &Options) -> Result<Run, SimError> {
    let Some(traffic) = &scn.traffic else {
        return Err(SimError {
            message: format!("scenario `{}` has no `traffic:` section", scn.name),
            help: Some(
                "add one (docs/scenario.md, \"traffic\"), or try the built-in syn-flood or login-limits"
                    .into(),
            ),
            line: 1,
            column: 1,
        });
    };
    if traffic.flows.is_empty() {
        return Err(SimError {
            message: "the traffic section has no flows".into(),
            help: Some("add `flows:` with at least one flow".into()),
            line: traffic.origin.line,
            column: traffic.origin.column,
        });
    }
    let plan = journey::plan(scn, traffic)?;
    Ok(engine::run(scn, traffic, &plan, opts))
}
