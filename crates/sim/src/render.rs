//! Views of a `Run`: text for the terminal, JSON (docs/json.md), CSV (one
//! row per second, subject and measure) and an SVG of charts over time.
//! None of them computes anything the run did not record.

use std::fmt::Write;

use crate::report::*;

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn pct(x: f64) -> String {
    format!("{:.1} %", x * 100.0)
}

fn ms(x: f64) -> String {
    if x >= 1000.0 {
        format!("{:.2} s", x / 1000.0)
    } else {
        format!("{x:.1} ms")
    }
}

pub fn text(run: &Run) -> String {
    let mut o = String::new();
    let variant = run
        .variant
        .as_deref()
        .map(|v| format!(", variant {v}"))
        .unwrap_or_default();
    let _ = writeln!(
        o,
        "simulate {}{variant}: {} s, seed {}, in steps of {} ms",
        run.file,
        run.seconds,
        run.seed,
        run.tick_us as f64 / 1000.0
    );
    let _ = writeln!(o, "\nflows");
    let width = run.flows.iter().map(|f| f.name.len()).max().unwrap_or(4);
    for f in &run.flows {
        let _ = writeln!(
            o,
            "  {:<width$}  {} from {} ({}) to {}, {}/s",
            f.name,
            f.kind,
            f.from,
            f.sources,
            f.to,
            fmt_rate(f.rate)
        );
    }

    // Second by second.
    let _ = writeln!(
        o,
        "\nsecond by second: ok/offered per flow{}",
        if run.listeners.is_empty() {
            ""
        } else {
            "; SYN queue and accept queue of each listener"
        }
    );
    let mut head = String::from("     s");
    let cols: Vec<usize> = run.flows.iter().map(|f| f.name.len().max(15)).collect();
    for (f, w) in run.flows.iter().zip(&cols) {
        let _ = write!(head, "  {:>w$}", f.name);
    }
    for l in &run.listeners {
        let _ = write!(head, "  {:>16}", format!("{} syn/acc", l.name));
    }
    for l in &run.links {
        let _ = write!(head, "  {:>22}", format!("{} use", l.name));
    }
    let _ = writeln!(o, "{head}");
    for s in 0..run.seconds as usize {
        let mut line = format!("  {s:>4}");
        for (f, w) in run.flows.iter().zip(&cols) {
            let fs = &f.per_second[s];
            let cell = format!("{}/{}", thousands(fs.ok), thousands(fs.offered));
            let _ = write!(line, "  {cell:>w$}");
        }
        for l in &run.listeners {
            let ls = &l.per_second[s];
            let _ = write!(
                line,
                "  {:>16}",
                format!("{}/{}", ls.syn_queue_max, ls.accept_queue)
            );
        }
        for l in &run.links {
            let ls = &l.per_second[s];
            let _ = write!(line, "  {:>22}", pct(ls.utilization));
        }
        let _ = writeln!(o, "{line}");
    }

    let _ = writeln!(o, "\nwhat happened");
    for f in &run.flows {
        let unit = match f.kind.as_str() {
            "syn-flood" => "SYNs",
            "udp-flood" | "udp-reflection" => "datagrams",
            "credential-stuffing" => "login attempts",
            _ => "connections",
        };
        let mut line = format!("  {}: {} {unit}", f.name, thousands(f.offered));
        if let Some(r) = f.success_rate {
            let word = if f.legitimate {
                "served"
            } else {
                "got through"
            };
            let _ = write!(line, ", {} {word} ({})", thousands(f.ok), pct(r));
        }
        if f.pending > 0 {
            let _ = write!(line, ", {} under way at the end", thousands(f.pending));
        }
        if let Some(l) = &f.latency_ms {
            let _ = write!(
                line,
                "; latency p50 {}, p90 {}, p99 {}",
                ms(l.p50),
                ms(l.p90),
                ms(l.p99)
            );
        }
        let _ = writeln!(o, "{line}");
        let mut outs: Vec<&Outcome> = f.outcomes.iter().collect();
        outs.sort_by(|a, b| b.count.cmp(&a.count).then(a.key.cmp(&b.key)));
        let w = outs
            .iter()
            .map(|x| thousands(x.count).len())
            .max()
            .unwrap_or(1);
        for x in outs {
            let _ = writeln!(o, "    {:>w$}  {}  at {}", thousands(x.count), x.what, x.at);
        }
    }

    for l in &run.listeners {
        let _ = writeln!(
            o,
            "\nlistener {}: backlog {} (min of listen() and somaxconn), tcp_syncookies {}, tcp_max_syn_backlog {}, tcp_synack_retries {}{}",
            l.name,
            l.backlog,
            l.tcp_syncookies,
            l.tcp_max_syn_backlog,
            l.tcp_synack_retries,
            l.accept_rate
                .map(|r| format!(", the application accepts {}/s", fmt_rate(r)))
                .unwrap_or_default()
        );
        let _ = writeln!(o, "  counters as nstat names them:");
        for (name, v) in crate::listener::Counters::NAMES
            .iter()
            .zip(l.counters.values())
        {
            let _ = writeln!(o, "    {name:<28} {}", thousands(v));
        }
    }
    for l in &run.links {
        if l.passed + l.dropped == 0 {
            continue;
        }
        let peak = l
            .per_second
            .iter()
            .map(|s| s.utilization)
            .fold(0.0, f64::max);
        let _ = writeln!(
            o,
            "\nlink {}: {} bit/s, queue {} packets: {} packets passed, {} dropped (link saturated), peak use {}",
            l.name,
            fmt_bits(l.capacity_bps),
            l.queue_packets,
            thousands(l.passed),
            thousands(l.dropped),
            pct(peak)
        );
    }
    for t in &run.conntrack {
        let peak = t.per_second.iter().map(|s| s.entries).max().unwrap_or(0);
        let _ = writeln!(
            o,
            "\nconntrack table of {}: nf_conntrack_max {}, at most {} entries, {} new connections dropped (table full), {} early drops",
            t.host,
            thousands(t.max),
            thousands(peak),
            thousands(t.dropped),
            thousands(t.early_drops)
        );
    }
    for l in &run.limiters {
        let _ = writeln!(
            o,
            "\nlimiter {} at {}: {}, key {}, over the limit: {}; {} allowed, {} limited",
            l.name,
            l.at,
            l.rule,
            l.key,
            l.answer,
            thousands(l.allowed),
            thousands(l.limited)
        );
        if let Some(r) = &l.first_refusal {
            let _ = writeln!(o, "  first refusal: {r}");
        }
    }

    let _ = writeln!(o, "\nthe way each flow goes (traced by the engine)");
    for f in &run.flows {
        for c in &f.classes {
            let _ = writeln!(
                o,
                "  {} [{}; {}]: {}",
                f.name,
                c.sources,
                pct(c.share),
                if c.stations.is_empty() {
                    "no station".to_string()
                } else {
                    c.stations.join(" -> ")
                }
            );
        }
    }
    o
}

fn fmt_rate(r: f64) -> String {
    if r.fract() == 0.0 {
        thousands(r as u64)
    } else {
        format!("{r}")
    }
}

fn fmt_bits(b: f64) -> String {
    for (unit, scale) in [("G", 1e9), ("M", 1e6), ("k", 1e3)] {
        if b >= scale {
            return format!("{}{unit}", b / scale);
        }
    }
    format!("{b}")
}

pub fn json(run: &Run) -> String {
    let mut s = serde_json::to_string_pretty(run).expect("a run serialises");
    s.push('\n');
    s
}

fn csv_field(s: &str) -> String {
    if s.contains(',') || s.contains('"') || s.contains('\n') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// One row per (second, subject, measure), so that any tool can pivot it.
pub fn csv(run: &Run) -> String {
    let mut o = String::from("second,subject,measure,value\n");
    let mut row = |s: usize, subject: &str, measure: &str, v: String| {
        let _ = writeln!(o, "{s},{},{},{v}", csv_field(subject), csv_field(measure));
    };
    for s in 0..run.seconds as usize {
        for f in &run.flows {
            let subject = format!("flow {}", f.name);
            let fs = &f.per_second[s];
            row(s, &subject, "offered", fs.offered.to_string());
            row(s, &subject, "ok", fs.ok.to_string());
            row(s, &subject, "failed", fs.failed.to_string());
            if let Some(p) = fs.p50_ms {
                row(s, &subject, "latency_p50_ms", format!("{p:.3}"));
            }
            for (x, n) in f.outcomes.iter().zip(&fs.outcomes) {
                row(
                    s,
                    &subject,
                    &format!("{} at {}", x.key, x.at),
                    n.to_string(),
                );
            }
        }
        for l in &run.listeners {
            let subject = format!("listener {}", l.name);
            let ls = &l.per_second[s];
            row(s, &subject, "syn_queue", ls.syn_queue.to_string());
            row(s, &subject, "syn_queue_max", ls.syn_queue_max.to_string());
            row(s, &subject, "accept_queue", ls.accept_queue.to_string());
            for (name, v) in crate::listener::Counters::NAMES
                .iter()
                .zip(ls.counters.values())
            {
                row(s, &subject, name, v.to_string());
            }
        }
        for l in &run.links {
            let subject = format!("link {}", l.name);
            let ls = &l.per_second[s];
            row(s, &subject, "utilization", format!("{:.4}", ls.utilization));
            row(s, &subject, "queue_max", format!("{:.1}", ls.queue_max));
            row(s, &subject, "dropped", ls.dropped.to_string());
        }
        for t in &run.conntrack {
            let subject = format!("conntrack {}", t.host);
            let ts = &t.per_second[s];
            row(s, &subject, "entries", ts.entries.to_string());
            row(s, &subject, "dropped", ts.dropped.to_string());
            row(s, &subject, "early_drops", ts.early_drops.to_string());
        }
        for l in &run.limiters {
            let subject = format!("limiter {}", l.name);
            let ls = &l.per_second[s];
            row(s, &subject, "allowed", ls.allowed.to_string());
            row(s, &subject, "limited", ls.limited.to_string());
        }
    }
    o
}

const COLORS: [&str; 8] = [
    "#1b6ca8", "#d8512a", "#2e8540", "#8e44ad", "#b7950b", "#17a2b8", "#7f8c8d", "#c0392b",
];

struct Panel<'a> {
    title: String,
    unit: &'a str,
    series: Vec<(String, Vec<f64>)>,
    /// A fixed top of the scale (1 for shares), or none to fit the data.
    top: Option<f64>,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn nice_top(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(max.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if max <= m * p {
            return m * p;
        }
    }
    10.0 * p
}

fn short(v: f64) -> String {
    if v >= 1e6 {
        format!("{}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{}k", v / 1e3)
    } else if v.fract() == 0.0 {
        format!("{v}")
    } else {
        format!("{v:.2}")
    }
}

/// Charts over time: the share of each flow's attempts that succeed, what
/// each flow offers, the listeners' queues, the links' use.
pub fn svg(run: &Run) -> String {
    let n = run.seconds as usize;
    let mut panels: Vec<Panel> = Vec::new();
    let shares: Vec<(String, Vec<f64>)> = run
        .flows
        .iter()
        .filter(|f| f.legitimate || f.kind == "credential-stuffing" || f.kind == "http-flood")
        .map(|f| {
            let v = f
                .per_second
                .iter()
                .map(|s| {
                    let done = s.ok + s.failed;
                    if done == 0 {
                        f64::NAN
                    } else {
                        s.ok as f64 / done as f64
                    }
                })
                .collect();
            (f.name.clone(), v)
        })
        .collect();
    if !shares.is_empty() {
        panels.push(Panel {
            title: "Share of attempts that succeed, per second".into(),
            unit: "",
            series: shares,
            top: Some(1.0),
        });
    }
    panels.push(Panel {
        title: "Offered per second".into(),
        unit: "/s",
        series: run
            .flows
            .iter()
            .map(|f| {
                (
                    f.name.clone(),
                    f.per_second.iter().map(|s| s.offered as f64).collect(),
                )
            })
            .collect(),
        top: None,
    });
    for l in &run.listeners {
        panels.push(Panel {
            title: format!(
                "Listener {} (backlog {}, tcp_syncookies {})",
                l.name, l.backlog, l.tcp_syncookies
            ),
            unit: "",
            series: vec![
                (
                    "SYN queue (peak)".into(),
                    l.per_second
                        .iter()
                        .map(|s| s.syn_queue_max as f64)
                        .collect(),
                ),
                (
                    "accept queue".into(),
                    l.per_second.iter().map(|s| s.accept_queue as f64).collect(),
                ),
            ],
            top: None,
        });
    }
    if !run.links.is_empty() {
        panels.push(Panel {
            title: "Links: share of capacity used".into(),
            unit: "",
            series: run
                .links
                .iter()
                .filter(|l| l.passed + l.dropped > 0)
                .map(|l| {
                    (
                        l.name.clone(),
                        l.per_second.iter().map(|s| s.utilization).collect(),
                    )
                })
                .collect(),
            top: Some(1.0),
        });
    }
    let (w, ph, left, right, top_pad) = (860.0, 190.0, 70.0, 230.0, 34.0);
    let height = 60.0 + panels.len() as f64 * (ph + top_pad + 30.0);
    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{height}" viewBox="0 0 {} {height}" font-family="sans-serif" font-size="12">"#,
        w + right,
        w + right
    );
    let variant = run
        .variant
        .as_deref()
        .map(|v| format!(", variant {v}"))
        .unwrap_or_default();
    let _ = writeln!(
        o,
        r##"<rect width="100%" height="100%" fill="#ffffff"/><text x="{left}" y="24" font-size="16" font-weight="bold">{}</text>"##,
        esc(&format!(
            "pathproof simulate {}{variant}, seed {}",
            run.file, run.seed
        ))
    );
    let mut y0 = 50.0;
    for p in &panels {
        let plot_w = w - left;
        let max = p
            .series
            .iter()
            .flat_map(|(_, v)| v.iter().copied())
            .filter(|x| x.is_finite())
            .fold(0.0, f64::max);
        let top = p.top.unwrap_or_else(|| nice_top(max));
        let _ = writeln!(
            o,
            r#"<text x="{left}" y="{}" font-weight="bold">{}</text>"#,
            y0 + 14.0,
            esc(&p.title)
        );
        let base = y0 + top_pad + ph;
        let _ = writeln!(
            o,
            r##"<rect x="{left}" y="{}" width="{plot_w}" height="{ph}" fill="none" stroke="#999"/>"##,
            y0 + top_pad
        );
        for k in 0..=4 {
            let v = top * k as f64 / 4.0;
            let y = base - ph * k as f64 / 4.0;
            let label = if p.top == Some(1.0) && p.unit.is_empty() {
                format!("{}%", (v * 100.0).round())
            } else {
                format!("{}{}", short(v), p.unit)
            };
            let _ = writeln!(
                o,
                r##"<line x1="{left}" y1="{y}" x2="{w}" y2="{y}" stroke="#eee"/><text x="{}" y="{}" text-anchor="end">{label}</text>"##,
                left - 6.0,
                y + 4.0
            );
        }
        let step = (n / 10).max(1);
        for s in (0..=n).step_by(step) {
            let x = left + plot_w * s as f64 / n as f64;
            let _ = writeln!(
                o,
                r#"<text x="{x}" y="{}" text-anchor="middle">{s} s</text>"#,
                base + 16.0
            );
        }
        for (i, (name, v)) in p.series.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let mut d = String::new();
            let mut pen = false;
            for (s, val) in v.iter().enumerate() {
                if !val.is_finite() {
                    pen = false;
                    continue;
                }
                let x = left + plot_w * (s as f64 + 0.5) / n as f64;
                let y = base - ph * (val / top).clamp(0.0, 1.0);
                let _ = write!(d, "{}{x:.1},{y:.1}", if pen { " L" } else { " M" });
                pen = true;
            }
            let _ = writeln!(
                o,
                r#"<path d="{}" fill="none" stroke="{color}" stroke-width="2"><title>{}</title></path>"#,
                d.trim(),
                esc(name)
            );
            let ly = y0 + top_pad + 14.0 + i as f64 * 18.0;
            let _ = writeln!(
                o,
                r#"<rect x="{}" y="{}" width="12" height="12" fill="{color}"/><text x="{}" y="{}">{}</text>"#,
                w + 12.0,
                ly - 10.0,
                w + 30.0,
                ly,
                esc(name)
            );
        }
        y0 += ph + top_pad + 30.0;
    }
    o.push_str("</svg>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(nice_top(730.0), 1000.0);
        assert_eq!(nice_top(120_000.0), 200_000.0);
        assert_eq!(csv_field("a,b"), "\"a,b\"");
    }
}
