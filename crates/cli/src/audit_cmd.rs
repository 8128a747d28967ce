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

/// Runs the command, writing the answer to `out` as it is made.
pub fn run(a: &AuditArgs, out: &mut dyn std::io::Write) -> Result<std::io::Result<()>, InputError> {
    let scn = scenario_arg::load(a.scenario.as_deref(), a.variant.as_deref())?;
    let report = audit::audit(&scn);
    let written = match a.format {
        AuditFormat::Text => out.write_all(audit::render_text(&report).as_bytes()),
        AuditFormat::Json => audit::write_json(&report, out),
        AuditFormat::Sarif => audit::write_sarif(&report, out),
    };
    // The process ends with this command (its only caller is `main`):
    // freeing sixty thousand findings is work for nothing.
    std::mem::forget(report);
    Ok(written)
}
