//! `pathproof import`: real configurations as a scenario. Reads the files (the
//! importers do no I/O), calls the importer, checks that what it made loads, and
//! writes the YAML (`-o OUT.yaml`, else standard output) with its notes on standard
//! error.

use std::path::{Component, Path, PathBuf};

use pathproof_import::{hosts, ImportError, Input};

use crate::{diagnostics, InputError};

#[derive(clap::Subcommand)]
pub enum ImportCommand {
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

/// Runs the command; returns the scenario (when it goes to standard output) and the
/// notes.
pub fn run(cmd: ImportCommand) -> Result<(String, Vec<String>), InputError> {
    match cmd {
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
            match output {
                Some(o) => {
                    std::fs::write(&o, &imported.yaml)
                        .map_err(|e| InputError(format!("error: cannot write {o}: {e}\n")))?;
                    Ok((String::new(), imported.notes))
                }
                None => Ok((imported.yaml, imported.notes)),
            }
        }
    }
}
