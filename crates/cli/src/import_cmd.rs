//! `pathproof import k8s|aws|hosts`: reads the files (the importers do no
//! I/O), hands `(path, text)` pairs to `pathproof_import`, checks the
//! scenario it wrote loads, and writes it to standard output or `-o FILE`,
//! with the importer's notes on standard error.

use std::path::{Component, Path, PathBuf};

use pathproof_import::{hosts, ImportError, Imported, Input};

use crate::{diagnostics, InputError};

#[derive(clap::Subcommand)]
pub enum ImportCommand {
    /// Kubernetes manifests (YAML or JSON, multi-document, lists; folders are read recursively).
    K8s {
        /// Manifest files or folders.
        #[arg(required = true)]
        paths: Vec<String>,
        /// Write the scenario here instead of standard output.
        #[arg(short = 'o', long = "output", value_name = "OUT.yaml")]
        output: Option<String>,
        /// A file of `expect:` lines (one per line, `#` comments) to put into the scenario.
        #[arg(long, value_name = "FILE")]
        expect: Option<String>,
        /// Addresses for pods without status.podIP.
        #[arg(long, default_value = "10.244.0.0/16")]
        pod_cidr: String,
        /// Addresses for Services without spec.clusterIP.
        #[arg(long, default_value = "10.96.0.0/12")]
        service_cidr: String,
    },
    /// The JSON of `aws ec2 describe-*` (one file per call, a folder per region, as Batfish lays it out).
    Aws {
        /// The folder.
        dir: String,
        #[arg(short = 'o', long = "output", value_name = "OUT.yaml")]
        output: Option<String>,
        /// A file of `expect:` lines to put into the scenario.
        #[arg(long, value_name = "FILE")]
        expect: Option<String>,
    },
    /// Hosts from per-host folders of `ip -j addr`, `ip -j route` and the rule set
    /// (`nft list ruleset` or `iptables-save`), see docs/import.md.
    Hosts {
        /// NAME=DIR: the host's name and its folder.
        #[arg(required = true, value_name = "NAME=DIR")]
        hosts: Vec<String>,
        /// Write the scenario here (default: standard output).
        #[arg(short, long, value_name = "OUT.yaml")]
        output: Option<String>,
    },
}

fn io_error(path: &Path, e: std::io::Error) -> InputError {
    InputError(format!("error: cannot read {}: {e}\n", path.display()))
}

/// The files under `path` whose names end in one of `exts`, sorted (a
/// file named directly is read whatever its name).
fn files(path: &Path, exts: &[&str], out: &mut Vec<PathBuf>) -> Result<(), InputError> {
    let meta = std::fs::metadata(path).map_err(|e| io_error(path, e))?;
    if !meta.is_dir() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| io_error(path, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files(&p, exts, out)?;
        } else if p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| exts.contains(&e))
        {
            out.push(p);
        }
    }
    Ok(())
}

fn read_inputs(paths: &[String], exts: &[&str]) -> Result<Vec<Input>, InputError> {
    let mut found = Vec::new();
    for p in paths {
        files(Path::new(p), exts, &mut found)?;
    }
    if found.is_empty() {
        return Err(InputError(format!(
            "error: no {} files in {}\n",
            exts.join("/"),
            paths.join(", ")
        )));
    }
    found
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).map_err(|e| io_error(&p, e))?;
            Ok(Input::new(p.display().to_string(), text))
        })
        .collect()
}

fn expect_lines(file: Option<&str>) -> Result<Vec<String>, InputError> {
    let Some(file) = file else {
        return Ok(Vec::new());
    };
    let text = std::fs::read_to_string(file).map_err(|e| io_error(Path::new(file), e))?;
    Ok(text
        .lines()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.trim_start_matches("- ").trim().to_string())
        .collect())
}

/// An import error as the terminal shows it: the place, the line, a caret.
fn render_error(e: &ImportError, inputs: &[Input]) -> InputError {
    let mut s = format!("error: {}\n", e.message);
    if e.line > 0 {
        s.push_str(&format!("  --> {}:{}:{}\n", e.file, e.line, e.column));
        if let Some(text) = inputs
            .iter()
            .find(|i| i.path == e.file)
            .and_then(|i| i.text.lines().nth(e.line as usize - 1))
        {
            s.push_str(&format!(
                "   | {text}\n   | {}^\n",
                " ".repeat(e.column.saturating_sub(1) as usize)
            ));
        }
    } else if !e.file.is_empty() {
        s.push_str(&format!("  --> {}\n", e.file));
    }
    if let Some(h) = &e.help {
        s.push_str(&format!("  help: {h}\n"));
    }
    InputError(s)
}

fn finish(imported: Imported, output: Option<&str>) -> Result<String, InputError> {
    // The importer's output must load: a problem here is a bug in the
    // importer, reported as such rather than written out.
    let name = output.unwrap_or("imported.yaml");
    if let Err(e) = pathproof_core::load(name, &imported.yaml, None) {
        let first: Vec<String> = e
            .problems
            .iter()
            .take(3)
            .map(|p| format!("{}:{}: {}", p.line, p.column, p.message))
            .collect();
        return Err(InputError(format!(
            "error: the imported scenario does not load (a bug in the importer, please report it): {}\n",
            first.join("; ")
        )));
    }
    for n in &imported.notes {
        eprintln!("note: {n}");
    }
    match output {
        Some(path) => {
            std::fs::write(path, &imported.yaml)
                .map_err(|e| InputError(format!("error: cannot write {path}: {e}\n")))?;
            eprintln!("wrote {path}");
            Ok(String::new())
        }
        None => Ok(imported.yaml),
    }
}

fn errors(list: Vec<ImportError>) -> InputError {
    let mut s = String::new();
    for e in list {
        s.push_str(&format!("error: {e}\n"));
    }
    InputError(s)
}

/// `path` as seen from folder `from` (both made absolute first).
fn relative(path: &Path, from: &Path) -> PathBuf {
    let abs = |p: &Path| {
        std::fs::canonicalize(p).unwrap_or_else(|_| {
            std::env::current_dir()
                .map(|d| d.join(p))
                .unwrap_or_else(|_| p.to_path_buf())
        })
    };
    let (p, f) = (abs(path), abs(from));
    let pc: Vec<Component> = p.components().collect();
    let fc: Vec<Component> = f.components().collect();
    let common = pc.iter().zip(&fc).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..fc.len() {
        out.push("..");
    }
    for c in &pc[common..] {
        out.push(c.as_os_str());
    }
    out
}

fn read_dir(name: &str, dir: &str) -> Result<hosts::HostDir, InputError> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        InputError(format!(
            "error: cannot read folder {dir} (host {name}): {e}\n"
        ))
    })?;
    let mut files = Vec::new();
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    paths.sort();
    for p in paths {
        let bytes = std::fs::read(&p)
            .map_err(|e| InputError(format!("error: cannot read {}: {e}\n", p.display())))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            InputError(format!(
                "error: {} is not UTF-8 text (first bad byte at offset {})\n",
                p.display(),
                e.utf8_error().valid_up_to()
            ))
        })?;
        files.push(Input {
            path: p.to_string_lossy().into_owned(),
            text,
        });
    }
    Ok(hosts::HostDir {
        name: name.to_string(),
        dir: dir.to_string(),
        files,
    })
}

pub fn run(cmd: ImportCommand) -> Result<String, InputError> {
    match cmd {
        ImportCommand::K8s {
            paths,
            output,
            expect,
            pod_cidr,
            service_cidr,
        } => {
            let inputs = read_inputs(&paths, &["yaml", "yml", "json"])?;
            let options = pathproof_import::k8s::Options {
                pod_cidr: pod_cidr.parse().map_err(|_| {
                    InputError(format!(
                        "error: --pod-cidr `{pod_cidr}` is not an IPv4 prefix\n"
                    ))
                })?,
                service_cidr: service_cidr.parse().map_err(|_| {
                    InputError(format!(
                        "error: --service-cidr `{service_cidr}` is not an IPv4 prefix\n"
                    ))
                })?,
                expect: expect_lines(expect.as_deref())?,
            };
            let imported = pathproof_import::k8s::import(&inputs, &options)
                .map_err(|e| render_error(&e, &inputs))?;
            finish(imported, output.as_deref())
        }
        ImportCommand::Aws {
            dir,
            output,
            expect,
        } => {
            let inputs = read_inputs(std::slice::from_ref(&dir), &["json"])?;
            let options = pathproof_import::aws::Options {
                expect: expect_lines(expect.as_deref())?,
            };
            let imported = pathproof_import::aws::import(&inputs, &options)
                .map_err(|e| render_error(&e, &inputs))?;
            finish(imported, output.as_deref())
        }
        ImportCommand::Hosts {
            hosts: specs,
            output,
        } => {
            let mut dirs = Vec::new();
            for s in &specs {
                let Some((name, dir)) = s.split_once('=') else {
                    return Err(InputError(format!(
                        "error: `{s}` is not NAME=DIR\n  help: write the host's name and its folder, such as `web=collected/web`\n"
                    )));
                };
                dirs.push(read_dir(name, dir)?);
            }
            let out_dir = output
                .as_deref()
                .and_then(|o| Path::new(o).parent())
                .map(|p| {
                    if p.as_os_str().is_empty() {
                        PathBuf::from(".")
                    } else {
                        p.to_path_buf()
                    }
                })
                .unwrap_or_else(|| PathBuf::from("."));
            let name_of = |p: &str| {
                relative(Path::new(p), &out_dir)
                    .to_string_lossy()
                    .into_owned()
            };
            let imported = hosts::import(&dirs, &name_of).map_err(errors)?;
            // What the importer made must load, with the rule sets it names.
            let mut files = pathproof_core::Files::new();
            for d in &dirs {
                for f in &d.files {
                    files.insert(name_of(&f.path), f.text.clone());
                }
            }
            let file = output.clone().unwrap_or_else(|| "imported.yaml".into());
            pathproof_core::load_with(&file, &imported.yaml, None, &files).map_err(|e| {
                let mut s = diagnostics::load_error(&e);
                s.push_str(
                    "  note: the imported scenario does not load (above); nothing was written\n",
                );
                InputError(s)
            })?;
            for n in &imported.notes {
                eprintln!("note: {n}");
            }
            match output {
                Some(o) => {
                    std::fs::write(&o, &imported.yaml)
                        .map_err(|e| InputError(format!("error: cannot write {o}: {e}\n")))?;
                    eprintln!("wrote {o}");
                    Ok(String::new())
                }
                None => Ok(imported.yaml),
            }
        }
    }
}
