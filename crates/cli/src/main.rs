//! The pathproof command line: parses flags, loads the scenario, calls the
//! engine, prints one of the engine's renderings. No analysis happens here.

mod allocator;
mod audit_cmd;
mod diagnostics;
mod diff_cmd;
mod export_cmd;
mod filter_cmd;
mod import_cmd;
mod lab_cmd;
mod learn_cmd;
mod reach_cmd;
mod scenario_arg;
mod serve_cmd;
mod simulate_cmd;
mod tool_cmd;

use clap::{Parser, Subcommand, ValueEnum};
use std::process::ExitCode;

use pathproof_core::analysis::reach_table;
use pathproof_core::model::Proto;
use pathproof_core::{examples, render, Query};

#[derive(Parser)]
#[command(
    name = "pathproof",
    version,
    about = "See, prove and break the journeys your network allows."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The web page: the topology, journeys played hop by hop, variants (127.0.0.1 only).
    Serve {
        /// A scenario file, or the name of a built-in scenario (default: mini-lab).
        scenario: Option<String>,
        /// The port to listen on (0 picks a free one).
        #[arg(long, default_value_t = pathproof_web::DEFAULT_PORT)]
        port: u16,
        /// A directory of extra lessons (and the scenario files they name), beside the built-in ones.
        #[arg(long, value_name = "DIR")]
        lessons: Option<String>,
        #[command(flatten)]
        limits: serve_cmd::LimitArgs,
    },
    /// Follow one journey hop by hop, with what each checkpoint proves and takes on trust.
    Trace(TraceArgs),
    /// Test packets against a real iptables-save or nft rule set, with netfilter's semantics;
    /// or every packet of a capture (`--pcap`), or which captured flows a change to a rule set
    /// changes (`filter OLD NEW --pcap FILE`).
    Filter {
        /// The rule set: `iptables-save` output or `nft list ruleset` output.
        ruleset: String,
        /// With --pcap: the changed rule set, to compare with the first.
        #[arg(requires = "pcap")]
        new_ruleset: Option<String>,
        /// One packet: `PROTO SRC[:PORT] -> DST[:PORT] [in IFACE] [out IFACE] [state S] [hook H]`.
        #[arg(long, conflicts_with_all = ["packets", "pcap"])]
        packet: Option<String>,
        /// A file of packets, one per line (blank lines and `#` comments are skipped),
        /// read, decided and printed in chunks on every core, in the file's order, in
        /// memory that does not grow with the file. At a line that is not a packet the
        /// command stops: the packets before it are printed, the line is reported
        /// (FILE:LINE:COLUMN and what was expected) and the exit code is 2.
        #[arg(long, conflicts_with = "pcap")]
        packets: Option<String>,
        /// With --packets: read the whole file first, and print nothing (exit 2, every
        /// bad line reported, up to 20) unless every line is a packet or blank or a comment.
        #[arg(long, requires = "packets")]
        strict: bool,
        /// A capture (pcap or pcapng): every packet, with the conntrack state the capture gives it.
        #[arg(long, value_name = "FILE")]
        pcap: Option<String>,
        /// With --pcap: the hook every packet is evaluated at (default: input; with a Linux
        /// cooked capture, what the host sent is output).
        #[arg(long, value_enum, requires = "pcap")]
        hook: Option<HookArg>,
        /// With --pcap: the input interface name every packet has.
        #[arg(long = "in", value_name = "IFACE", requires = "pcap")]
        in_iface: Option<String>,
        /// With --pcap: the output interface name every packet has.
        #[arg(long = "out", value_name = "IFACE", requires = "pcap")]
        out_iface: Option<String>,
        #[arg(long, value_enum, default_value = "text")]
        format: ListFormat,
    },
    /// Every journey the scenario allows: who reaches which socket, on which packets, by which rules.
    Reach {
        /// A scenario file, or the name of a built-in scenario (default: mini-lab).
        scenario: Option<String>,
        /// Only journeys from this host or network.
        #[arg(long)]
        from: Option<String>,
        /// Only journeys to sockets on this host (or the hosts of this network).
        #[arg(long)]
        to: Option<String>,
        /// Blast radius: what an attacker who owns the `--from` host reaches, hop after hop,
        /// with the shortest attack path to each sensitive host.
        #[arg(long, requires = "from")]
        foothold: bool,
        #[arg(long)]
        variant: Option<String>,
        /// table, json or csv; with --foothold: table (text), json or mermaid.
        #[arg(long, value_enum, default_value = "table")]
        format: ReachFormat,
        /// The table's rows: `sockets` (a block per socket, alike sockets of one
        /// network together), `networks` (a row per service on a network and the
        /// networks it is reached from), or `auto` (sockets up to 100 of them).
        #[arg(long, value_enum, default_value = "auto")]
        view: ReachView,
        /// JSON and CSV one (sources, socket) pair at a time, as before
        /// classes of journeys (JSON schema 1); grows with the pairs.
        #[arg(long)]
        pairs: bool,
    },
    /// Evaluate the scenario's `expect:` lines; exit 1 when one does not hold.
    Check {
        /// A scenario file, or the name of a built-in scenario (default: mini-lab).
        scenario: Option<String>,
        #[arg(long)]
        variant: Option<String>,
        #[arg(long, value_enum, default_value = "text")]
        format: CheckFormat,
    },
    /// The real lab: build the scenario in Linux network namespaces, probe it, take it down (root).
    Lab {
        #[command(subcommand)]
        cmd: lab_cmd::LabCommand,
    },
    /// Real configurations as a scenario: `import k8s PATH...`, `import aws DIR`, `import hosts NAME=DIR...` (docs/import.md).
    Import {
        #[command(subcommand)]
        what: import_cmd::ImportCommand,
    },
    /// Export what the scenario compiles to (`export nft`).
    Export {
        #[command(subcommand)]
        what: export_cmd::ExportCommand,
    },
    /// The lessons: one journey told four ways, with live predict-then-see traces.
    Learn {
        /// A lesson id, alias or the unambiguous start of one (without it, the list of lessons).
        lesson: Option<String>,
        /// 1 school student, 2 university student, 3 engineer, 4 security architect.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=4))]
        layer: u8,
        /// A directory of extra lessons (and the scenario files they name), beside the built-in ones.
        #[arg(long, value_name = "DIR")]
        lessons: Option<String>,
        /// Ask each predict-then-see question, read the prediction on standard input,
        /// then show the engine's answer and whether the guess was right.
        #[arg(long, requires = "lesson")]
        quiz: bool,
    },
    /// Familiar tools answered by the model: nmap, ss, dig, traceroute, run on a host.
    Tool(tool_cmd::ToolArgs),
    /// Exposure findings, worst first, each with the journey that proves it and a fix.
    Audit(audit_cmd::AuditArgs),
    /// The journeys a change adds and removes: `diff OLD NEW` or `diff SCENARIO --variant V`.
    Diff(diff_cmd::DiffArgs),
    /// Traffic over time: floods, rate limits and the kernel's queues, second by second.
    Simulate(simulate_cmd::SimulateArgs),
    /// List the built-in scenarios.
    Examples {
        #[arg(long, value_enum, default_value = "text")]
        format: ListFormat,
    },
}

#[derive(clap::Args)]
struct TraceArgs {
    /// A scenario file, or the name of a built-in scenario (default: mini-lab).
    scenario: Option<String>,
    /// Where the journey starts: a host, a network, NETWORK@ADDRESS, or an address.
    #[arg(long)]
    from: String,
    /// Where it goes: a host, an address or a DNS name, with :PORT.
    #[arg(long)]
    to: String,
    #[arg(long, value_enum, default_value = "tcp")]
    proto: ProtoArg,
    /// The destination port, if `--to` has none.
    #[arg(long)]
    port: Option<u16>,
    /// The client's source port.
    #[arg(long)]
    sport: Option<u16>,
    /// Go through this forward proxy.
    #[arg(long)]
    via: Option<String>,
    /// Prefer IPv6 (AAAA records and IPv6 addresses).
    #[arg(short = '6', long)]
    ipv6: bool,
    /// The packet belongs to a connection opened earlier (a conntrack entry
    /// already exists on every device, whatever the rules say now).
    #[arg(long)]
    established: bool,
    /// Apply one of the scenario's variants (such as break or harden).
    #[arg(long)]
    variant: Option<String>,
    #[arg(long, value_enum, default_value = "text")]
    format: TraceFormat,
}

#[derive(Clone, Copy, ValueEnum)]
enum ProtoArg {
    Tcp,
    Udp,
    Icmp,
    Sctp,
}

#[derive(Clone, Copy, ValueEnum)]
enum TraceFormat {
    Text,
    Json,
    Mermaid,
}

#[derive(Clone, Copy, ValueEnum)]
enum ReachFormat {
    Table,
    Json,
    Csv,
    Mermaid,
}

#[derive(Clone, Copy, ValueEnum)]
enum ReachView {
    Auto,
    Sockets,
    Networks,
}

#[derive(Clone, Copy, ValueEnum)]
enum CheckFormat {
    Text,
    Json,
    Junit,
    Sarif,
}

#[derive(Clone, Copy, ValueEnum)]
enum ListFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum HookArg {
    Input,
    Forward,
    Output,
}

/// Writes a command's answer to standard output. A reader that goes away
/// (`pathproof reach | head`) ends the output quietly, as with other Unix
/// tools, instead of a panic; another write error is reported.
fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    written(out.write_all(text.as_bytes()).and_then(|()| out.flush()));
}

/// How writing the answer ended: quietly when the reader went away.
fn written(result: std::io::Result<()>) {
    match result {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => {
            eprintln!("pathproof: cannot write the output: {e}");
            std::process::exit(1);
        }
    }
}

fn main() -> ExitCode {
    allocator::keep_freed_memory();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprint!("{e}");
            ExitCode::from(2)
        }
    }
}

/// An input error, already rendered for the terminal.
struct InputError(String);

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn run(cli: Cli) -> Result<ExitCode, InputError> {
    match cli.command {
        Command::Serve {
            scenario,
            port,
            lessons,
            limits,
        } => {
            serve_cmd::run(scenario.as_deref(), port, lessons.as_deref(), &limits)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Trace(a) => {
            let scn = scenario_arg::load(a.scenario.as_deref(), a.variant.as_deref())?;
            let q = Query {
                from: a.from,
                to: a.to,
                proto: match a.proto {
                    ProtoArg::Tcp => Proto::Tcp,
                    ProtoArg::Udp => Proto::Udp,
                    ProtoArg::Icmp => Proto::Icmp,
                    ProtoArg::Sctp => Proto::Sctp,
                },
                port: a.port,
                via: a.via,
                sport: a.sport,
                ipv6: a.ipv6,
                established: a.established,
            };
            let t = pathproof_core::trace(&scn, &q)
                .map_err(|e| InputError(diagnostics::query_error(&e)))?;
            let out = match a.format {
                TraceFormat::Text => render::trace_text(&t),
                TraceFormat::Json => render::trace_json(&t),
                TraceFormat::Mermaid => render::trace_mermaid(&t),
            };
            emit(&out);
            Ok(ExitCode::SUCCESS)
        }
        Command::Filter {
            ruleset,
            new_ruleset,
            packet,
            packets,
            pcap: Some(pcap),
            hook,
            in_iface,
            out_iface,
            format,
            ..
        } => {
            let options = pathproof_rulesets::capture::CaptureOptions {
                hook: hook.map(|h| match h {
                    HookArg::Input => pathproof_rulesets::Hook::Input,
                    HookArg::Forward => pathproof_rulesets::Hook::Forward,
                    HookArg::Output => pathproof_rulesets::Hook::Output,
                }),
                in_iface,
                out_iface,
            };
            let _ = (packet, packets);
            let json = matches!(format, ListFormat::Json);
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let r = match &new_ruleset {
                None => filter_cmd::run_pcap(&ruleset, &pcap, options, json, &mut out),
                Some(new) => {
                    filter_cmd::run_pcap_diff(&ruleset, new, &pcap, options, json, &mut out)
                }
            };
            written(std::io::Write::flush(&mut out));
            r?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Filter {
            ruleset,
            packets: Some(packets),
            strict,
            format,
            ..
        } => {
            let bad = if strict {
                filter_cmd::BadLines::Strict
            } else {
                filter_cmd::BadLines::Stop
            };
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::with_capacity(256 * 1024, stdout.lock());
            let r = filter_cmd::run_stream(
                &ruleset,
                &packets,
                matches!(format, ListFormat::Json),
                bad,
                &pathproof_rulesets::stream::StreamOptions::default(),
                &mut out,
            );
            written(std::io::Write::flush(&mut out));
            r?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Filter {
            ruleset,
            packet: Some(packet),
            format,
            ..
        } => {
            let out = filter_cmd::run(&ruleset, &packet, matches!(format, ListFormat::Json))?;
            emit(&out);
            Ok(ExitCode::SUCCESS)
        }
        Command::Filter { .. } => Err(InputError(
            "error: give exactly one of --packet \"...\" or --packets FILE\n".into(),
        )),
        Command::Reach {
            scenario,
            from,
            to,
            foothold,
            variant,
            format,
            view,
            pairs,
        } => {
            let scn = scenario_arg::load(scenario.as_deref(), variant.as_deref())?;
            let view = match view {
                ReachView::Auto => reach_table::View::Auto,
                ReachView::Sockets => reach_table::View::Sockets,
                ReachView::Networks => reach_table::View::Networks,
            };
            let format = match format {
                ReachFormat::Table => "table",
                ReachFormat::Json => "json",
                ReachFormat::Csv => "csv",
                ReachFormat::Mermaid => "mermaid",
            };
            if matches!(format, "json" | "csv") && !foothold {
                // Written as it is made: the answer for a large scenario is
                // gigabytes.
                use std::io::Write;
                let mut out = std::io::BufWriter::new(std::io::stdout().lock());
                let result = reach_cmd::reach_to(
                    &scn,
                    from.as_deref(),
                    to.as_deref(),
                    format,
                    pairs,
                    &mut out,
                )?;
                written(result.and_then(|()| out.flush()));
                return Ok(ExitCode::SUCCESS);
            }
            let out = if foothold {
                reach_cmd::foothold(&scn, from.as_deref().unwrap_or_default(), format)?
            } else {
                reach_cmd::reach(&scn, from.as_deref(), to.as_deref(), format, view)?
            };
            emit(&out);
            Ok(ExitCode::SUCCESS)
        }
        Command::Check {
            scenario,
            variant,
            format,
        } => {
            let scn = scenario_arg::load(scenario.as_deref(), variant.as_deref())?;
            let format = match format {
                CheckFormat::Text => "text",
                CheckFormat::Json => "json",
                CheckFormat::Junit => "junit",
                CheckFormat::Sarif => "sarif",
            };
            let (out, ok) = reach_cmd::check(&scn, format);
            emit(&out);
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Lab { cmd } => {
            let (out, ok) = lab_cmd::run(cmd)?;
            emit(&out);
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Import { what } => {
            emit(&import_cmd::run(what)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Export { what } => {
            emit(&export_cmd::run(what)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Learn {
            lesson,
            layer,
            lessons,
            quiz,
        } => {
            let all = learn_cmd::load(lessons.as_deref())?;
            if quiz {
                let id = lesson.unwrap_or_default();
                let stdin = std::io::stdin();
                let mut input = stdin.lock();
                let mut out = std::io::stdout().lock();
                // Typed answers are echoed by the terminal; piped ones are written back.
                let echo = !std::io::IsTerminal::is_terminal(&stdin);
                learn_cmd::quiz(&all, &id, layer, &mut input, echo, &mut out)?;
                return Ok(ExitCode::SUCCESS);
            }
            let out = match lesson {
                None => learn_cmd::list(&all),
                Some(id) => learn_cmd::show(&all, &id, layer)?,
            };
            emit(&out);
            Ok(ExitCode::SUCCESS)
        }
        Command::Tool(a) => {
            emit(&tool_cmd::run(a)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit(a) => {
            use std::io::Write;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let result = audit_cmd::run(&a, &mut out)?;
            written(result.and_then(|()| out.flush()));
            Ok(ExitCode::SUCCESS)
        }
        Command::Diff(a) => {
            use std::io::Write;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let result = diff_cmd::run(&a, &mut out)?;
            written(result.and_then(|()| out.flush()));
            Ok(ExitCode::SUCCESS)
        }
        Command::Simulate(a) => {
            emit(&simulate_cmd::run(&a)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Examples { format } => {
            match format {
                ListFormat::Text => {
                    let width = examples::ALL
                        .iter()
                        .map(|e| e.name.len())
                        .max()
                        .unwrap_or(0);
                    for e in examples::ALL {
                        let scn = pathproof_core::load(&e.file(), e.text, None)
                            .map_err(|err| InputError(diagnostics::load_error(&err)))?;
                        let variants: Vec<&str> =
                            scn.variants.iter().map(|v| v.name.as_str()).collect();
                        let variants = if variants.is_empty() {
                            String::new()
                        } else {
                            format!(" [variants: {}]", variants.join(", "))
                        };
                        emit(&format!("{:<width$}  {}{variants}\n", e.name, e.teaches));
                    }
                }
                ListFormat::Json => {
                    let mut list: Vec<serde_json::Value> = Vec::new();
                    for e in examples::ALL {
                        let scn = pathproof_core::load(&e.file(), e.text, None)
                            .map_err(|err| InputError(diagnostics::load_error(&err)))?;
                        let variants: Vec<String> =
                            scn.variants.into_iter().map(|v| v.name).collect();
                        list.push(serde_json::json!({
                            "name": e.name,
                            "teaches": e.teaches,
                            "variants": variants,
                            "traffic": scn.traffic.is_some(),
                        }));
                    }
                    emit(&format!(
                        "{}\n",
                        serde_json::to_string_pretty(&list).expect("plain values serialise")
                    ));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
