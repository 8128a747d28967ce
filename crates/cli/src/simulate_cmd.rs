//! `pathproof simulate`: the scenario's `traffic:` section, second by second.

use clap::ValueEnum;

use pathproof_core::load::Problem;
use pathproof_core::model::Span;
use pathproof_core::LoadError;
use pathproof_sim::{render, Options, SimError};

use crate::{diagnostics, scenario_arg, InputError};

#[derive(clap::Args)]
pub struct SimulateArgs {
    /// A scenario file with a `traffic:` section, or a built-in one (syn-flood, login-limits, ...).
    scenario: Option<String>,
    /// How many seconds to simulate (default: the section's `seconds`).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=3600))]
    seconds: Option<u32>,
    /// Apply one of the scenario's variants (such as break or harden).
    #[arg(long)]
    variant: Option<String>,
    /// The seed of every random draw (default: the section's `seed`); the
    /// same seed gives the same output, byte for byte.
    #[arg(long)]
    seed: Option<u64>,
    #[arg(long, value_enum, default_value = "text")]
    format: SimulateFormat,
}

#[derive(Clone, Copy, ValueEnum)]
enum SimulateFormat {
    Text,
    Json,
    Csv,
    Svg,
}

/// A simulation error at a line of the scenario, shown like a load problem.
fn sim_error(file: &str, text: &str, e: &SimError) -> String {
    let mut offset = 0usize;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if i + 1 == e.line as usize {
            offset += line
                .char_indices()
                .nth(e.column.saturating_sub(1) as usize)
                .map_or(0, |(b, _)| b);
            break;
        }
        offset += line.len();
    }
    let len = text[offset.min(text.len())..]
        .find([':', '\n'])
        .unwrap_or(0);
    let err = LoadError {
        file: file.to_string(),
        source_text: text.to_string(),
        problems: vec![Problem {
            message: e.message.clone(),
            span: Span::new(offset as u32, len as u32),
            label: "declared here".into(),
            help: e.help.clone(),
            line: e.line,
            column: e.column,
        }],
    };
    diagnostics::load_error(&err)
}

/// Runs the command; returns what to print.
pub fn run(a: &SimulateArgs) -> Result<String, InputError> {
    let (file, text) = scenario_arg::load_text(a.scenario.as_deref())?;
    let scn = pathproof_core::load(&file, &text, a.variant.as_deref())
        .map_err(|e| InputError(diagnostics::load_error(&e)))?;
    let opts = Options {
        seconds: a.seconds,
        seed: a.seed,
    };
    let run = pathproof_sim::simulate(&scn, &opts)
        .map_err(|e| InputError(sim_error(&file, &text, &e)))?;
    Ok(match a.format {
        SimulateFormat::Text => render::text(&run),
        SimulateFormat::Json => render::json(&run),
        SimulateFormat::Csv => render::csv(&run),
        SimulateFormat::Svg => render::svg(&run),
    })
}
