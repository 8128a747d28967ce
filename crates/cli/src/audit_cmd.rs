//! `pathproof audit`: exposure findings, worst first.

use clap::ValueEnum;

use pathproof_core::analysis::audit;

use crate::{scenario_arg, InputError};

#[derive(clap::Args)]
pub struct AuditArgs {
    /// A scenario file, or the name of a built-in scenario (default: mini-lab).
    scenario: Option<String>,
    /// Apply one of the scenario's variants (such as break or harden).
    #[arg(long)]
    variant: Option<String>,
    #[arg(long, value_enum, default_value = "text")]
    format: AuditFormat,
}

#[derive(Clone, Copy, ValueEnum)]
enum AuditFormat {
    Text,
    Json,
    Sarif,
}

/// Runs the command; returns what to print.
pub fn run(a: &AuditArgs) -> Result<String, InputError> {
    let scn = scenario_arg::load(a.scenario.as_deref(), a.variant.as_deref())?;
    let report = audit::audit(&scn);
    Ok(match a.format {
        AuditFormat::Text => audit::render_text(&report),
        AuditFormat::Json => audit::render_json(&report),
        AuditFormat::Sarif => audit::render_sarif(&report),
    })
}
