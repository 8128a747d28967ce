//! `pathproof filter`: test packets against a real iptables-save or nft rule set.

use std::collections::HashMap;
use std::fmt::Write;

use pathproof_rulesets::capture::{CaptureError, CaptureOptions, CaptureReader};
use pathproof_rulesets::stream::{self, BadLine, Line, Mode, StreamError, StreamOptions};
use pathproof_rulesets::{parse_packet, parse_ruleset, DecidedBy, Decision, Step, TieNote, Via};
use serde_json::{json, Value};

use crate::InputError;

fn read(path: &str, what: &str) -> Result<String, InputError> {
    let bytes = std::fs::read(path)
        .map_err(|e| InputError(format!("error: cannot read {what} {path}: {e}\n")))?;
    String::from_utf8(bytes).map_err(|e| {
        InputError(format!(
            "error: {path} is not UTF-8 text (first bad byte at offset {})\n",
            e.utf8_error().valid_up_to()
        ))
    })
}

fn decided_json(d: &DecidedBy) -> Value {
    match d {
        DecidedBy::Rule { line, text } => json!({ "kind": "rule", "line": line, "text": text }),
        DecidedBy::Policy { table, chain, line } => {
            json!({ "kind": "policy", "table": table, "chain": chain, "line": line })
        }
        DecidedBy::MapElement {
            line,
            text,
            map,
            element_line,
            element,
        } => json!({
            "kind": "map_element",
            "line": line,
            "text": text,
            "map": map,
            "element_line": element_line,
            "element": element,
        }),
        DecidedBy::NoBaseChain => json!({ "kind": "no_base_chain" }),
    }
}

fn tie_json(t: &TieNote) -> Value {
    json!({
        "hook": t.hook.name(),
        "priority": t.priority,
        "chains": t.chains.iter().map(|c| json!({ "table": c.table, "chain": c.chain, "line": c.line })).collect::<Vec<_>>(),
        "alternative": t.alternative.to_string(),
        "alternative_decided_by": decided_json(&t.alternative_by),
    })
}

fn step_json(s: &Step) -> Value {
    match s {
        Step::Enter {
            table,
            chain,
            line,
            via,
        } => {
            let via = match via {
                Via::Hook(h) => json!({ "hook": format!("{h:?}").to_lowercase() }),
                Via::Jump(l) => json!({ "jump": l }),
                Via::Goto(l) => json!({ "goto": l }),
            };
            json!({ "enter": { "table": table, "chain": chain, "line": line, "via": via } })
        }
        Step::Log { line } => json!({ "log": line }),
        Step::Counter { line } => json!({ "counter": line }),
        Step::MapElement {
            line,
            map,
            element_line,
            element,
            key,
        } => json!({ "map_element": {
            "line": line,
            "map": map,
            "element_line": element_line,
            "element": element,
            "key": key,
        } }),
        Step::Return { chain, line } => json!({ "return": { "chain": chain, "line": line } }),
        Step::Accepted { table, chain } => {
            json!({ "accepted": { "table": table, "chain": chain } })
        }
    }
}

fn decision_json(packet: &str, line: usize, d: &Decision) -> Value {
    json!({
        "packet": packet,
        "packet_line": line,
        "verdict": d.verdict.to_string(),
        "decided_by": decided_json(&d.decided_by),
        "path": d.path.iter().map(step_json).collect::<Vec<_>>(),
        "tie": d.tie.as_ref().map(tie_json),
    })
}

/// `pathproof filter RULESET --packet "..."`: one packet; returns what to print.
pub fn run(ruleset_path: &str, packet: &str, json_out: bool) -> Result<String, InputError> {
    let rules = ruleset(ruleset_path)?;
    let lines = [(1usize, packet.to_string())];
    let source = "--packet";
    let mut parsed = Vec::new();
    let mut problems = String::new();
    for (n, l) in &lines {
        match parse_packet(l) {
            Ok(p) => parsed.push((*n, l.clone(), p)),
            Err(e) => {
                let _ = writeln!(
                    problems,
                    "{source}:{n}:{}: {}",
                    e.column,
                    crate::diagnostics::clip(&e.message)
                );
            }
        }
    }
    if !problems.is_empty() {
        let mut msg = String::from("error: some packets could not be read\n");
        msg.push_str(&problems);
        msg.push_str(PACKET_HELP);
        return Err(InputError(msg));
    }
    let mut out = String::new();
    let mut notes: Vec<&String> = rules.notes().iter().collect();
    notes.sort();
    if json_out {
        let results: Vec<Value> = parsed
            .iter()
            .map(|(n, l, p)| decision_json(l, *n, &rules.evaluate(p)))
            .collect();
        let v = json!({ "ruleset": ruleset_path, "notes": notes, "results": results });
        out.push_str(&serde_json::to_string_pretty(&v).expect("plain values serialise"));
        out.push('\n');
    } else {
        for (_, l, p) in &parsed {
            let d = rules.evaluate(p);
            let _ = writeln!(out, "{}\t{l}", d.render_line());
            if let Some(t) = d.render_tie() {
                let _ = writeln!(out, "  {t}");
            }
        }
        for n in notes {
            let _ = writeln!(out, "# note: {n}");
        }
    }
    Ok(out)
}

/// Reads and parses a rule set, or the error the command prints.
fn ruleset(path: &str) -> Result<pathproof_rulesets::Ruleset, InputError> {
    let text = read(path, "rule set")?;
    parse_ruleset(&text).map_err(|errors| {
        let mut s = format!(
            "error: {path} has {} problem{}\n",
            errors.len(),
            if errors.len() == 1 { "" } else { "s" }
        );
        for e in errors {
            let _ = writeln!(
                s,
                "{path}:{}:{}: {}",
                e.line,
                e.column,
                crate::diagnostics::clip(&e.message)
            );
        }
        InputError(s)
    })
}

fn open_capture<'a>(path: &str, options: CaptureOptions) -> Result<CaptureReader<'a>, InputError> {
    let f = std::fs::File::open(path)
        .map_err(|e| InputError(format!("error: cannot read capture {path}: {e}\n")))?;
    CaptureReader::new(std::io::BufReader::new(f), options).map_err(|e| bad_capture(path, &e))
}

fn bad_capture(path: &str, e: &CaptureError) -> InputError {
    InputError(format!(
        "error: {path}: {e}\n  help: give a pcap or pcapng capture (tcpdump -w, dumpcap, tshark -w)\n"
    ))
}

/// An output error other than a reader that went away.
fn io(e: std::io::Error) -> Result<(), InputError> {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(InputError(format!("error: cannot write the output: {e}\n")))
    }
}

/// Counts of what a capture held, for the closing summary.
#[derive(Default)]
struct Tally {
    packets: u64,
    verdicts: std::collections::BTreeMap<String, u64>,
    skipped: std::collections::BTreeMap<String, u64>,
}

impl Tally {
    fn text(&self) -> String {
        let v: Vec<String> = self
            .verdicts
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect();
        let skipped: u64 = self.skipped.values().sum();
        let mut s = format!(
            "# capture: {} packets: {}; {skipped} not evaluated\n",
            self.packets,
            if v.is_empty() {
                "none decided".to_string()
            } else {
                v.join(", ")
            }
        );
        for (why, n) in &self.skipped {
            let _ = writeln!(s, "#   {n} not evaluated: {why}");
        }
        s
    }
}

/// Why a packet was not evaluated, without the numbers that differ from packet to
/// packet (so that the summary counts alike ones together).
fn why_kind(why: &str) -> String {
    why.split(" (").next().unwrap_or(why).to_string()
}

/// `pathproof filter RULESET --pcap FILE`: every packet of the capture, decided,
/// written as it is read (the capture is never held whole).
pub fn run_pcap(
    ruleset_path: &str,
    pcap: &str,
    options: CaptureOptions,
    json_out: bool,
    out: &mut dyn std::io::Write,
) -> Result<(), InputError> {
    let rules = ruleset(ruleset_path)?;
    let mut reader = open_capture(pcap, options)?;
    let mut tally = Tally::default();
    let mut notes: Vec<&String> = rules.notes().iter().collect();
    notes.sort();
    if json_out {
        let head = json!({ "ruleset": ruleset_path, "capture": pcap });
        let head = serde_json::to_string(&head).expect("plain values serialise");
        if let Err(e) = write!(out, "{},\n  \"results\": [", head.trim_end_matches('}')) {
            return io(e);
        }
    }
    let mut first = true;
    while let Some(item) = reader.next() {
        let c = item.map_err(|e| bad_capture(pcap, &e))?;
        tally.packets += 1;
        let line = match &c.packet {
            Err(why) => {
                *tally.skipped.entry(why_kind(why)).or_insert(0) += 1;
                if json_out {
                    json!({ "number": c.number, "offset": c.offset, "time": c.time, "skipped": why })
                        .to_string()
                } else {
                    format!("#{}  skip    {why}\n", c.number)
                }
            }
            Ok(p) => {
                let d = rules.evaluate(p);
                if d.verdict != pathproof_rulesets::Verdict::Accept {
                    // The capture's host refused it: conntrack keeps no entry.
                    reader.refused(&c);
                }
                *tally.verdicts.entry(d.verdict.to_string()).or_insert(0) += 1;
                if json_out {
                    let mut v = decision_json(&p.to_string(), 0, &d);
                    let m = v.as_object_mut().expect("an object");
                    m.remove("packet_line");
                    m.insert("number".into(), json!(c.number));
                    m.insert("offset".into(), json!(c.offset));
                    m.insert("time".into(), json!(c.time));
                    v.to_string()
                } else {
                    let mut s = format!("#{}  {}\t{p}\n", c.number, d.render_line());
                    if let Some(t) = d.render_tie() {
                        let _ = writeln!(s, "  {t}");
                    }
                    s
                }
            }
        };
        let r = if json_out {
            write!(out, "{}\n    {line}", if first { "" } else { "," })
        } else {
            out.write_all(line.as_bytes())
        };
        first = false;
        if let Err(e) = r {
            return io(e);
        }
    }
    let tail = if json_out {
        let skipped: u64 = tally.skipped.values().sum();
        format!(
            "\n  ],\n  \"summary\": {},\n  \"notes\": {}\n}}\n",
            json!({ "packets": tally.packets, "verdicts": tally.verdicts, "not_evaluated": skipped, "not_evaluated_why": tally.skipped }),
            json!(notes)
        )
    } else {
        let mut s = tally.text();
        for n in notes {
            let _ = writeln!(s, "# note: {n}");
        }
        s
    };
    out.write_all(tail.as_bytes()).or_else(io)
}

/// What changed for one group of flows: the old and new verdict and deciders.
#[derive(Default)]
struct Group {
    flows: u64,
    packets: u64,
    examples: Vec<String>,
}

/// `pathproof filter OLD NEW --pcap FILE`: the captured flows whose verdict the
/// change changes, grouped by the rules responsible (old and new), with counts. A
/// flow changes when one of its packets gets another verdict; it counts in the group
/// of the first such packet, and all its changed packets count there.
pub fn run_pcap_diff(
    old_path: &str,
    new_path: &str,
    pcap: &str,
    options: CaptureOptions,
    json_out: bool,
    out: &mut dyn std::io::Write,
) -> Result<(), InputError> {
    let old = ruleset(old_path)?;
    let new = ruleset(new_path)?;
    let mut reader = open_capture(pcap, options)?;
    type Key = (String, String, String, String);
    let mut groups: std::collections::BTreeMap<Key, Group> = std::collections::BTreeMap::new();
    // Per changed flow: its group (flows are keyed by both ends, either way round).
    let mut changed: HashMap<pathproof_rulesets::capture::FlowKey, Key> = HashMap::new();
    let mut flows: std::collections::HashSet<pathproof_rulesets::capture::FlowKey> =
        std::collections::HashSet::new();
    let mut tally = Tally::default();
    while let Some(item) = reader.next() {
        let c = item.map_err(|e| bad_capture(pcap, &e))?;
        tally.packets += 1;
        let p = match &c.packet {
            Err(why) => {
                *tally.skipped.entry(why_kind(why)).or_insert(0) += 1;
                continue;
            }
            Ok(p) => p,
        };
        let flow = c.flow.unwrap_or(pathproof_rulesets::capture::FlowKey {
            iface: 0,
            protocol: p.protocol,
            a: (p.src, p.sport.unwrap_or(0)),
            b: (p.dst, p.dport.unwrap_or(0)),
        });
        flows.insert(flow);
        let (a, b) = (old.evaluate(p), new.evaluate(p));
        // The capture was taken under the old rule set: its refusals shaped conntrack.
        if a.verdict != pathproof_rulesets::Verdict::Accept {
            reader.refused(&c);
        }
        *tally.verdicts.entry(a.verdict.to_string()).or_insert(0) += 1;
        if a.verdict == b.verdict {
            continue;
        }
        let key = match changed.get(&flow) {
            Some(k) => k.clone(),
            None => {
                let k = (
                    a.verdict.to_string(),
                    a.decided_by.render(),
                    b.verdict.to_string(),
                    b.decided_by.render(),
                );
                changed.insert(flow, k.clone());
                let g = groups.entry(k.clone()).or_default();
                g.flows += 1;
                if g.examples.len() < 5 {
                    g.examples.push(format!(
                        "{flow} (first changed at packet {}: {p})",
                        c.number
                    ));
                }
                k
            }
        };
        groups.get_mut(&key).expect("made above").packets += 1;
    }
    // Most flows first, then by the rules.
    let mut list: Vec<(&Key, &Group)> = groups.iter().collect();
    list.sort_by(|x, y| y.1.flows.cmp(&x.1.flows).then(x.0.cmp(y.0)));
    let skipped: u64 = tally.skipped.values().sum();
    let text = if json_out {
        let gs: Vec<Value> = list
            .iter()
            .map(|(k, g)| {
                json!({
                    "old_verdict": k.0, "old_decided_by": k.1,
                    "new_verdict": k.2, "new_decided_by": k.3,
                    "flows": g.flows, "packets": g.packets, "examples": g.examples,
                })
            })
            .collect();
        let v = json!({
            "old": old_path, "new": new_path, "capture": pcap,
            "packets": tally.packets, "flows": flows.len(), "not_evaluated": skipped,
            "not_evaluated_why": tally.skipped,
            "changed_flows": changed.len(), "groups": gs,
        });
        let mut s = serde_json::to_string_pretty(&v).expect("plain values serialise");
        s.push('\n');
        s
    } else {
        let mut s = format!(
            "{pcap}: {} packets in {} flows ({skipped} packets not evaluated); {} flow{} change verdict from {old_path} to {new_path}\n",
            tally.packets,
            flows.len(),
            changed.len(),
            if changed.len() == 1 { "" } else { "s" }
        );
        for (k, g) in &list {
            let _ = writeln!(
                s,
                "\n{} -> {}: {} flow{}, {} packet{}",
                k.0,
                k.2,
                g.flows,
                if g.flows == 1 { "" } else { "s" },
                g.packets,
                if g.packets == 1 { "" } else { "s" }
            );
            let _ = writeln!(s, "  was: {}", k.1);
            let _ = writeln!(s, "  now: {}", k.3);
            for e in &g.examples {
                let _ = writeln!(s, "  e.g. {e}");
            }
            if g.flows as usize > g.examples.len() {
                let _ = writeln!(s, "  and {} more", g.flows as usize - g.examples.len());
            }
        }
        for (why, n) in &tally.skipped {
            let _ = writeln!(s, "# {n} not evaluated: {why}");
        }
        s
    };
    out.write_all(text.as_bytes()).or_else(io)
}

/// The help line under a bad packet line.
const PACKET_HELP: &str = "  help: a packet is PROTO SRC[:PORT] -> DST[:PORT] [in IFACE] [out IFACE] [state new|established|related|invalid] [hook input|forward|output]\n";

/// How `filter --packets` meets a line that is not a packet.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum BadLines {
    /// Decide and print every packet before it, then stop, say where and exit 2.
    Stop,
    /// Read the whole file first; print nothing unless every line is good.
    Strict,
}

/// The most bad lines `--strict` lists.
const STRICT_REPORTED: usize = 20;

/// One decision as a line of text (and its tie note), as `filter` prints it.
fn text_decision(rules: &pathproof_rulesets::Ruleset, line: &Line<'_>, out: &mut Vec<u8>) {
    let d = rules.evaluate_verdict(&line.packet);
    let _ = d.write_line(&mut Bytes(out));
    out.push(b'\t');
    out.extend_from_slice(line.text.as_bytes());
    out.push(b'\n');
    if let Some(t) = d.render_tie() {
        out.extend_from_slice(b"  ");
        out.extend_from_slice(t.as_bytes());
        out.push(b'\n');
    }
}

/// Text written to the end of a byte buffer.
struct Bytes<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Bytes<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// One decision as an element of the JSON document's `results`, as
/// `serde_json::to_string_pretty` writes it two levels in, after `,`: the first
/// element's comma is dropped by [`DropFirstComma`].
fn json_decision(rules: &pathproof_rulesets::Ruleset, line: &Line<'_>, out: &mut Vec<u8>) {
    let d = rules.evaluate(&line.packet);
    let v = decision_json(line.text, line.number, &d);
    let s = serde_json::to_string_pretty(&v).expect("plain values serialise");
    out.extend_from_slice(b",\n    ");
    // JSON strings hold no raw newline: every newline is between tokens.
    for (i, part) in s.split('\n').enumerate() {
        if i > 0 {
            out.extend_from_slice(b"\n    ");
        }
        out.extend_from_slice(part.as_bytes());
    }
}

/// Writes through, without the first byte written (the comma before the first
/// JSON result).
struct DropFirstComma<'a> {
    inner: &'a mut dyn std::io::Write,
    first: bool,
}

impl std::io::Write for DropFirstComma<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.first && !buf.is_empty() {
            self.inner.write_all(&buf[1..])?;
            self.first = false;
            return Ok(buf.len());
        }
        self.inner.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The JSON document around the results: everything before the first result and
/// everything after the last, as `to_string_pretty` writes the whole document
/// (the key order is serde_json's).
fn json_frame(ruleset_path: &str, notes: &[&String]) -> (String, String) {
    const MARK: &str = "\u{1}results\u{1}";
    let v = json!({ "ruleset": ruleset_path, "notes": notes, "results": [MARK] });
    let s = serde_json::to_string_pretty(&v).expect("plain values serialise");
    let mark = serde_json::to_string(MARK).expect("a string");
    let at = s.find(&mark).expect("the mark is in the document");
    let head = s[..at].trim_end_matches([' ', '\n']).to_string();
    let mut tail = s[at + mark.len()..]
        .trim_start_matches([' ', '\n'])
        .to_string();
    tail.push('\n');
    (head, tail)
}

/// `pathproof filter RULESET --packets FILE`: the file's packets read, decided and
/// written in chunks on every core, in the file's order; memory does not grow with
/// the file. What a bad line does is `bad`'s to say.
pub fn run_stream(
    ruleset_path: &str,
    packets_path: &str,
    json_out: bool,
    bad: BadLines,
    options: &StreamOptions,
    out: &mut dyn std::io::Write,
) -> Result<(), InputError> {
    let rules = ruleset(ruleset_path)?;
    let open = || {
        std::fs::File::open(packets_path).map_err(|e| {
            InputError(format!(
                "error: cannot read packet file {packets_path}: {e}\n"
            ))
        })
    };
    let read_error = |e: StreamError| match e {
        StreamError::Read(e) => InputError(format!(
            "error: cannot read packet file {packets_path}: {e}\n"
        )),
        StreamError::Write(e) => InputError(format!("error: cannot write the output: {e}\n")),
    };
    let report = |b: &BadLine| {
        format!(
            "{packets_path}:{}:{}: {}\n",
            b.line,
            b.column,
            crate::diagnostics::clip(&b.message)
        )
    };
    if bad == BadLines::Strict {
        let o = stream::run(
            open()?,
            &mut std::io::sink(),
            options,
            Mode::Validate {
                max_reported: STRICT_REPORTED,
            },
            &|_: &Line<'_>, _: &mut Vec<u8>| {},
        )
        .map_err(read_error)?;
        if o.bad_lines > 0 {
            let mut msg = format!(
                "error: {} line{} of {packets_path} {} not a packet; nothing was decided (--strict)\n",
                o.bad_lines,
                if o.bad_lines == 1 { "" } else { "s" },
                if o.bad_lines == 1 { "is" } else { "are" },
            );
            for b in &o.bad {
                msg.push_str(&report(b));
            }
            if o.bad_lines > o.bad.len() as u64 {
                let _ = writeln!(msg, "... and {} more", o.bad_lines - o.bad.len() as u64);
            }
            msg.push_str(PACKET_HELP);
            return Err(InputError(msg));
        }
    }
    let mut notes: Vec<&String> = rules.notes().iter().collect();
    notes.sort();
    // A packet's JSON is some 20 times its line: chunks of an eighth of the size keep
    // the chunks' output (what the queues hold) near the text's.
    let json_options = StreamOptions {
        chunk_bytes: (options.chunk_bytes / 8).max(1),
        ..options.clone()
    };
    let outcome = if json_out {
        let options = &json_options;
        let (head, tail) = json_frame(ruleset_path, &notes);
        if let Err(e) = out.write_all(head.as_bytes()) {
            return io(e);
        }
        let emit = |l: &Line<'_>, o: &mut Vec<u8>| json_decision(&rules, l, o);
        let mut w = DropFirstComma {
            inner: &mut *out,
            first: true,
        };
        let o = stream::run(open()?, &mut w, options, Mode::Decide, &emit).map_err(read_error)?;
        if o.closed {
            return Ok(());
        }
        let end = if o.packets > 0 { "\n  " } else { "" };
        if let Err(e) = write!(out, "{end}{tail}") {
            return io(e);
        }
        o
    } else {
        let emit = |l: &Line<'_>, o: &mut Vec<u8>| text_decision(&rules, l, o);
        let o = stream::run(open()?, out, options, Mode::Decide, &emit).map_err(read_error)?;
        if o.closed {
            return Ok(());
        }
        let mut s = String::new();
        for n in notes {
            let _ = writeln!(s, "# note: {n}");
        }
        if let Err(e) = out.write_all(s.as_bytes()) {
            return io(e);
        }
        o
    };
    match outcome.bad.first() {
        None => Ok(()),
        Some(b) => {
            let mut msg = format!(
                "error: {packets_path}: line {} is not a packet; the {} packet{} before it {} decided above, none after it\n",
                b.line,
                outcome.packets,
                if outcome.packets == 1 { "" } else { "s" },
                if outcome.packets == 1 { "is" } else { "are" },
            );
            msg.push_str(&report(b));
            msg.push_str(PACKET_HELP);
            Err(InputError(msg))
        }
    }
}
