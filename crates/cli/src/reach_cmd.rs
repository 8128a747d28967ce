//! `pathproof reach` and `pathproof check`: every journey, and the scenario's expectations.

use pathproof_core::analysis::check;
use pathproof_core::analysis::reach::{self, ReachQuery};
use pathproof_core::analysis::reach_table;
use pathproof_core::analysis::symbolic::Source;
use pathproof_core::model::Scenario;

use crate::InputError;

/// `--from`/`--to` as sources and target hosts: host or network names.
fn sources(scn: &Scenario, name: &str) -> Result<Vec<Source>, InputError> {
    if let Some(h) = scn.host_by_name(name) {
        return Ok(vec![Source::Host(h)]);
    }
    if let Some(n) = scn.network_by_name(name) {
        let mut v = vec![Source::Network(n)];
        v.extend(
            scn.hosts
                .iter()
                .enumerate()
                .filter(|(_, h)| h.interfaces.iter().any(|i| i.network == n))
                .map(|(i, _)| Source::Host(pathproof_core::model::HostId(i as u32))),
        );
        return Ok(v);
    }
    Err(unknown(scn, name))
}

fn unknown(scn: &Scenario, name: &str) -> InputError {
    let mut names: Vec<&str> = scn
        .hosts
        .iter()
        .map(|h| h.name.as_str())
        .chain(scn.networks.iter().map(|n| n.name.as_str()))
        .collect();
    names.sort_unstable();
    let help = pathproof_core::load::diagnostic::nearest(name, names.iter().copied())
        .map(|s| format!("\n  help: did you mean `{s}`?"))
        .unwrap_or_default();
    InputError(format!("error: unknown host or network `{name}`{help}\n"))
}

pub fn reach_query(
    scn: &Scenario,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<ReachQuery, InputError> {
    let mut q = ReachQuery::default();
    if let Some(f) = from {
        q.from = Some(sources(scn, f)?);
    }
    if let Some(t) = to {
        let targets = sources(scn, t)?
            .into_iter()
            .filter_map(|s| match s {
                Source::Host(h) => Some(h),
                Source::Network(_) => None,
            })
            .collect();
        q.to = Some(targets);
    }
    Ok(q)
}

pub fn reach(
    scn: &Scenario,
    from: Option<&str>,
    to: Option<&str>,
    format: &str,
    view: reach_table::View,
) -> Result<String, InputError> {
    if format == "mermaid" {
        return Err(InputError(
            "error: --format mermaid draws the foothold graph: add --foothold\n".into(),
        ));
    }
    let q = reach_query(scn, from, to)?;
    let r = reach::reach(scn, &q);
    let out = match format {
        "json" => reach::render_json(scn, &r),
        "csv" => reach::render_csv(scn, &r),
        _ => reach_table::render(scn, &r, &q, view),
    };
    // The process ends with this command (its only caller is `main`):
    // freeing the 80,000 classes of the generated 2,000-host scenario took
    // 50 ms of the one thread, for nothing.
    std::mem::forget(r);
    Ok(out)
}

/// `reach --format json` or `csv`, written to `out` as it is made.
pub fn reach_to(
    scn: &Scenario,
    from: Option<&str>,
    to: Option<&str>,
    format: &str,
    pairs: bool,
    out: impl std::io::Write,
) -> Result<std::io::Result<()>, InputError> {
    let q = reach_query(scn, from, to)?;
    let r = reach::reach(scn, &q);
    let written = match (format, pairs) {
        ("csv", false) => reach::write_csv(scn, &r, out),
        ("csv", true) => reach::write_csv_pairs(scn, &r, out),
        (_, false) => reach::write_json(scn, &r, out),
        (_, true) => reach::write_json_pairs(scn, &r, out),
    };
    // As in `reach`: the process ends with this command.
    std::mem::forget(r);
    Ok(written)
}

/// Returns the output and whether every expectation held.
pub fn check(scn: &Scenario, format: &str) -> (String, bool) {
    let r = check::check(scn);
    let out = match format {
        "json" => check::render_json(&r),
        "junit" => check::render_junit(&r),
        "sarif" => check::render_sarif(&r),
        _ => check::render_text(&r),
    };
    (out, r.failed == 0)
}

/// `reach --from HOST --foothold`: the blast radius of a compromised host.
pub fn foothold(scn: &Scenario, from: &str, format: &str) -> Result<String, InputError> {
    let Some(h) = scn.host_by_name(from) else {
        if scn.network_by_name(from).is_some() {
            return Err(InputError(format!(
                "error: a foothold is a host; `{from}` is a network\n"
            )));
        }
        return Err(unknown(scn, from));
    };
    let f = pathproof_core::analysis::foothold::foothold(scn, h);
    Ok(match format {
        "json" => pathproof_core::analysis::foothold::render_json(&f, scn),
        "mermaid" => pathproof_core::analysis::foothold::render_mermaid(&f, scn),
        "csv" => {
            return Err(InputError(
                "error: the foothold graph has text, json and mermaid forms\n".into(),
            ))
        }
        _ => pathproof_core::analysis::foothold::render_text(&f, scn),
    })
}
