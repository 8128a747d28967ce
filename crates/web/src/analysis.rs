//! The questions about every journey: `/api/reach` (the reachability
//! matrix), `/api/diff` (journeys a variant adds and removes, with the change
//! responsible) and `/api/foothold` (the attacker's view). Each answer comes
//! from `pathproof_core::analysis`; this module only arranges it for the page
//! and attaches, to every journey it shows, a `POST /api/trace` body that
//! replays one example packet of it.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use pathproof_core::analysis::budget::{vec_bytes, Budget, Exceeded};
use pathproof_core::analysis::diff;
use pathproof_core::analysis::foothold;
use pathproof_core::analysis::incremental::WarmReach;
use pathproof_core::analysis::reach::{
    self, all_sources, example, path_rules, reach_with_budget, summarise, Example, ReachQuery,
    SpaceSummary,
};
use pathproof_core::analysis::symbolic::{Engine, Source};
use pathproof_core::load::diagnostic::nearest;
use pathproof_core::model::{HostId, Proto, Scenario};
use pathproof_core::{Query as TraceQuery, Trace};

use crate::api::{scenario_for, ApiError, ApiQuery, QueryForm};
use crate::changes::{changes, responsible};
use crate::out::{Streamed, Text};
use crate::work::exceeded;
use crate::{AppState, Current};

// ---------- shared ----------

/// A `POST /api/trace` body that replays one example packet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceBody {
    pub from: String,
    pub to: String,
    pub proto: Proto,
    pub sport: u16,
    pub ipv6: bool,
}

impl TraceBody {
    /// The example sent by the host named `name`, or by a network's stand-in
    /// sender from the example's own address (`dmz@10.0.1.0`).
    fn new(source_is_network: bool, name: &str, ex: &Example) -> Self {
        let from = if source_is_network {
            format!("{name}@{}", ex.src)
        } else {
            name.to_string()
        };
        let to = match (ex.proto, ex.dst) {
            (Proto::Icmp, d) => d.to_string(),
            (_, IpAddr::V6(d)) => format!("[{d}]:{}", ex.dport),
            (_, IpAddr::V4(d)) => format!("{d}:{}", ex.dport),
        };
        TraceBody {
            from,
            to,
            proto: ex.proto,
            sport: ex.sport,
            ipv6: ex.dst.is_ipv6(),
        }
    }

    fn query(&self) -> TraceQuery {
        let mut q = TraceQuery::new(&self.from, &self.to);
        q.proto = self.proto;
        q.sport = Some(self.sport);
        q.ipv6 = self.ipv6;
        q
    }
}

/// For a TLS socket, the same example addressed by one of the socket's names
/// (when the source resolves that name to the example's destination and the
/// trace then completes): a client that verifies certificates connects by
/// name, and the trace by address would end at the name check instead.
fn by_name(scn: &Scenario, body: TraceBody, host: HostId, socket: &str, ex: &Example) -> TraceBody {
    let Some(tls) = scn
        .host(host)
        .sockets
        .iter()
        .find(|s| s.text == socket)
        .and_then(|s| s.tls.as_ref())
    else {
        return body;
    };
    for name in tls.names.iter().filter(|n| !n.contains('*')) {
        let candidate = TraceBody {
            to: format!("{name}:{}", ex.dport),
            ..body.clone()
        };
        if let Ok(t) = pathproof_core::trace(scn, &candidate.query()) {
            if t.query.destination_address == Some(ex.dst)
                && t.outcome.kind == pathproof_core::evidence::OutcomeKind::Reached
            {
                return candidate;
            }
        }
    }
    body
}

fn to_value(v: &impl Serialize) -> Value {
    serde_json::to_value(v).expect("plain values serialise")
}

/// The fields of a value that serialises as a JSON object.
fn fields(v: &impl Serialize) -> serde_json::Map<String, Value> {
    match to_value(v) {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

/// Answers `key` from the current scenario's stored answers, or computes it
/// (`compute`, with the request's budget, on a blocking thread once the
/// engine has a free slot; see `work.rs`) and keeps it. `narrow` is the way
/// to a smaller question when the answer is too large.
async fn answer(
    st: &AppState,
    cur: Arc<Current>,
    key: String,
    narrow: &'static str,
    compute: impl FnOnce(&Budget) -> Result<Text, Exceeded> + Send + 'static,
) -> Result<Response, ApiError> {
    if let Some(a) = cur.answer(&key) {
        return Ok(a.response());
    }
    // Under way in the background: wait for that computation rather than
    // start a second one. Stopped before its end (another scenario, or its
    // own deadline), the question is computed as any other.
    if let Some(mut flight) = cur.flight(&key) {
        let done = flight
            .wait_for(Option::is_some)
            .await
            .ok()
            .and_then(|r| r.clone());
        match done {
            Some(Ok(text)) => return Ok(text.response()),
            Some(Err(e @ Exceeded::TooLarge { .. })) => return Err(exceeded(e, narrow)),
            Some(Err(Exceeded::Cancelled)) | None => {}
        }
    }
    let again = cur.clone();
    let text = st
        .work
        .run(move |budget| {
            // Asked and answered while this one waited for its turn.
            if let Some(a) = again.answer(&key) {
                return Ok(a);
            }
            let text = Arc::new(compute(budget).map_err(|e| exceeded(e, narrow))?);
            again.keep_answer(key, text.clone(), budget.limit());
            Ok(text)
        })
        .await?;
    Ok(text.response())
}

fn unknown_place(scn: &Scenario, what: &str, name: &str) -> ApiError {
    let mut names: Vec<&str> = scn
        .hosts
        .iter()
        .map(|h| h.name.as_str())
        .chain(scn.networks.iter().map(|n| n.name.as_str()))
        .collect();
    names.sort_unstable();
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        format!("unknown {what} `{name}` in {}", scn.file),
        nearest(name, names.iter().copied())
            .map(|n| format!("did you mean `{n}`?"))
            .or_else(|| Some("name a host or a network of the scenario".into())),
    )
}

/// The network a host is drawn in (its first interface's), as an index.
fn host_group(scn: &Scenario, h: HostId) -> Option<usize> {
    scn.host(h).interfaces.first().map(|i| i.network.index())
}

// ---------- /api/reach ----------

/// The question of `GET /api/reach` (query string) and `POST /api/reach` (JSON body).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReachRequest {
    /// Only these sources: a host, or a network (its stand-in sender and every host on it).
    #[serde(default)]
    pub from: Option<String>,
    /// Only sockets on this host, or on the hosts of this network.
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub variant: Option<String>,
    /// The answer cell by cell (schema 1), with every path, packet and
    /// trace: for a narrowed question (one cell's detail); the whole
    /// matrix in this form grows with the pairs.
    #[serde(default)]
    pub cells: Option<bool>,
}

impl QueryForm for ReachRequest {
    const FORM: &'static str =
        "?from=SOURCE, ?to=DESTINATION, ?variant=NAME and ?cells=true, each optional and once";
}

fn sources_named(scn: &Scenario, name: &str, what: &str) -> Result<Vec<Source>, ApiError> {
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
                .map(|(i, _)| Source::Host(HostId(i as u32))),
        );
        return Ok(v);
    }
    Err(unknown_place(scn, what, name))
}

fn reach_query(scn: &Scenario, req: &ReachRequest) -> Result<ReachQuery, ApiError> {
    let mut q = ReachQuery::default();
    if let Some(f) = req.from.as_deref().filter(|f| !f.is_empty()) {
        q.from = Some(sources_named(scn, f, "source")?);
    }
    if let Some(t) = req.to.as_deref().filter(|t| !t.is_empty()) {
        q.to = Some(
            sources_named(scn, t, "destination")?
                .into_iter()
                .filter_map(|s| match s {
                    Source::Host(h) => Some(h),
                    Source::Network(_) => None,
                })
                .collect(),
        );
    }
    Ok(q)
}

#[derive(Serialize)]
struct Row {
    name: String,
    /// `host` or `network` (anyone on the network without a host's address).
    kind: &'static str,
    /// The network it is drawn in (null for a host on no network).
    group: Option<String>,
}

#[derive(Serialize)]
struct ColumnSocket {
    index: usize,
    proto: Proto,
    port: u16,
    text: String,
    app: Option<String>,
}

#[derive(Serialize)]
struct Column {
    host: String,
    group: Option<String>,
    sensitive: bool,
    sockets: Vec<ColumnSocket>,
}

#[derive(Serialize)]
struct CellPath {
    /// The rules that let it through on the way there (`edge-fw rule 1`, `dnat: …`).
    rules: Vec<String>,
    /// The devices on the way there.
    devices: Vec<String>,
    packets: SpaceSummary,
    example: Option<Example>,
    /// Replays the example from this row's source.
    trace: Option<TraceBody>,
}

#[derive(Serialize)]
struct CellSocket {
    index: usize,
    text: String,
    proto: Proto,
    port: u16,
    /// The packets, as the source sends them, that reach this socket.
    packets: SpaceSummary,
    paths: Vec<CellPath>,
}

#[derive(Serialize)]
struct Cell {
    source: String,
    host: String,
    /// The sockets reached, per protocol, as port ranges: `tcp 22, 443`.
    ports: String,
    sockets: Vec<CellSocket>,
}

/// `tcp 22, 8000-8010; udp 53`: ports merged into ranges, never enumerated one by one
/// when they are consecutive.
pub(crate) fn port_text(mut v: Vec<(Proto, u16)>) -> String {
    v.sort();
    v.dedup();
    let mut parts: Vec<String> = Vec::new();
    // Every protocol a socket may have (an `sctp` socket, too).
    for proto in [Proto::Tcp, Proto::Udp, Proto::Sctp, Proto::Icmp] {
        let ports: Vec<u16> = v
            .iter()
            .filter(|(p, _)| *p == proto)
            .map(|(_, x)| *x)
            .collect();
        if ports.is_empty() {
            continue;
        }
        if proto == Proto::Icmp {
            parts.push("icmp".into());
            continue;
        }
        let mut ranges: Vec<(u16, u16)> = Vec::new();
        for p in ports {
            match ranges.last_mut() {
                Some((_, hi)) if u32::from(*hi) + 1 == u32::from(p) => *hi = p,
                _ => ranges.push((p, p)),
            }
        }
        let r: Vec<String> = ranges
            .iter()
            .map(|(a, b)| {
                if a == b {
                    a.to_string()
                } else {
                    format!("{a}-{b}")
                }
            })
            .collect();
        parts.push(format!("{} {}", proto.name(), r.join(", ")));
    }
    parts.join("; ")
}

/// One (row, column) pair's socket as the reach answer has it: row, column,
/// socket, class, the socket's place among the class's targets.
type CellEntry = (u32, u32, u32, u32, u32);

/// The matrix's rows and columns: sources grouped by network (networks in
/// file order; a network's hosts, then its stand-in sender; hosts on no
/// network last), and the hosts that listen, grouped alike.
struct Axes {
    rows: Vec<Source>,
    row_index: BTreeMap<Source, usize>,
    targets: Vec<HostId>,
    /// A host's column, if it is one.
    column: Vec<Option<u32>>,
}

fn source_group(scn: &Scenario, s: Source) -> Option<usize> {
    match s {
        Source::Host(h) => host_group(scn, h),
        Source::Network(n) => Some(n.index()),
    }
}

impl Axes {
    fn new(scn: &Scenario, q: &ReachQuery) -> Axes {
        let group_of = |s: Source| source_group(scn, s);
        let mut rows: Vec<Source> = q.from.clone().unwrap_or_else(|| all_sources(scn));
        rows.sort_by_key(|s| {
            let g = group_of(*s).unwrap_or(usize::MAX);
            match s {
                Source::Host(h) => (g, 0, h.index()),
                Source::Network(n) => (g, 1, n.index()),
            }
        });
        rows.dedup();
        let row_index = rows.iter().enumerate().map(|(i, s)| (*s, i)).collect();
        let mut targets: Vec<HostId> = match &q.to {
            Some(t) => t.clone(),
            None => (0..scn.hosts.len()).map(|i| HostId(i as u32)).collect(),
        };
        targets.retain(|h| !scn.host(*h).sockets.is_empty());
        targets.sort_by_key(|h| (host_group(scn, *h).unwrap_or(usize::MAX), h.index()));
        targets.dedup();
        let mut column: Vec<Option<u32>> = vec![None; scn.hosts.len()];
        for (c, h) in targets.iter().enumerate() {
            column[h.index()] = Some(c as u32);
        }
        Axes {
            rows,
            row_index,
            targets,
            column,
        }
    }

    /// The answer's fields that name the rows and columns.
    fn fields(&self, scn: &Scenario, schema: u32) -> serde_json::Map<String, Value> {
        let group_name = |g: Option<usize>| g.map(|i| scn.networks[i].name.clone());
        let v = json!({
            "schema": schema,
            "scenario": scn.name,
            "file": scn.file,
            "variant": scn.variant,
            "sources": self.rows.iter().map(|s| Row {
                name: reach::source_name(scn, *s),
                kind: match s { Source::Host(_) => "host", Source::Network(_) => "network" },
                group: group_name(source_group(scn, *s)),
            }).collect::<Vec<_>>(),
            "targets": self.targets.iter().map(|h| {
                let host = scn.host(*h);
                Column {
                    host: host.name.clone(),
                    group: group_name(host_group(scn, *h)),
                    sensitive: host.sensitive,
                    sockets: host.sockets.iter().enumerate().map(|(i, s)| ColumnSocket {
                        index: i, proto: s.proto, port: s.port, text: s.text.clone(), app: s.app.clone(),
                    }).collect(),
                }
            }).collect::<Vec<_>>(),
        });
        let Value::Object(top) = v else {
            unreachable!("an object")
        };
        top
    }
}

/// Sorted indices as inclusive ranges, flat: `[0, 4, 7, 7]` is 0-4 and 7.
fn flat_ranges(sorted: &[u32]) -> Vec<u32> {
    let mut out: Vec<u32> = Vec::new();
    for &i in sorted {
        match out.last_mut() {
            Some(hi) if *hi + 1 == i => *hi = i,
            Some(hi) if *hi == i => {}
            _ => out.extend([i, i]),
        }
    }
    out
}

/// The matrix as classes (schema 2): every class is a rectangle of rows
/// (as ranges) and (column, socket) pairs that connect, with no detail; its
/// size follows the classes, not the pairs. The detail of a cell is the
/// narrowed question `?from=ROW&to=COLUMN&cells=true`.
///
/// The whole matrix (no `from`, no `to`) is answered from `warm`, the reach
/// kept warm class of sources by class for the last scenario or variant
/// asked: moved to this one, it walks again only the classes whose walks met
/// what changed (a variant's or an edit's rules), the same journeys a walk
/// from scratch finds. Other questions are walked from scratch.
fn reach_classes_json(
    scn: &Arc<Scenario>,
    q: &ReachQuery,
    budget: &Budget,
    warm: &Mutex<Option<WarmReach>>,
) -> Result<Text, Exceeded> {
    if q.from.is_none() && q.to.is_none() {
        let mut kept = warm.lock().unwrap_or_else(|e| e.into_inner());
        let moved = match kept.as_mut() {
            Some(w) => w.update(scn.clone(), budget).map(|_| ()),
            None => WarmReach::new(scn.clone(), q.clone(), budget).map(|w| *kept = Some(w)),
        };
        if let Err(e) = moved {
            *kept = None;
            return Err(e);
        }
        let w = kept.as_ref().expect("kept just above");
        let text = classes_text(scn, q, &w.journeys(), budget);
        // Kept while it fits one request's budget (as answers are).
        if text.is_err() || w.bytes() > budget.limit() {
            *kept = None;
        }
        return text;
    }
    let engine = Engine::new(scn);
    let r = reach_with_budget(&engine, q, false, budget)?;
    classes_text(scn, q, &r.journeys.iter().collect::<Vec<_>>(), budget)
}

/// The matrix's text from its journeys (see [`reach_classes_json`]).
fn classes_text(
    scn: &Scenario,
    q: &ReachQuery,
    journeys: &[&reach::Journey],
    budget: &Budget,
) -> Result<Text, Exceeded> {
    let axes = Axes::new(scn, q);
    let mut top = axes.fields(scn, 2);
    let pairs: usize = journeys.iter().map(|j| j.pairs()).sum();
    top.insert("pairs".into(), json!(pairs));
    top.insert("journeys".into(), json!(journeys.len()));
    let class = |j: &reach::Journey| -> Option<Result<Value, Exceeded>> {
        if let Err(e) = budget.check() {
            return Some(Err(e));
        }
        let mut rows: Vec<u32> = j
            .members
            .iter()
            .filter_map(|m| axes.row_index.get(m).map(|&i| i as u32))
            .collect();
        rows.sort_unstable();
        let mut sockets: Vec<(u32, u32)> = j
            .targets
            .iter()
            .filter_map(|t| axes.column[t.host.index()].map(|c| (c, t.socket as u32)))
            .collect();
        if rows.is_empty() || sockets.is_empty() {
            return None;
        }
        sockets.sort_unstable();
        let sockets: Vec<u32> = sockets.into_iter().flat_map(|(c, s)| [c, s]).collect();
        Some(Ok(json!({
            "rows": flat_ranges(&rows),
            "sockets": sockets,
            "pairs": j.pairs(),
        })))
    };
    let text = Streamed::new(top)
        .list("classes", journeys.iter().copied().filter_map(class))
        .write_lines(budget, 2);
    text
}

/// The matrix cell by cell (schema 1, `?cells=true`): every path, packet
/// and trace of every connecting (row, column); its size grows with the
/// pairs, so the page asks it of one cell at a time.
fn reach_cells_json(scn: &Scenario, q: &ReachQuery, budget: &Budget) -> Result<Text, Exceeded> {
    let engine = Engine::new(scn);
    let r = reach_with_budget(&engine, q, false, budget)?;
    let device = |dev: usize| engine.devices.get(dev).map(|d| d.host.name.clone());
    let axes = Axes::new(scn, q);
    let Axes {
        rows,
        row_index,
        targets,
        column,
    } = &axes;
    let name = |s: Source| reach::source_name(scn, s);

    // Which (row, column) pairs connect, and by which class and target: a
    // few bytes per pair, charged before they are taken; the cells
    // themselves (a class's journeys told for one target, as
    // `Journey::to_target` tells them) are made one at a time as they are
    // written, never the whole answer one socket at a time.
    let mut entries: Vec<CellEntry> = Vec::new();
    let mut journeys = 0usize;
    for (ji, j) in r.journeys.iter().enumerate() {
        let cols: Vec<(usize, u32)> = j
            .targets
            .iter()
            .enumerate()
            .filter_map(|(k, t)| column[t.host.index()].map(|c| (k, c)))
            .collect();
        let members: Vec<(Source, u32)> = j
            .members
            .iter()
            .filter_map(|m| row_index.get(m).map(|&row| (*m, row as u32)))
            .collect();
        // (Twice: the vector may hold as much again in spare room.)
        budget.charge(2 * vec_bytes::<CellEntry>(cols.len() * members.len()))?;
        for &(k, col) in &cols {
            let own = Source::Host(j.targets[k].host);
            if j.members.iter().any(|&m| m != own) {
                journeys += 1;
            }
            for &(m, row) in &members {
                if m != own {
                    entries.push((row, col, j.targets[k].socket as u32, ji as u32, k as u32));
                }
            }
        }
    }
    entries.sort_unstable();

    let cell = |pair: &[CellEntry]| -> Result<Value, Exceeded> {
        budget.check()?;
        let (row, col) = (pair[0].0 as usize, pair[0].1 as usize);
        let m = rows[row];
        let sockets: Vec<CellSocket> = pair
            .iter()
            .filter_map(|&(_, _, _, ji, k)| r.journeys[ji as usize].to_target(scn, k as usize))
            .map(|j| {
                let host = scn.host(j.host());
                let sock = &host.sockets[j.socket()];
                let paths = j
                    .paths
                    .iter()
                    .map(|(path, space)| {
                        let ex = example(space);
                        let mut devices: Vec<String> = Vec::new();
                        for step in path.iter().filter(|s| !s.reply()) {
                            if let Some(n) = device(step.device()) {
                                if devices.last() != Some(&n) {
                                    devices.push(n);
                                }
                            }
                        }
                        CellPath {
                            rules: path_rules(scn, path),
                            devices,
                            packets: summarise(space),
                            trace: ex.as_ref().map(|e| {
                                let body =
                                    TraceBody::new(matches!(m, Source::Network(_)), &name(m), e);
                                by_name(scn, body, j.host(), &sock.text, e)
                            }),
                            example: ex,
                        }
                    })
                    .collect();
                CellSocket {
                    index: j.socket(),
                    text: sock.text.clone(),
                    proto: sock.proto,
                    port: sock.port,
                    packets: summarise(&j.space()),
                    paths,
                }
            })
            .collect();
        Ok(to_value(&Cell {
            source: name(m),
            host: scn.host(targets[col]).name.clone(),
            ports: port_text(sockets.iter().map(|s| (s.proto, s.port)).collect()),
            sockets,
        }))
    };
    let mut top = axes.fields(scn, 1);
    top.insert("journeys".into(), json!(journeys));
    let text = Streamed::new(top)
        .list(
            "cells",
            entries.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)).map(cell),
        )
        .write(budget);
    text
}

/// How to ask `/api/reach` a smaller question.
const NARROW_REACH: &str = "ask about fewer sources or destinations: ?from=HOST or ?from=NETWORK, ?to=HOST or ?to=NETWORK (or the same fields in the POST body), or load a smaller scenario";

/// The key of a reach question among the answers kept.
fn reach_key(req: &ReachRequest) -> String {
    format!(
        "reach\n{}\n{}\n{}\n{}",
        req.cells.unwrap_or(false),
        req.variant.as_deref().unwrap_or(""),
        req.from.as_deref().unwrap_or(""),
        req.to.as_deref().unwrap_or("")
    )
}

/// Starts computing `cur`'s matrix (`GET /api/reach`, the page's first
/// question) in the background, as an analysis like a request's: it waits
/// for a slot, has the budget of `Limits::memory`, is stopped after
/// `Limits::request` and when another scenario replaces `cur`; its answer is
/// kept as a request's would be. A request for it meanwhile waits for it.
pub(crate) fn warm_matrix(st: &AppState, cur: &Arc<Current>) {
    let key = reach_key(&ReachRequest::default());
    if cur.answer(&key).is_some() || cur.flight(&key).is_some() {
        return;
    }
    let (tx, rx) = tokio::sync::watch::channel(None);
    cur.set_flight(&key, Some(rx));
    let work = st.work.clone();
    let deadline = work.limits.request;
    let scn = cur.base.clone();
    let here = cur.clone();
    let matrix = st.matrix.clone();
    let task = tokio::spawn(async move {
        let kept = here.clone();
        let k = key.clone();
        let run = work.run(move |budget| {
            let text =
                reach_classes_json(&scn, &ReachQuery::default(), budget, &matrix).map(Arc::new);
            if let Ok(t) = &text {
                kept.keep_answer(k, t.clone(), budget.limit());
            }
            Ok(text)
        });
        // Past the deadline the future is dropped, which stops the work.
        let done = match tokio::time::timeout(deadline, run).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) | Err(_) => Err(Exceeded::Cancelled),
        };
        here.set_flight(&key, None);
        let _ = tx.send(Some(done));
    });
    *cur.background.lock().unwrap_or_else(|e| e.into_inner()) = Some(task.abort_handle());
}

async fn reach_answer(st: AppState, req: ReachRequest) -> Result<Response, ApiError> {
    let cur = st.current();
    let scn = scenario_for(&cur, req.variant.as_deref())?;
    let q = reach_query(&scn, &req)?;
    let key = reach_key(&req);
    let cells = req.cells.unwrap_or(false);
    let matrix = st.matrix.clone();
    answer(&st, cur, key, NARROW_REACH, move |budget| {
        if cells {
            reach_cells_json(&scn, &q, budget)
        } else {
            reach_classes_json(&scn, &q, budget, &matrix)
        }
    })
    .await
}

pub async fn get_reach(
    State(st): State<AppState>,
    ApiQuery(req): ApiQuery<ReachRequest>,
) -> Result<Response, ApiError> {
    reach_answer(st, req).await
}

pub async fn post_reach(
    State(st): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body?;
    let req: ReachRequest = if body.iter().all(u8::is_ascii_whitespace) {
        ReachRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("the body is not a reach question: {e}")))?
    };
    reach_answer(st, req).await
}

// ---------- /api/diff ----------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffParams {
    pub variant: Option<String>,
    /// What to compare with: another variant (`break` when `variant` is
    /// `break+harden`); absent or empty, the scenario as written.
    pub base: Option<String>,
}

impl QueryForm for DiffParams {
    const FORM: &'static str = "?variant=NAME and optionally ?base=NAME, each once";
}

fn trace_or_none(scn: &Scenario, body: &TraceBody) -> Option<Trace> {
    pathproof_core::trace(scn, &body.query()).ok()
}

fn diff_json(old: &Scenario, new: &Scenario, budget: &Budget) -> Result<Text, Exceeded> {
    let mut d = diff::diff_with_budget(old, new, budget)?;
    let decls = changes(old, new);
    let gained = std::mem::take(&mut d.gained);
    let lost = std::mem::take(&mut d.lost);
    let mut top = fields(&d);
    top.insert("changes".into(), json!(decls));
    // Each journey change: a trace body for its example, and the changed
    // declarations its traces (as written and under the variant) cite.
    // A gained journey connects under the variant, a lost one as written.
    let with_replay = |here: &Scenario, c: &diff::Change| -> Result<Value, Exceeded> {
        budget.check()?;
        let mut out = to_value(c);
        let body = TraceBody::new(c.source_kind == "network", &c.source, &c.example);
        let body = match here.host_by_name(&c.host) {
            Some(h) => by_name(here, body, h, &c.socket, &c.example),
            None => body,
        };
        let under_old = trace_or_none(old, &body);
        let under_new = trace_or_none(new, &body);
        let traces: Vec<&Trace> = under_old.iter().chain(under_new.iter()).collect();
        let outcome = |t: &Option<Trace>| t.as_ref().map(|t| t.outcome.kind.name().to_string());
        out["trace"] = json!(body);
        out["as_written"] = json!(outcome(&under_old));
        out["under_variant"] = json!(outcome(&under_new));
        out["responsible"] = json!(responsible(&decls, &traces));
        Ok(out)
    };
    let text = Streamed::new(top)
        .list("gained", gained.iter().map(|c| with_replay(new, c)))
        .list("lost", lost.iter().map(|c| with_replay(old, c)))
        .write(budget);
    text
}

/// How to ask `/api/diff` a smaller question.
const NARROW_DIFF: &str = "a diff is about every journey of the scenario and its variant: load a smaller scenario, or compare fewer journeys with /api/reach?variant=NAME&from=HOST on each side";

pub async fn get_diff(
    State(st): State<AppState>,
    ApiQuery(p): ApiQuery<DiffParams>,
) -> Result<Response, ApiError> {
    let cur = st.current();
    let base = p.base.filter(|b| !b.is_empty());
    // From a variant back to the scenario as written: `?variant=&base=break`.
    if let (Some(""), Some(b)) = (p.variant.as_deref(), base.as_deref()) {
        let old = scenario_for(&cur, Some(b))?;
        let new = cur.base.clone();
        return answer(
            &st,
            cur,
            format!("diff\n\n{b}"),
            NARROW_DIFF,
            move |budget| diff_json(&old, &new, budget),
        )
        .await;
    }
    let Some(variant) = p.variant.filter(|v| !v.is_empty()) else {
        let names: Vec<&str> = cur.variants.iter().map(|(n, _)| n.as_str()).collect();
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "a diff compares the scenario with one of its variants: add ?variant=NAME",
            Some(if names.is_empty() {
                format!("{} has no variants", cur.file)
            } else {
                format!("variants of {}: {}", cur.file, names.join(", "))
            }),
        ));
    };
    let new = scenario_for(&cur, Some(&variant))?;
    let old = scenario_for(&cur, base.as_deref())?;
    let key = format!("diff\n{variant}\n{}", base.unwrap_or_default());
    answer(&st, cur, key, NARROW_DIFF, move |budget| {
        diff_json(&old, &new, budget)
    })
    .await
}

// ---------- /api/foothold ----------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FootholdParams {
    pub from: Option<String>,
    pub variant: Option<String>,
}

impl QueryForm for FootholdParams {
    const FORM: &'static str = "?from=HOST (once), and optionally ?variant=NAME";
}

/// An edge as the answer has it: the command line's fields, the trace body
/// of its example (null without one), and the devices its request crosses,
/// in order, so that the page can draw the step along the wire.
fn edge_json(scn: &Scenario, e: &foothold::Edge) -> Value {
    let mut out = to_value(e);
    let body = e.example.as_ref().map(|ex| {
        let body = TraceBody::new(false, &e.from, ex);
        match (scn.host_by_name(&e.to), &e.foothold) {
            (Some(h), Some(sock)) => by_name(scn, body, h, sock, ex),
            _ => body,
        }
    });
    let devices = body
        .as_ref()
        .and_then(|b| trace_or_none(scn, b))
        .map(|t| request_devices(&t))
        .unwrap_or_default();
    out["trace"] = json!(body);
    out["devices"] = json!(devices);
    out
}

/// The devices a trace's request crosses, in order, each once in a row.
fn request_devices(t: &Trace) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for h in &t.hops {
        if h.direction != pathproof_core::evidence::Direction::Request {
            break;
        }
        if out.last() != Some(&h.device) {
            out.push(h.device.clone());
        }
    }
    out
}

fn foothold_json(scn: &Scenario, h: HostId, budget: &Budget) -> Result<Text, Exceeded> {
    let mut f = foothold::foothold_with_budget(scn, h, budget)?;
    let depth = f.compromised.iter().map(|r| r.depth).max().unwrap_or(0);
    let compromised = std::mem::take(&mut f.compromised);
    let direct = std::mem::take(&mut f.direct);
    let edges = std::mem::take(&mut f.edges);
    let jewels = std::mem::take(&mut f.jewels);
    let mut top = fields(&f);
    top.insert("depth".into(), json!(depth));
    let edge = |e: &foothold::Edge| -> Result<Value, Exceeded> {
        budget.check()?;
        Ok(edge_json(scn, e))
    };
    let text = Streamed::new(top)
        .list(
            "compromised",
            compromised
                .iter()
                .map(|r| budget.check().map(|()| to_value(r))),
        )
        .list("direct", direct.iter().map(edge))
        .list("edges", edges.iter().map(edge))
        .list(
            "jewels",
            jewels.iter().map(|j| -> Result<Value, Exceeded> {
                let mut out = to_value(j);
                out["edges"] = Value::Array(j.edges.iter().map(edge).collect::<Result<_, _>>()?);
                Ok(out)
            }),
        )
        .write(budget);
    text
}

/// How to ask `/api/foothold` a smaller question.
const NARROW_FOOTHOLD: &str = "a foothold follows every host the attacker takes over: start from another host, or load a smaller scenario";

pub async fn get_foothold(
    State(st): State<AppState>,
    ApiQuery(p): ApiQuery<FootholdParams>,
) -> Result<Response, ApiError> {
    let cur = st.current();
    let scn = scenario_for(&cur, p.variant.as_deref())?;
    let Some(from) = p.from.filter(|f| !f.is_empty()) else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "a foothold needs a host: add ?from=HOST",
            None,
        ));
    };
    let Some(h) = scn.host_by_name(&from) else {
        if scn.network_by_name(&from).is_some() {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("a foothold is a host; `{from}` is a network"),
                Some("pick one of the network's hosts".into()),
            ));
        }
        return Err(unknown_place(&scn, "host", &from));
    };
    let key = format!("foothold\n{}\n{from}", p.variant.as_deref().unwrap_or(""));
    answer(&st, cur, key, NARROW_FOOTHOLD, move |budget| {
        foothold_json(&scn, h, budget)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_protocol_is_named() {
        // Whatever the protocol of a socket, its cell says it.
        for p in [Proto::Tcp, Proto::Udp, Proto::Sctp, Proto::Icmp] {
            let text = port_text(vec![(p, 7)]);
            assert!(text.starts_with(p.name()), "{p:?}: {text}");
        }
        assert_eq!(
            port_text(vec![(Proto::Sctp, 2), (Proto::Udp, 1), (Proto::Sctp, 3)]),
            "udp 1; sctp 2-3"
        );
    }

    #[test]
    fn ports_are_ranges() {
        assert_eq!(port_text(vec![]), "");
        assert_eq!(
            port_text(vec![
                (Proto::Tcp, 443),
                (Proto::Tcp, 22),
                (Proto::Tcp, 8001),
                (Proto::Tcp, 8000),
                (Proto::Tcp, 8002),
                (Proto::Udp, 53),
                (Proto::Tcp, 22),
            ]),
            "tcp 22, 443, 8000-8002; udp 53"
        );
        assert_eq!(
            port_text(vec![(Proto::Tcp, 65535), (Proto::Tcp, 65534)]),
            "tcp 65534-65535"
        );
    }
}
