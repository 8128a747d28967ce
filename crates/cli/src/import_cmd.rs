//! `pathproof import k8s|aws`: reads the files, hands `(path, text)` pairs to
//! `pathproof_import`, checks the scenario it wrote loads, and writes it to
//! standard output or `-o FILE`, with the importer's notes on standard error.
//! (`import hosts` will sit beside these.)

use std::path::{Path, PathBuf};

use pathproof_import::{ImportError, Imported, Input};

use crate::InputError;

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
    }
}
