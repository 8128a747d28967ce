//! `pathproof tool nmap|ss|dig|traceroute --from HOST ARGS...`: familiar
//! tools answered by the model (`pathproof_core::tools`). The tool's own
//! options follow its name, as on a real host.

use pathproof_core::tools;

use crate::{scenario_arg, InputError};

#[derive(clap::Args)]
pub struct ToolArgs {
    /// nmap, ss, dig or traceroute.
    #[arg(value_parser = clap::builder::PossibleValuesParser::new(tools::TOOLS))]
    pub tool: String,
    /// The host the tool runs on (a host of the scenario).
    #[arg(long)]
    pub from: Option<String>,
    /// A scenario file, or the name of a built-in scenario (default: mini-lab).
    #[arg(long)]
    pub scenario: Option<String>,
    #[arg(long)]
    pub variant: Option<String>,
    /// The tool's own arguments: `-p 22,443 10.0.2.0/24`, `-ltn`, `@internal api.internal`, `-T -p 443 web`.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    pub args: Vec<String>,
}

/// Takes `--from`, `--scenario` and `--variant` out of the tool's arguments
/// too, wherever they were written.
fn take(args: &mut Vec<String>, flag: &str) -> Option<String> {
    let i = args
        .iter()
        .position(|a| a == flag || a.starts_with(&format!("{flag}=")))?;
    let a = args.remove(i);
    match a.split_once('=') {
        Some((_, v)) => Some(v.to_string()),
        None if i < args.len() => Some(args.remove(i)),
        None => None,
    }
}

pub fn run(a: ToolArgs) -> Result<String, InputError> {
    let mut args = a.args;
    let from = a.from.or_else(|| take(&mut args, "--from"));
    let scenario = a.scenario.or_else(|| take(&mut args, "--scenario"));
    let variant = a.variant.or_else(|| take(&mut args, "--variant"));
    let Some(from) = from else {
        return Err(InputError(format!(
            "error: `pathproof tool {}` needs --from HOST: the host it runs on\n",
            a.tool
        )));
    };
    let scn = scenario_arg::load(scenario.as_deref(), variant.as_deref())?;
    tools::run(&scn, &a.tool, &from, &args).map_err(|e| {
        let help = e.help.map(|h| format!("  help: {h}\n")).unwrap_or_default();
        InputError(format!("error: {}\n{help}", e.message))
    })
}
