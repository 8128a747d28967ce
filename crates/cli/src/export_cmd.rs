//! `pathproof export nft`: the nftables rule set a scenario's filters and NAT
//! rules compile to (the same text `pathproof lab up` loads).

use crate::{scenario_arg, InputError};

pub fn nft(
    scenario: Option<&str>,
    variant: Option<&str>,
    host: Option<&str>,
) -> Result<String, InputError> {
    let scn = scenario_arg::load(scenario, variant)?;
    pathproof_lab::nft::export(&scn, host).map_err(|e| InputError(format!("error: {e}\n")))
}

#[derive(clap::Subcommand)]
pub enum ExportCommand {
    /// The nftables rule set each host's filters and NAT rules compile to (`nft -f` accepts it).
    Nft {
        /// A scenario file, or the name of a built-in scenario (default: mini-lab).
        scenario: Option<String>,
        /// Apply one of the scenario's variants.
        #[arg(long)]
        variant: Option<String>,
        /// Only this host's rule set.
        #[arg(long)]
        host: Option<String>,
    },
}

pub fn run(cmd: ExportCommand) -> Result<String, InputError> {
    match cmd {
        ExportCommand::Nft {
            scenario,
            variant,
            host,
        } => nft(scenario.as_deref(), variant.as_deref(), host.as_deref()),
    }
}
