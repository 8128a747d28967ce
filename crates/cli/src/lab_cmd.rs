//! `pathproof lab ...`: the real lab on Linux network namespaces (docs/lab.md).

use clap::Subcommand;

use pathproof_lab::{lab, names, probe, report};

use crate::{scenario_arg, InputError};

#[derive(Subcommand)]
pub enum LabCommand {
    /// Build the scenario in network namespaces, with nftables and real services (root).
    Up {
        /// A scenario file, or the name of a built-in scenario (default: mini-lab).
        scenario: Option<String>,
        /// Apply one of the scenario's variants (such as break or harden).
        #[arg(long)]
        variant: Option<String>,
        /// The lab's name (default: the scenario's name); namespaces are called pp-LAB.HOST.
        #[arg(long)]
        lab: Option<String>,
    },
    /// Make every journey for real and set it beside the model's prediction.
    Probe {
        /// The scenario the lab was built from (default: mini-lab); names the lab.
        scenario: Option<String>,
        #[arg(long)]
        lab: Option<String>,
        #[arg(long, value_enum, default_value = "text")]
        format: ProbeFormat,
    },
    /// One real journey, with the kernel's nft rule trace beside the model's hops (exit 1 when they disagree).
    Trace {
        /// The scenario the lab was built from (default: mini-lab); names the lab.
        scenario: Option<String>,
        #[arg(long)]
        lab: Option<String>,
        /// The source host.
        #[arg(long)]
        from: String,
        /// A host, an address or a DNS name, with :PORT (no port for icmp).
        #[arg(long)]
        to: String,
        /// tcp, udp or icmp (a ping).
        #[arg(long, default_value = "tcp")]
        proto: String,
        /// Through this forward proxy.
        #[arg(long)]
        via: Option<String>,
    },
    /// Remove every namespace, link and rule set the lab made, and its services.
    Down {
        /// The scenario the lab was built from (default: mini-lab); names the lab.
        scenario: Option<String>,
        #[arg(long)]
        lab: Option<String>,
    },
    /// The lab's supervisor (started by `lab up`).
    #[command(hide = true)]
    Supervise {
        #[arg(long)]
        lab: String,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum ProbeFormat {
    Text,
    Json,
}

fn err(e: String) -> InputError {
    InputError(format!("error: {e}\n"))
}

/// The lab name: given, else the scenario's name (from the file or built-in).
fn lab_name(scenario: Option<&str>, lab: Option<&str>) -> Result<String, InputError> {
    let name = match lab {
        Some(l) => l.to_string(),
        None => {
            let scn = scenario_arg::load(scenario, None)?;
            names::token(&scn.name)
        }
    };
    names::check_lab_name(&name).map_err(err)?;
    Ok(name)
}

/// Runs a lab subcommand; returns what to print and whether it succeeded.
pub fn run(cmd: LabCommand) -> Result<(String, bool), InputError> {
    match cmd {
        LabCommand::Up {
            scenario,
            variant,
            lab: l,
        } => {
            let (file, text) = scenario_arg::load_text(scenario.as_deref())?;
            // Load once here so a bad scenario or variant is reported in full.
            scenario_arg::load(scenario.as_deref(), variant.as_deref())?;
            let name = lab_name(scenario.as_deref(), l.as_deref())?;
            let files = scenario_arg::read_files(&file, &text)?;
            let spec = lab::LabSpec {
                lab: name,
                file,
                text,
                variant,
                files,
            };
            let exe = std::env::current_exe()
                .map_err(|e| err(format!("cannot find my own binary: {e}")))?;
            let sup = lab::SupervisorCmd {
                program: exe,
                args: vec!["lab".into(), "supervise".into()],
            };
            // Ctrl-C takes down what was made so far.
            let r = lab::up_interruptible(&spec, &sup).map_err(err)?;
            Ok((
                format!(
                    "lab {} is up: {} namespaces, {} interfaces, {} rule sets, {} sockets ({} ms)\n",
                    r.lab, r.namespaces, r.links, r.rulesets, r.sockets, r.millis
                ),
                true,
            ))
        }
        LabCommand::Probe {
            scenario,
            lab: l,
            format,
        } => {
            let name = lab_name(scenario.as_deref(), l.as_deref())?;
            // Locked for the whole probe; a lab that `up` did not finish,
            // or that lost a part since, is an error (exit 2) naming what
            // is missing and how to recover.
            let lab::OpenLab {
                lock: _lock,
                plan,
                scn,
                ..
            } = lab::open(&name).map_err(err)?;
            let (jobs, not_probed) = probe::plan_jobs(&scn);
            let mut results = probe::probe(&scn, &plan, jobs).map_err(err)?;
            let ok = results.iter().all(|r| r.agree);
            // Each disagreement (the first few) is made again with the
            // kernel's rule trace on.
            pathproof_lab::ktrace::explain(
                &scn,
                &plan,
                &mut results,
                pathproof_lab::ktrace::EXPLAIN_AT_MOST,
            );
            let out = match format {
                ProbeFormat::Text => report::text(&name, &results, &not_probed),
                ProbeFormat::Json => report::json(&name, &results, &not_probed),
            };
            Ok((out, ok))
        }
        LabCommand::Trace {
            scenario,
            lab: l,
            from,
            to,
            proto,
            via,
        } => {
            let name = lab_name(scenario.as_deref(), l.as_deref())?;
            let proto = pathproof_core::model::Proto::parse(&proto)
                .ok_or_else(|| err(format!("--proto must be tcp, udp or icmp, not `{proto}`")))?;
            // Exit 1 when the kernel and the model disagree.
            pathproof_lab::ktrace::trace(&name, &from, &to, proto, via.as_deref()).map_err(err)
        }
        LabCommand::Down { scenario, lab: l } => {
            let name = lab_name(scenario.as_deref(), l.as_deref())?;
            lab::preflight().map_err(err)?;
            let r = lab::down(&name).map_err(err)?;
            Ok((
                format!(
                    "lab {} is down: removed {} namespaces{}\n",
                    r.lab,
                    r.removed_namespaces.len(),
                    r.stopped_supervisor
                        .map(|p| format!(", stopped supervisor {p}"))
                        .unwrap_or_default()
                ),
                true,
            ))
        }
        LabCommand::Supervise { lab: l } => {
            pathproof_lab::services::supervise(&l).map_err(err)?;
            Ok((String::new(), true))
        }
    }
}
