//! Probes: real connections from a host's namespace, next to the model's
//! prediction for the same journey.
//!
//! For each journey the probe asks the model (`pathproof_core::trace`), then
//! makes the connection for real from the source namespace: bound to the
//! source address and port the model says the client uses (the model's
//! documented source-address rule), resolved through the namespace's own
//! resolver when the destination is a DNS name, and through the forward proxy
//! when the journey goes `via` one; a ping for ICMP. What the kernel did is
//! reduced to the client's view (connected, refused, unreachable, timed out,
//! ...) and compared with the classes the model's outcome allows (`expected`);
//! a connected journey also compares the address the service saw, the host
//! that answered, the `X-Forwarded-For` it got and every other header with
//! the model's. Nothing is excused: a difference is a disagreement.
//! `plan_jobs` says which journeys are probed, and which expectations are not
//! (with why).

use std::io::{BufRead, BufReader, Read, Write};
use std::mem::size_of;
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::os::fd::{FromRawFd, RawFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use pathproof_core::evidence::{OutcomeKind, Stage, Trace};
use pathproof_core::model::{Place, Proto, ProxyMode, Scenario};
use pathproof_core::Query;

use crate::dns;
use crate::netns;
use crate::plan::Plan;
use crate::services::{field, CLIENT_XFF, HEADERS_LINE, HEAD_LINE, PROXY_ECHO_HEADER, TLS_LINE};

/// How long a probe waits for a connection or an answer.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(1500);
/// How many probes run at once.
pub const PARALLEL: usize = 128;
/// How long a probe waits for the first answer on a connection: longer
/// than a proxy waits for its upstream (`services::UPSTREAM_TIMEOUT`), so a
/// reverse proxy's report that its upstream timed out is heard, not taken
/// for a silent service.
pub const ANSWER_TIMEOUT: Duration = Duration::from_millis(2500);

/// What the client saw, reduced to classes both sides can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    Connected,
    /// TCP reset or ICMP port unreachable (ECONNREFUSED).
    Refused,
    /// ENETUNREACH or EHOSTUNREACH (no route, no neighbour, admin-prohibited).
    Unreachable,
    /// No answer before the timeout.
    Timeout,
    /// The local kernel discarded the packet before it left (EPERM from an
    /// output-hook drop, EINVAL from a blackhole route): no answer either.
    LocalDrop,
    /// The TLS handshake failed (name, issuer or client certificate).
    TlsFailed,
    /// EACCES: an ICMPv6 administratively-prohibited answer (Linux reports
    /// "permission denied" for it, where IPv4's gives "no route to host").
    Prohibited,
    Unresolved,
    ProxyDenied,
    /// A proxy answered `508 Loop Detected` (`services::LOOP_STATUS`): the
    /// request came back to a proxy it had crossed.
    LoopDetected,
    Other,
}

impl Class {
    pub fn name(self) -> &'static str {
        match self {
            Class::Connected => "connected",
            Class::Refused => "refused",
            Class::Unreachable => "unreachable",
            Class::Timeout => "timed out",
            Class::LocalDrop => "dropped locally",
            Class::Prohibited => "prohibited",
            Class::TlsFailed => "tls failed",
            Class::Unresolved => "unresolved",
            Class::ProxyDenied => "proxy denied",
            Class::LoopDetected => "loop detected",
            Class::Other => "other error",
        }
    }
}

/// The class a service names (`Class::name`).
pub fn class_by_name(s: &str) -> Class {
    match s {
        "connected" => Class::Connected,
        "refused" => Class::Refused,
        "unreachable" => Class::Unreachable,
        "timed out" => Class::Timeout,
        "dropped locally" => Class::LocalDrop,
        "proxy denied" => Class::ProxyDenied,
        "loop detected" => Class::LoopDetected,
        "prohibited" => Class::Prohibited,
        u if u.starts_with("unresolved") => Class::Unresolved,
        _ => Class::Other,
    }
}

pub fn classify_err(e: &std::io::Error) -> Class {
    match e.raw_os_error() {
        Some(libc::ECONNREFUSED) => Class::Refused,
        Some(libc::ENETUNREACH) | Some(libc::EHOSTUNREACH) => Class::Unreachable,
        Some(libc::ETIMEDOUT) | Some(libc::EAGAIN) | Some(libc::EINPROGRESS) => Class::Timeout,
        Some(libc::EPERM) | Some(libc::EINVAL) => Class::LocalDrop,
        Some(libc::EACCES) => Class::Prohibited,
        _ if e.kind() == std::io::ErrorKind::TimedOut
            || e.kind() == std::io::ErrorKind::WouldBlock =>
        {
            Class::Timeout
        }
        _ => Class::Other,
    }
}

/// The classes a model outcome allows on the kernel side.
pub fn expected(t: &Trace) -> Vec<Class> {
    match t.outcome.kind {
        OutcomeKind::Reached => vec![Class::Connected],
        OutcomeKind::TlsFailed => vec![Class::TlsFailed],
        OutcomeKind::Refused => vec![Class::Refused],
        // The sender's own kernel refused to send (its blackhole route:
        // EINVAL; its output filter, for a datagram or a ping: EPERM): the
        // model says so in what the client sees.
        _ if t.outcome.client_sees == pathproof_core::journey::SEES_EINVAL
            || t.outcome.client_sees == pathproof_core::journey::SEES_EPERM =>
        {
            vec![Class::LocalDrop]
        }
        OutcomeKind::Rejected => {
            // The family of the connection the reject stopped (a proxy's
            // upstream may be of another than the client's).
            let v6 = t
                .outcome
                .step
                .and_then(|s| t.hops.iter().find(|h| h.step == s))
                .map(|h| h.packet.dst.is_ipv6())
                .unwrap_or_else(|| t.query.destination_address.is_some_and(|a| a.is_ipv6()));
            if t.outcome.client_sees.contains("no route to host") {
                // IPv6's admin-prohibited is EACCES in Linux (icmpv6_err_convert).
                vec![if v6 {
                    Class::Prohibited
                } else {
                    Class::Unreachable
                }]
            } else {
                vec![Class::Refused]
            }
        }
        OutcomeKind::Dropped | OutcomeKind::ReplyLost | OutcomeKind::TtlExceeded => {
            vec![Class::Timeout]
        }
        OutcomeKind::NoRoute => vec![Class::Unreachable],
        OutcomeKind::Unresolved => vec![Class::Unresolved],
        OutcomeKind::ProxyDenied => vec![Class::ProxyDenied],
        OutcomeKind::ProxyLoop => vec![Class::LoopDetected],
    }
}

/// The model's outcome for a request that came back to a proxy it had
/// crossed (`proxy_loop`; the client sees `HTTP 508 Loop Detected from
/// PROXY`), which the lab's proxies answer with `services::LOOP_STATUS`.
pub fn is_proxy_loop(t: &Trace) -> bool {
    t.outcome.kind == OutcomeKind::ProxyLoop
}

/// The proxy the model says answers a loop: `PROXY` in its client's view
/// `HTTP 508 Loop Detected from PROXY`, else the device it ends at.
pub fn model_loop_proxy(t: &Trace) -> Option<String> {
    if !is_proxy_loop(t) {
        return None;
    }
    t.outcome
        .client_sees
        .split_once("Loop Detected from ")
        .map(|(_, p)| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .or_else(|| t.outcome.at.clone())
}

/// The class a lab proxy's own HTTP answer stands for, by its status line:
/// `508` a loop, `403` the allow list; `None` for any other (a `503` at
/// the proxy's cap, a `502`, a `400`), which the caller reads on.
fn proxy_status_class(status: &str) -> Option<Class> {
    match status.split_whitespace().nth(1) {
        Some("508") => Some(Class::LoopDetected),
        Some("403") => Some(Class::ProxyDenied),
        _ => None,
    }
}

/// What the client needs for the journey's TLS handshake: its rustls
/// configuration and the name it asks for (the model's rule: the DNS name it
/// used, `authenticate::name_asked_of_host` when it named a host, else the
/// address).
pub type TlsClientSide = (
    Arc<rustls::ClientConfig>,
    rustls::pki_types::ServerName<'static>,
);

/// The TLS side of a journey whose model trace has a TLS hop on the
/// client's own connection: the socket it connects to, or through a
/// forward proxy's tunnel the final one; not a reverse proxy's upstream
/// leg, where the proxy is the TLS client.
pub fn tls_side(
    scn: &Scenario,
    job: &Job,
    t: &Trace,
    run_dir: &std::path::Path,
) -> Result<Option<TlsClientSide>, String> {
    let mut upstream_leg = false;
    let own = t.hops.iter().find(|h| {
        if h.stage == Stage::Proxy && h.verdict == pathproof_core::evidence::Verdict::Accept {
            upstream_leg |= scn.host_by_name(&h.device).is_some_and(|id| {
                matches!(
                    scn.host(id).proxy.as_ref().map(|p| &p.mode),
                    Some(ProxyMode::Reverse { .. })
                )
            });
        }
        !upstream_leg && h.stage == Stage::Tls
    });
    let Some(hop) = own else {
        return Ok(None);
    };
    let Some(dev) = scn.host_by_name(&hop.device) else {
        return Ok(None);
    };
    let host = scn.host(dev);
    let port = hop.packet.dport.unwrap_or(0);
    let sock =
        match pathproof_core::journey::deliver::find_socket(host, Proto::Tcp, hop.packet.dst, port)
        {
            pathproof_core::journey::deliver::SocketLookup::Found(s) => s,
            _ => return Ok(None),
        };
    let Some(tls) = &sock.tls else {
        return Ok(None);
    };
    let host_part = job
        .query
        .to
        .rsplit_once(':')
        .map(|x| x.0)
        .unwrap_or(&job.query.to)
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let asked = if job.by_name {
        host_part
    } else if scn.host_by_name(&host_part).is_some() {
        pathproof_core::journey::authenticate::name_asked_of_host(tls, &host_part)
    } else {
        host_part
    };
    let name = rustls::pki_types::ServerName::try_from(asked.clone())
        .map_err(|e| format!("TLS name `{asked}`: {e}"))?;
    let cfg = match job.network {
        Some(_) => crate::tls::standin_client_config(run_dir)?,
        None => crate::tls::client_config(scn, job.source, run_dir)?,
    };
    Ok(Some((cfg, name)))
}

/// Runs the client's handshake, then reads what the service sends inside
/// the session: the TLS terminator's report (`services::TLS_LINE`: who ended
/// TLS, which client identity it verified), then the echo's greeting and its
/// report of the request head.
///
/// A handshake that fails is `TlsFailed`, and so is a session the server
/// ends with an alert after the client's side of the handshake is done (with
/// TLS 1.3 a refused client certificate arrives that way). A session that
/// ends without a word, or stays silent, is *connected* with nothing
/// reported, which `compare` holds against what the model says the service
/// reports: never a TLS failure.
fn tls_greeting(s: &mut TcpStream, side: &TlsClientSide, r: &mut KernelResult) {
    let _ = s.set_read_timeout(Some(CONNECT_TIMEOUT));
    let mut conn = match rustls::ClientConnection::new(side.0.clone(), side.1.clone()) {
        Ok(c) => c,
        Err(e) => {
            r.class = Class::Other;
            r.detail = format!("TLS client: {e}");
            return;
        }
    };
    if let Err(e) = crate::tls::handshake(&mut conn, s) {
        r.class = Class::TlsFailed;
        r.detail = format!("TLS handshake failed: {e}");
        return;
    }
    let mut line = String::new();
    let first;
    // A reverse proxy that ends TLS may wait for its upstream first.
    let _ = s.set_read_timeout(Some(ANSWER_TIMEOUT));
    {
        let mut st = rustls::Stream::new(&mut conn, s);
        let head = client_head(&side.1.to_str());
        let _ = st.write_all(head.as_bytes());
        r.headers_sent = crate::services::head_headers(&head);
        let mut br = BufReader::new(&mut st);
        let got = br.read_line(&mut line);
        first = tls_lines(&mut br, &mut line, got, r);
        if line.starts_with("pathproof-echo ") {
            read_report(&mut br, r);
        } else if line.starts_with("HTTP/") {
            // A reverse proxy that ended TLS answered itself (a loop, its
            // cap), or relayed such an answer from a proxy behind it: read
            // on from this reader, which may hold the rest of the answer.
            proxy_answer_result(&line, &mut br, r);
        }
    }
    if line.is_empty() {
        match &first {
            Err(e) => match tls_alert(e) {
                Some(alert) => {
                    // The server refused the session after the client's
                    // side of the handshake (a client certificate refused).
                    r.class = Class::TlsFailed;
                    r.detail = format!("TLS: the server ended the session with an alert: {alert}");
                }
                None => {
                    r.class = Class::Connected;
                    r.detail = format!("TLS ok; then the service said nothing ({e})");
                }
            },
            Ok(_) => {
                r.class = Class::Connected;
                r.detail = "TLS ok; then the service closed without a word".into();
            }
        }
        return;
    }
    if line.starts_with("HTTP/") {
        r.detail = format!("TLS ok; {}", r.detail);
        return;
    }
    if line.starts_with("pathproof-proxy ") {
        // A reverse proxy that ended TLS could not reach its upstream.
        let up = field(&line, "upstream").unwrap_or("");
        r.class = class_by_name(&up.replace('_', " "));
        r.detail = format!("TLS ok; {}", line.trim());
        return;
    }
    r.class = Class::Connected;
    greeting_result(&line, r);
    r.detail = format!("TLS ok; {}", line.trim());
}

/// Reads past the lines in which TLS terminators said who they are
/// (`services::TLS_LINE`: the server the client spoke TLS with, then any
/// a reverse proxy spoke TLS with on its way and passed on), from `line`
/// on; `r.tls` keeps the last, as the model's last TLS hop is the one
/// compared. Leaves the first other line in `line`, and what reading it
/// gave.
fn tls_lines(
    br: &mut impl BufRead,
    line: &mut String,
    mut got: std::io::Result<usize>,
    r: &mut KernelResult,
) -> std::io::Result<usize> {
    while let Some(rest) = line.strip_prefix(TLS_LINE) {
        r.tls = Some(TlsSeen {
            host: field(rest, "host").unwrap_or("").to_string(),
            client_id: field(rest, "client-id")
                .filter(|id| *id != "-")
                .map(str::to_string),
        });
        line.clear();
        got = br.read_line(line);
    }
    got
}

/// The alert a TLS peer ended the session with (other than a clean
/// `close_notify`), if that is what the read error `e` is.
pub(crate) fn tls_alert(e: &std::io::Error) -> Option<String> {
    match e.get_ref()?.downcast_ref::<rustls::Error>()? {
        rustls::Error::AlertReceived(rustls::AlertDescription::CloseNotify) => None,
        rustls::Error::AlertReceived(a) => Some(format!("{a:?}")),
        _ => None,
    }
}

/// The headers every TCP probe's request head carries, after the request
/// line: `Host`, two end-to-end headers no proxy may touch, and a forged
/// `X-Forwarded-For` (see `services::CLIENT_XFF`).
fn probe_headers(host: &str) -> String {
    format!(
        "Host: {host}\r\nUser-Agent: pathproof-lab\r\nX-Pathproof-Probe: end-to-end\r\nX-Forwarded-For: {CLIENT_XFF}\r\n"
    )
}

/// The request head every TCP probe sends.
pub fn client_head(host: &str) -> String {
    format!("GET / HTTP/1.1\r\n{}\r\n", probe_headers(host))
}

/// Reads the echo's report of the request head it got: the
/// `X-Forwarded-For` line, then every header it got.
fn read_report(br: &mut impl BufRead, r: &mut KernelResult) {
    let mut line = String::new();
    let _ = br.read_line(&mut line);
    let Some(v) = line.strip_prefix(HEAD_LINE) else {
        return;
    };
    r.head_seen = true;
    let v = v.trim();
    r.xff_seen = (v != "-").then(|| v.to_string());
    let mut count = String::new();
    let _ = br.read_line(&mut count);
    let Some(n) = count
        .strip_prefix(HEADERS_LINE)
        .and_then(|n| n.trim().parse::<usize>().ok())
    else {
        return;
    };
    let mut got = Vec::new();
    for _ in 0..n.min(100) {
        let mut h = String::new();
        if br.read_line(&mut h).unwrap_or(0) == 0 {
            return;
        }
        got.push(h.trim_end().to_string());
    }
    r.headers_seen = Some(got);
}

/// A head's headers other than `X-Forwarded-For` and `Via` (which the
/// proxies write, and which are compared on their own), comparable: names
/// in lower case, values trimmed, sorted.
fn end_to_end(headers: &[String]) -> Vec<String> {
    let mut v: Vec<String> = headers
        .iter()
        .filter_map(|h| h.split_once(':'))
        .filter(|(k, _)| {
            !k.trim().eq_ignore_ascii_case("x-forwarded-for")
                && !k.trim().eq_ignore_ascii_case(crate::services::VIA)
        })
        .map(|(k, v)| format!("{}: {}", k.trim().to_ascii_lowercase(), v.trim()))
        .collect();
    v.sort();
    v
}

/// The `X-Forwarded-For` the final service gets, per the model: what the
/// client wrote (`CLIENT_XFF`), then each proxy on the way in its mode, with
/// the client address that proxy saw (its hop's packet source).
///
/// A forward proxy that tunnels a TLS session (`CONNECT`: a TLS hop follows
/// it in the trace) never sees the headers and passes them on untouched.
pub fn model_xff(scn: &Scenario, t: &Trace) -> Option<String> {
    let mut cur = Some(CLIENT_XFF.to_string());
    for (i, h) in t.hops.iter().enumerate().filter(|(_, h)| {
        h.stage == Stage::Proxy
            && h.verdict == pathproof_core::evidence::Verdict::Accept
            && h.direction == pathproof_core::evidence::Direction::Request
    }) {
        let Some(p) = scn
            .host_by_name(&h.device)
            .and_then(|id| scn.host(id).proxy.as_ref())
        else {
            continue;
        };
        let tunnel = matches!(p.mode, pathproof_core::model::ProxyMode::Forward { .. })
            && t.hops[i + 1..].iter().any(|x| x.stage == Stage::Tls);
        if tunnel {
            continue;
        }
        cur = crate::services::pass_on(p.forwarded_for, cur, h.packet.src);
    }
    cur
}

/// The proxies the final service's `Via` names, per the model: each proxy
/// hop of the trace that passes the request head on (every one but a
/// forward proxy tunnelling a TLS session), in order, by the name the lab's
/// proxies write (`services::via_name`).
pub fn model_via(scn: &Scenario, t: &Trace) -> Vec<String> {
    let mut out = Vec::new();
    for (i, h) in t.hops.iter().enumerate().filter(|(_, h)| {
        h.stage == Stage::Proxy
            && h.verdict == pathproof_core::evidence::Verdict::Accept
            && h.direction == pathproof_core::evidence::Direction::Request
    }) {
        let Some(id) = scn.host_by_name(&h.device) else {
            continue;
        };
        let Some(p) = scn.host(id).proxy.as_ref() else {
            continue;
        };
        let tunnel = matches!(p.mode, ProxyMode::Forward { .. })
            && t.hops[i + 1..].iter().any(|x| x.stage == Stage::Tls);
        if !tunnel {
            out.push(crate::services::via_name(scn, id.index()));
        }
    }
    out
}

/// One journey to probe.
#[derive(Debug, Clone)]
pub struct Job {
    /// Why it is probed: `socket` or the expectation's text.
    pub why: String,
    pub query: Query,
    /// The source host (index into the scenario's hosts); unused when the
    /// source stands for a network.
    pub source: usize,
    /// The source stands for this network (index into the scenario's
    /// networks): the probe runs from a stand-in namespace.
    pub network: Option<usize>,
    /// The destination is a DNS name to look up in the source's resolver.
    pub by_name: bool,
    /// Through a proxy: what the client asks the proxy for (`ADDRESS:PORT`
    /// for a host, the name for a DNS name).
    pub via_target: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct KernelResult {
    pub class: Class,
    /// The errno or what happened, in a few words.
    pub detail: String,
    /// The address the service reported seeing (connected journeys).
    pub peer_seen: Option<IpAddr>,
    /// The host that answered.
    pub answered_by: Option<String>,
    /// The address the client connected to (after its own DNS lookup).
    pub dst: Option<IpAddr>,
    /// Whether the echo service reported the request head it got...
    pub head_seen: bool,
    /// ...and the `X-Forwarded-For` in it (None: no such header)...
    pub xff_seen: Option<String>,
    /// ...and every header it got, as it got them.
    pub headers_seen: Option<Vec<String>>,
    /// The headers of the request head the client sent (the one that
    /// reaches the service: inside TLS, or handed to a forward proxy).
    pub headers_sent: Vec<String>,
    /// What the server that ended TLS reported (`services::TLS_LINE`).
    pub tls: Option<TlsSeen>,
    pub millis: u128,
}

impl KernelResult {
    /// A result of `class` that nothing was heard about yet.
    pub fn heard_nothing(class: Class, detail: &str, millis: u128) -> KernelResult {
        KernelResult {
            class,
            detail: detail.into(),
            peer_seen: None,
            answered_by: None,
            dst: None,
            head_seen: false,
            xff_seen: None,
            headers_seen: None,
            headers_sent: Vec::new(),
            tls: None,
            millis,
        }
    }
}

/// What the server that ended a TLS session reported inside it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TlsSeen {
    /// The host that ended TLS.
    pub host: String,
    /// The identity (URI SAN) of the client certificate it verified; none
    /// when the client presented none.
    pub client_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProbeResult {
    pub why: String,
    pub from: String,
    pub to: String,
    pub proto: Proto,
    pub via: Option<String>,
    /// When the source is a network: the stand-in that sent, `NETWORK@ADDRESS`.
    pub stand_in: Option<String>,
    pub model: String,
    pub model_client_sees: String,
    /// The address the model says the final service sees.
    pub model_peer: Option<IpAddr>,
    pub model_answered_by: Option<String>,
    /// The `X-Forwarded-For` the model says the final service gets.
    pub model_xff: Option<String>,
    /// The proxies the model says the final service's `Via` names.
    pub model_via: Vec<String>,
    /// The host the model says ends TLS (its last TLS hop), if any...
    pub model_tls_at: Option<String>,
    /// ...and the client identity that hop proves (mutual TLS).
    pub model_client_id: Option<String>,
    pub kernel: KernelResult,
    pub agree: bool,
    /// Why they disagree, if they do.
    pub disagreement: Option<String>,
    /// For a disagreement, the kernel's own rule trace of the journey made
    /// again (`nft monitor trace`, per namespace; see `ktrace::explain`).
    pub kernel_trace: Option<String>,
    /// Made a second time, alone, because the first answer was a timeout
    /// against an unreachable, which a neighbour late to answer makes on a
    /// busy machine (see `late_answer`); this is the second result.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub remade: bool,
    #[serde(skip)]
    pub trace: Option<Trace>,
    /// The job, to make it again.
    #[serde(skip)]
    pub job: Option<Job>,
}

/// An expectation (or one journey of it) the lab cannot make as one real
/// journey, and why. `lab probe` lists and counts them.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NotProbed {
    /// The expectation's text.
    pub expect: String,
    pub reason: String,
}

/// Every journey worth probing (see `plan_jobs`).
pub fn jobs(scn: &Scenario) -> Vec<Job> {
    plan_jobs(scn).0
}

/// Whether the scenario has anything ICMP is checked against: a filter rule
/// that names `icmp`, an ICMP socket, an ICMP expectation.
fn mentions_icmp(scn: &Scenario) -> bool {
    scn.filters
        .iter()
        .flat_map(|f| f.rules.iter())
        .any(|r| r.matches.proto == Some(Proto::Icmp))
        || scn
            .hosts
            .iter()
            .flat_map(|h| h.sockets.iter())
            .any(|s| s.proto == Proto::Icmp)
        || scn
            .expectations
            .iter()
            .flat_map(|e| e.kind.journeys())
            .any(|j| j.2 == Proto::Icmp)
}

/// Every journey worth probing: from every host to every listening TCP/UDP
/// socket (once per address family both ends have); a ping from every host to
/// every other host (per family) when the scenario has ICMP rules, sockets or
/// expectations; through every forward proxy to every TCP socket; and every
/// journey of the `allow`, `deny`, `only` and `authenticated` expectations
/// (TCP, UDP and ICMP) whose source is a host, a network or an address and
/// whose destination is a host, an address or a DNS name. The expectations
/// the lab cannot make as one journey come back as `NotProbed`, with why.
pub fn plan_jobs(scn: &Scenario) -> (Vec<Job>, Vec<NotProbed>) {
    let mut out = Vec::new();
    let mut not_probed = Vec::new();
    for (si, src) in scn.hosts.iter().enumerate() {
        for dst in scn.hosts.iter() {
            for sock in &dst.sockets {
                if sock.proto == Proto::Icmp {
                    continue;
                }
                for v6 in [false, true] {
                    if src.first_addr(v6).is_none() || dst.first_addr(v6).is_none() {
                        continue;
                    }
                    let to = if sock.bind.is_unspecified() || sock.bind.is_loopback() {
                        if !sock.accepts(dst.first_addr(v6).expect("checked"))
                            && !sock.bind.is_loopback()
                        {
                            continue;
                        }
                        format!("{}:{}", dst.name, sock.port)
                    } else {
                        if sock.bind.is_ipv6() != v6 {
                            continue;
                        }
                        match sock.bind {
                            IpAddr::V6(a) => format!("[{a}]:{}", sock.port),
                            a => format!("{a}:{}", sock.port),
                        }
                    };
                    let mut q = Query::new(&src.name, &to);
                    q.proto = sock.proto;
                    q.ipv6 = v6;
                    out.push(Job {
                        why: format!("socket {} on {}", sock.text, dst.name),
                        query: q,
                        source: si,
                        by_name: false,
                        via_target: None,
                        network: None,
                    });
                }
            }
        }
    }
    if mentions_icmp(scn) {
        for (si, src) in scn.hosts.iter().enumerate() {
            for (di, dst) in scn.hosts.iter().enumerate() {
                if si == di {
                    continue;
                }
                for v6 in [false, true] {
                    if src.first_addr(v6).is_none() || dst.first_addr(v6).is_none() {
                        continue;
                    }
                    let mut q = Query::new(&src.name, &dst.name);
                    q.proto = Proto::Icmp;
                    q.ipv6 = v6;
                    out.push(Job {
                        why: "ping (the scenario matches icmp)".into(),
                        query: q,
                        source: si,
                        by_name: false,
                        via_target: None,
                        network: None,
                    });
                }
            }
        }
    }
    // Through each forward proxy, to every TCP socket of every other host.
    for (pi, p) in scn.hosts.iter().enumerate() {
        let Some(px) = &p.proxy else { continue };
        if !matches!(px.mode, ProxyMode::Forward { .. }) {
            continue;
        }
        // Once per address family that the client, the proxy and the
        // destination all have.
        for v6 in [false, true] {
            for (si, src) in scn.hosts.iter().enumerate() {
                if si == pi || src.first_addr(v6).is_none() || p.first_addr(v6).is_none() {
                    continue;
                }
                for (di, dst) in scn.hosts.iter().enumerate() {
                    if di == pi {
                        continue;
                    }
                    let Some(a) = dst.first_addr(v6) else {
                        continue;
                    };
                    for sock in dst.sockets.iter().filter(|s| s.proto == Proto::Tcp) {
                        if sock.bind.is_loopback() || !sock.accepts(a) {
                            continue;
                        }
                        let mut q = Query::new(&src.name, &format!("{}:{}", dst.name, sock.port));
                        q.via = Some(p.name.clone());
                        q.ipv6 = v6;
                        let target = match a {
                            IpAddr::V6(a) => format!("[{a}]:{}", sock.port),
                            a => format!("{a}:{}", sock.port),
                        };
                        out.push(Job {
                            why: format!("via proxy {} to {} on {}", p.name, sock.text, dst.name),
                            query: q,
                            source: si,
                            by_name: false,
                            via_target: Some(target),
                            network: None,
                        });
                    }
                }
            }
        }
    }
    for e in &scn.expectations {
        if matches!(e.kind, pathproof_core::model::ExpectKind::Isolated { .. }) {
            not_probed.push(NotProbed {
                expect: e.text.clone(),
                reason: "it is about every journey into a network, not one journey (pathproof check decides it)".into(),
            });
        }
    }
    for (e, (from, to, proto, port)) in scn
        .expectations
        .iter()
        .flat_map(|e| e.kind.journeys().into_iter().map(move |j| (e, j)))
    {
        let proto = &proto;
        let mut skip = |reason: String| {
            not_probed.push(NotProbed {
                expect: e.text.clone(),
                reason,
            })
        };
        // A host, or a network (or an address no host owns): then a stand-in
        // sends, as in the model.
        let (src, si, network) = match from {
            Place::Host(h) => match scn.host_by_name(h) {
                Some(id) => (h.clone(), id.index(), None),
                None => {
                    skip(format!("no host `{h}`"));
                    continue;
                }
            },
            Place::Network(n) => match scn.network_by_name(n) {
                Some(net) => (n.clone(), 0, Some(net.index())),
                None => {
                    skip(format!("no network `{n}`"));
                    continue;
                }
            },
            Place::Address(a) => match scn.owners_of(*a).first() {
                Some((h, _)) => (a.to_string(), h.index(), None),
                None => match scn.network_of(*a) {
                    Some(net) => (a.to_string(), 0, Some(net.index())),
                    None => {
                        skip(format!("the source {a} is on none of the scenario's networks, so nothing can send from it"));
                        continue;
                    }
                },
            },
            Place::Name(n) => {
                skip(format!("the source is the DNS name `{n}`: a name resolves per view, so it names no one sender (the model traces from hosts, networks and addresses)"));
                continue;
            }
        };
        let src = &src;
        let (to_text, by_name) = match to {
            Place::Host(h) => (h.clone(), false),
            Place::Address(a) => (
                match a {
                    IpAddr::V6(a) => format!("[{a}]"),
                    a => a.to_string(),
                },
                false,
            ),
            Place::Name(n) => (n.clone(), true),
            Place::Network(n) => {
                skip(format!("the destination is the network `{n}`: it stands for every address in it, and a journey ends at one address"));
                continue;
            }
        };
        let to = match (proto.has_ports(), port) {
            (true, Some(port)) => format!("{to_text}:{port}"),
            (true, None) => {
                skip(format!("it names no port, so it covers every {proto} port; the lab makes one journey per port (the sockets' ports are probed on their own)"));
                continue;
            }
            (false, _) => to_text,
        };
        let mut q = Query::new(src, &to);
        q.proto = *proto;
        out.push(Job {
            why: format!("expect: {}", e.text),
            query: q,
            source: si,
            by_name,
            via_target: None,
            network,
        });
    }
    (out, not_probed)
}

fn sockaddr(a: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain data; zero is a valid value.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match a {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_in fits in sockaddr_storage.
            unsafe { std::ptr::write(&mut ss as *mut _ as *mut libc::sockaddr_in, sin) };
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: 0,
            };
            // SAFETY: sockaddr_in6 fits in sockaddr_storage.
            unsafe { std::ptr::write(&mut ss as *mut _ as *mut libc::sockaddr_in6, sin6) };
            size_of::<libc::sockaddr_in6>()
        }
    };
    (ss, len as libc::socklen_t)
}

/// A UDP socket bound to `addr` with `SO_REUSEADDR`, so the lab's resolver
/// on 127.0.0.53:53 and a scenario's own `udp/53` on a wildcard can coexist.
pub fn udp_bind_shared(addr: SocketAddr) -> Result<UdpSocket, std::io::Error> {
    let fam = if addr.is_ipv6() {
        libc::AF_INET6
    } else {
        libc::AF_INET
    };
    // SAFETY: plain socket calls on a descriptor we own; pointers are to live locals.
    unsafe {
        let fd = libc::socket(fam, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(last_err());
        }
        let guard = Fd(fd);
        let one: libc::c_int = 1;
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            &one as *const _ as *const libc::c_void,
            size_of::<libc::c_int>() as libc::socklen_t,
        );
        let (ss, len) = sockaddr(addr);
        if libc::bind(fd, &ss as *const _ as *const libc::sockaddr, len) != 0 {
            return Err(last_err());
        }
        std::mem::forget(guard);
        Ok(UdpSocket::from_raw_fd(fd))
    }
}

fn last_err() -> std::io::Error {
    std::io::Error::last_os_error()
}

struct Fd(RawFd);
impl Drop for Fd {
    fn drop(&mut self) {
        if self.0 >= 0 {
            // SAFETY: we own this descriptor.
            unsafe { libc::close(self.0) };
        }
    }
}

/// A socket bound to `src` (when given) and connected to `dst`, within `timeout`.
pub(crate) fn bound_socket(
    proto: Proto,
    src: Option<SocketAddr>,
    dst: SocketAddr,
    timeout: Duration,
) -> Result<RawFd, std::io::Error> {
    let fam = if dst.is_ipv6() {
        libc::AF_INET6
    } else {
        libc::AF_INET
    };
    let ty = match proto {
        Proto::Udp => libc::SOCK_DGRAM,
        _ => libc::SOCK_STREAM,
    };
    // SAFETY: plain socket calls on a descriptor we own; pointers are to live locals.
    unsafe {
        let fd = libc::socket(fam, ty | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK, 0);
        if fd < 0 {
            return Err(last_err());
        }
        let guard = Fd(fd);
        let one: libc::c_int = 1;
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            &one as *const _ as *const libc::c_void,
            size_of::<libc::c_int>() as libc::socklen_t,
        );
        if proto == Proto::Tcp {
            // Close with a reset: no TIME_WAIT, so the same tuple can be probed again.
            let lg = libc::linger {
                l_onoff: 1,
                l_linger: 0,
            };
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                &lg as *const _ as *const libc::c_void,
                size_of::<libc::linger>() as libc::socklen_t,
            );
        }
        if proto == Proto::Udp {
            // Report ICMP host/network unreachable too (Linux treats them as
            // soft errors for UDP and drops them silently otherwise).
            let (lvl, opt) = if dst.is_ipv6() {
                (libc::IPPROTO_IPV6, libc::IPV6_RECVERR)
            } else {
                (libc::IPPROTO_IP, libc::IP_RECVERR)
            };
            libc::setsockopt(
                fd,
                lvl,
                opt,
                &one as *const _ as *const libc::c_void,
                size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
        if let Some(s) = src {
            let (ss, len) = sockaddr(s);
            if libc::bind(fd, &ss as *const _ as *const libc::sockaddr, len) != 0 {
                return Err(last_err());
            }
        }
        let (ss, len) = sockaddr(dst);
        if libc::connect(fd, &ss as *const _ as *const libc::sockaddr, len) != 0 {
            let e = last_err();
            if e.raw_os_error() != Some(libc::EINPROGRESS) {
                return Err(e);
            }
            let mut pfd = libc::pollfd {
                fd,
                events: libc::POLLOUT,
                revents: 0,
            };
            let n = libc::poll(&mut pfd, 1, timeout.as_millis() as libc::c_int);
            if n == 0 {
                return Err(std::io::Error::from_raw_os_error(libc::ETIMEDOUT));
            }
            let mut err: libc::c_int = 0;
            let mut l = size_of::<libc::c_int>() as libc::socklen_t;
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                &mut err as *mut _ as *mut libc::c_void,
                &mut l,
            );
            if err != 0 {
                return Err(std::io::Error::from_raw_os_error(err));
            }
        }
        let flags = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
        std::mem::forget(guard);
        Ok(fd)
    }
}

/// One ICMP (ICMPv6) echo request from `src` to `dst` on a ping socket
/// (`SOCK_DGRAM`, allowed by the lab's `ping_group_range`), with
/// `IP_RECVERR` so that every ICMP error comes back as the socket's error:
/// `Ok` for the echo reply, else the error (`EAGAIN` when nothing came).
pub(crate) fn ping(src: Option<IpAddr>, dst: IpAddr, timeout: Duration) -> std::io::Result<()> {
    let v6 = dst.is_ipv6();
    let (fam, proto, lvl, recverr) = if v6 {
        (
            libc::AF_INET6,
            libc::IPPROTO_ICMPV6,
            libc::IPPROTO_IPV6,
            libc::IPV6_RECVERR,
        )
    } else {
        (
            libc::AF_INET,
            libc::IPPROTO_ICMP,
            libc::IPPROTO_IP,
            libc::IP_RECVERR,
        )
    };
    // SAFETY: plain socket calls on a descriptor we own; pointers are to live locals.
    unsafe {
        let fd = libc::socket(fam, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, proto);
        if fd < 0 {
            return Err(last_err());
        }
        let _guard = Fd(fd);
        let one: libc::c_int = 1;
        libc::setsockopt(
            fd,
            lvl,
            recverr,
            &one as *const _ as *const libc::c_void,
            size_of::<libc::c_int>() as libc::socklen_t,
        );
        let tv = libc::timeval {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_usec: timeout.subsec_micros() as libc::suseconds_t,
        };
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &tv as *const _ as *const libc::c_void,
            size_of::<libc::timeval>() as libc::socklen_t,
        );
        if let Some(a) = src {
            let (ss, len) = sockaddr(SocketAddr::new(a, 0));
            if libc::bind(fd, &ss as *const _ as *const libc::sockaddr, len) != 0 {
                return Err(last_err());
            }
        }
        let (ss, len) = sockaddr(SocketAddr::new(dst, 0));
        if libc::connect(fd, &ss as *const _ as *const libc::sockaddr, len) != 0 {
            return Err(last_err());
        }
        // Type, code, checksum and identifier are the kernel's to fill in.
        let mut msg = [0u8; 16];
        msg[0] = if v6 { 128 } else { 8 };
        msg[7] = 1;
        msg[8..].copy_from_slice(b"pathprf!");
        if libc::send(fd, msg.as_ptr() as *const libc::c_void, msg.len(), 0) < 0 {
            return Err(last_err());
        }
        let reply = if v6 { 129 } else { 0 };
        let deadline = Instant::now() + timeout;
        loop {
            let mut buf = [0u8; 1500];
            let n = libc::recv(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0);
            if n < 0 {
                return Err(last_err());
            }
            if n > 0 && buf[0] == reply {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(std::io::Error::from_raw_os_error(libc::EAGAIN));
            }
        }
    }
}

/// What a proxy's own HTTP answer says: its status, then why
/// (`services::PROXY_WHY_HEADER`), in a few words.
fn proxy_detail(status: &str, head: &str) -> String {
    let why = head
        .lines()
        .find_map(|l| l.strip_prefix(crate::services::PROXY_WHY_HEADER))
        .map(|w| format!(" ({})", w.trim()))
        .unwrap_or_default();
    format!("the proxy answered {}{why}", status.trim())
}

/// Reads a proxy's own HTTP answer (its status line is `status`): who
/// answered and the peer it saw (`PROXY_ECHO_HEADER`), and its class, a
/// loop (`508`), the allow list (`403`), its cap (`503`, an error); any
/// other status leaves the class as it is (a forward proxy's own socket,
/// reached, answers the probe's head with `400`).
fn proxy_answer_result(status: &str, br: &mut impl BufRead, r: &mut KernelResult) {
    let mut head = String::from(status);
    loop {
        let mut h = String::new();
        if br.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        if let Some(g) = h.strip_prefix(PROXY_ECHO_HEADER) {
            greeting_result(g.trim(), r);
        }
        head.push_str(&h);
    }
    r.detail = proxy_detail(status, &head);
    if let Some(c) = proxy_status_class(status) {
        r.class = c;
    } else if status.split_whitespace().nth(1) == Some("503") {
        r.class = Class::Other;
    }
}

fn greeting_result(line: &str, r: &mut KernelResult) {
    r.peer_seen = field(line, "peer")
        .and_then(|p| p.parse().ok())
        .map(|a: IpAddr| match a {
            IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map(IpAddr::V4)
                .unwrap_or(IpAddr::V6(v6)),
            a => a,
        });
    r.answered_by = field(line, "host").map(str::to_string);
}

/// Makes one journey for real, from the calling thread's namespace.
pub fn run_kernel(
    job: &Job,
    model: &Trace,
    proxy_addr: Option<SocketAddr>,
    tls: Option<&TlsClientSide>,
) -> KernelResult {
    let start = Instant::now();
    let mut r = KernelResult::heard_nothing(Class::Other, "", 0);
    let q = &job.query;
    let (host_part, port) = match q.to.rsplit_once(':') {
        Some((h, p)) => (
            h.trim_start_matches('[').trim_end_matches(']'),
            p.parse::<u16>().ok(),
        ),
        None => (q.to.as_str(), None),
    };
    let port = q.port.or(port).or(model.query.port).unwrap_or(0);
    let src_port = q.sport.unwrap_or(pathproof_core::journey::EPHEMERAL_PORT);
    let finish = |mut r: KernelResult| {
        r.millis = start.elapsed().as_millis();
        r
    };
    if let Some(paddr) = proxy_addr {
        // Through a forward proxy: the client connects to the proxy (no DNS),
        // asks for the destination by the name it was given.
        let src = model
            .query
            .source_address
            .map(|a| SocketAddr::new(a, src_port));
        let fd = match bound_socket(Proto::Tcp, src, paddr, CONNECT_TIMEOUT) {
            Ok(fd) => fd,
            Err(e) => {
                r.class = classify_err(&e);
                r.detail = format!("to the proxy: {e}");
                return finish(r);
            }
        };
        // SAFETY: fd is a connected socket we own.
        let mut s = unsafe { TcpStream::from_raw_fd(fd) };
        // The proxy resolves names; a host stands for its address.
        let target = match &job.via_target {
            Some(t) => t.clone(),
            None => format!("{host_part}:{port}"),
        };
        // A TLS session goes through a tunnel (CONNECT); a plain request
        // is handed to the proxy to pass on (absolute form), so the proxy's
        // X-Forwarded-For reaches the service.
        let method = if tls.is_some() {
            format!("CONNECT {target} HTTP/1.1")
        } else {
            format!("GET http://{target}/ HTTP/1.1")
        };
        let head = format!("{method}\r\n{}\r\n", probe_headers(&target));
        let _ = s.write_all(head.as_bytes());
        if tls.is_none() {
            // The head the proxy passes on; a tunnel's is the TLS one.
            r.headers_sent = crate::services::head_headers(&head);
        }
        let _ = s.set_read_timeout(Some(ANSWER_TIMEOUT));
        let mut head = String::new();
        let mut reader = BufReader::new(match s.try_clone() {
            Ok(c) => c,
            Err(e) => {
                r.detail = e.to_string();
                return finish(r);
            }
        });
        if tls.is_none() {
            // The service's greeting, unless the proxy answers itself.
            let mut l = String::new();
            let got = reader.read_line(&mut l);
            if let Err(e) = tls_lines(&mut reader, &mut l, got, &mut r) {
                r.class = classify_err(&e);
                r.detail = format!("waiting for the proxy: {e}");
                return finish(r);
            }
            if !l.starts_with("HTTP/") {
                r.class = Class::Connected;
                greeting_result(&l, &mut r);
                r.detail = l.trim().to_string();
                read_report(&mut reader, &mut r);
                return finish(r);
            }
            head.push_str(&l);
        }
        loop {
            let mut l = String::new();
            match reader.read_line(&mut l) {
                Ok(0) => break,
                Ok(_) => {
                    if l.trim().is_empty() {
                        break;
                    }
                    head.push_str(&l);
                }
                Err(e) => {
                    r.class = classify_err(&e);
                    r.detail = format!("waiting for the proxy: {e}");
                    return finish(r);
                }
            }
        }
        let status = head.lines().next().unwrap_or("").to_string();
        if let Some(c) = proxy_status_class(&status) {
            r.class = c;
            r.detail = proxy_detail(&status, &head);
            // Who wrote the answer: the forward proxy, or a proxy behind
            // it (a loop's `508`).
            if let Some(g) = head.lines().find_map(|l| l.strip_prefix(PROXY_ECHO_HEADER)) {
                greeting_result(g.trim(), &mut r);
            }
        } else if status.contains(" 200 ") {
            if let Some(side) = tls {
                // The TLS session is the client's own, tunnelled to the final socket.
                tls_greeting(&mut s, side, &mut r);
                r.detail = format!("{status}; {}", r.detail);
                return finish(r);
            }
            let mut l = String::new();
            let _ = reader.read_line(&mut l);
            greeting_result(&l, &mut r);
            r.class = Class::Connected;
            r.detail = format!("{status}; {}", l.trim());
        } else if status.is_empty() {
            r.class = Class::Other;
            r.detail = "the proxy said nothing".into();
        } else {
            let up = head
                .lines()
                .find_map(|l| l.strip_prefix("X-Pathproof-Upstream: "))
                .unwrap_or("")
                .to_string();
            r.class = class_by_name(&up);
            r.detail = format!("{status} ({up})");
        }
        return finish(r);
    }
    let dst: IpAddr = if job.by_name {
        match dns::lookup(host_part, q.ipv6) {
            dns::Lookup::Found(a) => a[0],
            other => {
                r.class = Class::Unresolved;
                r.detail = format!("DNS: {other:?}");
                return finish(r);
            }
        }
    } else if let Ok(a) = host_part.parse() {
        a
    } else if let Some(a) = model.query.destination_address {
        a
    } else {
        r.detail = "the model names no destination address".into();
        return finish(r);
    };
    r.dst = Some(dst);
    if q.proto == Proto::Icmp {
        let src = model
            .query
            .source_address
            .filter(|a| a.is_ipv6() == dst.is_ipv6());
        match ping(src, dst, CONNECT_TIMEOUT) {
            Ok(()) => {
                r.class = Class::Connected;
                r.detail = "ping answered (ICMP echo reply)".into();
            }
            Err(e) => {
                r.class = classify_err(&e);
                r.detail = format!("ping: {e}");
            }
        }
        return finish(r);
    }
    let src = model
        .query
        .source_address
        .filter(|a| a.is_ipv6() == dst.is_ipv6())
        .map(|a| SocketAddr::new(a, src_port));
    let mut attempt = bound_socket(q.proto, src, SocketAddr::new(dst, port), CONNECT_TIMEOUT);
    for _ in 0..3 {
        // A local port clash (EADDRNOTAVAIL) is no network outcome: try again.
        match &attempt {
            Err(e) if e.raw_os_error() == Some(libc::EADDRNOTAVAIL) => {
                std::thread::sleep(Duration::from_millis(50));
                attempt = bound_socket(q.proto, src, SocketAddr::new(dst, port), CONNECT_TIMEOUT);
            }
            _ => break,
        }
    }
    let fd = match attempt {
        Ok(fd) => fd,
        Err(e) => {
            r.class = classify_err(&e);
            r.detail = e.to_string();
            return finish(r);
        }
    };
    match q.proto {
        Proto::Udp => {
            // SAFETY: fd is a connected UDP socket we own.
            let u = unsafe { UdpSocket::from_raw_fd(fd) };
            let _ = u.set_read_timeout(Some(CONNECT_TIMEOUT));
            if let Err(e) = u.send(b"pathproof probe\n") {
                r.class = classify_err(&e);
                r.detail = e.to_string();
                return finish(r);
            }
            let mut buf = [0u8; 1500];
            match u.recv(&mut buf) {
                Ok(n) => {
                    let l = String::from_utf8_lossy(&buf[..n]).into_owned();
                    greeting_result(l.lines().next().unwrap_or(""), &mut r);
                    r.class = Class::Connected;
                    r.detail = "answer received".into();
                }
                Err(e) => {
                    r.class = classify_err(&e);
                    r.detail = e.to_string();
                }
            }
        }
        _ => {
            // SAFETY: fd is a connected TCP socket we own.
            let mut s = unsafe { TcpStream::from_raw_fd(fd) };
            r.class = Class::Connected;
            if let Some(side) = tls {
                tls_greeting(&mut s, side, &mut r);
                return finish(r);
            }
            let head = client_head(host_part);
            let _ = s.write_all(head.as_bytes());
            r.headers_sent = crate::services::head_headers(&head);
            let _ = s.set_read_timeout(Some(ANSWER_TIMEOUT));
            let mut br = BufReader::new(&s);
            let mut l = String::new();
            let got = br.read_line(&mut l);
            // A reverse proxy that spoke TLS with its upstream passes on
            // what the TLS terminator there said.
            let first = tls_lines(&mut br, &mut l, got, &mut r);
            match l {
                l if l.starts_with("pathproof-proxy ") => {
                    // A reverse proxy could not reach its upstream.
                    let up = field(&l, "upstream").unwrap_or("");
                    r.class = class_by_name(&up.replace('_', " "));
                    r.detail = l.trim().to_string();
                }
                l if l.starts_with("HTTP/") => {
                    // A proxy's own answer: a forward proxy's own socket
                    // (a `400` to the probe's head), or a reverse proxy
                    // refusing (`508` a loop, `503` at its cap). It names
                    // who answered and the peer it saw (`PROXY_ECHO_HEADER`).
                    proxy_answer_result(&l, &mut br, &mut r);
                }
                l if !l.is_empty() => {
                    greeting_result(&l, &mut r);
                    r.detail = l.trim().to_string();
                    if l.starts_with("pathproof-echo ") {
                        read_report(&mut br, &mut r);
                    }
                }
                _ => {
                    r.detail = match first {
                        Err(e) => format!("connected; then the service said nothing ({e})"),
                        Ok(_) => "connected; then the service closed without a word".into(),
                    }
                }
            }
            let mut sink = [0u8; 1];
            let _ = s.set_read_timeout(Some(Duration::from_millis(1)));
            let _ = s.read(&mut sink);
        }
    }
    finish(r)
}

/// The address the final service sees and the host it runs on, per the model.
fn model_peer(t: &Trace) -> (Option<IpAddr>, Option<String>) {
    if t.outcome.kind != OutcomeKind::Reached && t.outcome.kind != OutcomeKind::TlsFailed {
        return (None, None);
    }
    t.hops
        .iter()
        .rev()
        .find(|h| h.stage == Stage::Socket)
        .map(|h| (Some(h.packet.src), Some(h.device.clone())))
        .unwrap_or((None, None))
}

/// What the lab's service at the end of a journey always reports, when the
/// model says the journey reaches it: the peer it saw and who it is (every
/// TCP and UDP service: the echo's greeting, a forward proxy's
/// `X-Pathproof-Echo`), and the request head it got (every TCP service but
/// a forward proxy's own socket). A probe that connects and gets less has
/// verified nothing, and `compare` counts it as a disagreement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MustReport {
    pub peer: bool,
    pub head: bool,
}

/// `MustReport` for the final socket of the model's trace (nothing for a
/// journey that is not reached, or a ping: the kernel itself answers).
pub fn must_report(scn: &Scenario, t: &Trace) -> MustReport {
    if t.outcome.kind != OutcomeKind::Reached || t.query.proto == Proto::Icmp {
        return MustReport::default();
    }
    let Some(h) = t.hops.iter().rev().find(|h| h.stage == Stage::Socket) else {
        return MustReport::default();
    };
    let Some(host) = scn.host_by_name(&h.device).map(|id| scn.host(id)) else {
        return MustReport::default();
    };
    let tcp = h.packet.proto == Proto::Tcp;
    let forward_proxy = tcp
        && host.proxy.as_ref().is_some_and(|p| {
            Some(p.port) == h.packet.dport && matches!(p.mode, ProxyMode::Forward { .. })
        });
    MustReport {
        peer: matches!(h.packet.proto, Proto::Tcp | Proto::Udp),
        head: tcp && !forward_proxy,
    }
}

/// The host that ends TLS in the model's trace (its last TLS hop that lets
/// the connection go on), and the client identity that hop proves: the
/// identity in its `client_identity` claim ("the client holds the key of
/// ID, certified by CA"), which is the sending host's own `identity`.
pub fn model_tls(scn: &Scenario, t: &Trace) -> (Option<String>, Option<String>) {
    use pathproof_core::evidence::{Fact, Verdict};
    let Some(hop) = t
        .hops
        .iter()
        .rev()
        .find(|h| h.stage == Stage::Tls && h.verdict == Verdict::Accept)
    else {
        return (None, None);
    };
    let claim = hop.proves.iter().find(|c| c.fact == Fact::ClientIdentity);
    let id = claim.map(|c| {
        let own = scn
            .host_by_name(&t.query.source)
            .and_then(|h| scn.host(h).tls.identity.as_ref())
            .map(|i| i.id.clone());
        match own {
            Some(id) if c.text.contains(&id) => id,
            // A claim that names no identity the sender holds: compared as
            // it stands, so it can never agree by accident.
            _ => c.text.clone(),
        }
    });
    (Some(hop.device.clone()), id)
}

/// Why a journey both sides call connected (the model: reached) still
/// disagrees, if it does: what the service reported against the model.
fn connected_difference(
    scn: &Scenario,
    t: &Trace,
    k: &KernelResult,
    mpeer: Option<IpAddr>,
    mby: Option<&String>,
) -> Option<String> {
    let must = must_report(scn, t);
    if must.peer && (k.peer_seen.is_none() || k.answered_by.is_none()) {
        return Some(format!(
            "the kernel connected, but the service reported neither the peer it saw nor who it is ({}); every lab service at a socket reports them, so nothing was verified",
            k.detail
        ));
    }
    if let (Some(m), Some(seen)) = (mpeer, k.peer_seen) {
        if m != seen {
            return Some(format!(
                "the service saw the client as {seen}, the model says {m}"
            ));
        }
    }
    if let (Some(m), Some(by)) = (mby, &k.answered_by) {
        if m != by {
            return Some(format!("{by} answered, the model says {m}"));
        }
    }
    if t.outcome.kind != OutcomeKind::Reached {
        return None;
    }
    if must.head && (!k.head_seen || k.headers_seen.is_none()) {
        return Some(format!(
            "the service did not report the request head it got ({}); the lab's echo always does, so X-Forwarded-For and the headers went unchecked",
            k.detail
        ));
    }
    if k.head_seen {
        let m = model_xff(scn, t);
        if m != k.xff_seen {
            let show = |x: &Option<String>| x.clone().unwrap_or_else(|| "none".into());
            return Some(format!(
                "the service got X-Forwarded-For {}, the model says {}",
                show(&k.xff_seen),
                show(&m)
            ));
        }
    }
    // Every proxy that passed the head on named itself in Via.
    if let Some(seen) = &k.headers_seen {
        let (m, got) = (model_via(scn, t), crate::services::via_entries(seen));
        if m != got {
            let show = |v: &[String]| {
                if v.is_empty() {
                    "none".to_string()
                } else {
                    v.join(", ")
                }
            };
            return Some(format!(
                "the service got Via {}, the model's proxies on the way are {}",
                show(&got),
                show(&m)
            ));
        }
    }
    // The model's proxies touch no header but X-Forwarded-For (and Via,
    // above): the service gets every other header as the client wrote it.
    if let Some(seen) = &k.headers_seen {
        let (got, sent) = (end_to_end(seen), end_to_end(&k.headers_sent));
        if got != sent {
            return Some(format!(
                "the service got the headers [{}], the client sent [{}] (besides X-Forwarded-For the model changes none)",
                got.join("; "),
                sent.join("; ")
            ));
        }
    }
    // TLS: who ended it, and the client identity it verified.
    let (tls_at, client_id) = model_tls(scn, t);
    if let Some(at) = tls_at {
        let show = |x: &Option<String>| x.clone().unwrap_or_else(|| "none".into());
        match &k.tls {
            None => {
                return Some(format!(
                    "the model says {at} ends TLS, but no TLS server reported the session ({})",
                    k.detail
                ))
            }
            Some(seen) if seen.host != at => {
                return Some(format!("{} ended TLS, the model says {at}", seen.host))
            }
            Some(seen) if seen.client_id != client_id => {
                return Some(format!(
                    "{at} verified the client identity {}, the model says {} is proven",
                    show(&seen.client_id),
                    show(&client_id)
                ))
            }
            Some(_) => {}
        }
    }
    None
}

/// Sets what the kernel did beside the model's trace: agreement, and why not.
pub fn compare(scn: &Scenario, job: &Job, t: Trace, k: KernelResult) -> ProbeResult {
    let exp = expected(&t);
    let (mpeer, mby) = model_peer(&t);
    let why = if !exp.contains(&k.class) {
        Some(format!(
            "the model predicts {} ({}), the kernel gave {} ({})",
            t.outcome.kind.name(),
            t.outcome.client_sees,
            k.class.name(),
            k.detail
        ))
    } else if k.class == Class::Connected {
        connected_difference(scn, &t, &k, mpeer, mby.as_ref())
    } else if k.class == Class::LoopDetected {
        // Both say the request went round: the proxy that answered is the
        // one the model names.
        match (model_loop_proxy(&t), &k.answered_by) {
            (Some(m), Some(by)) if &m != by => Some(format!(
                "{by} answered 508 Loop Detected, the model says {m}"
            )),
            (Some(m), None) => Some(format!(
                "a proxy answered 508 Loop Detected without saying which ({}); the model says {m}",
                k.detail
            )),
            _ => None,
        }
    } else {
        None
    };
    let model_xff = (t.outcome.kind == OutcomeKind::Reached)
        .then(|| model_xff(scn, &t))
        .flatten();
    let model_via = if t.outcome.kind == OutcomeKind::Reached {
        model_via(scn, &t)
    } else {
        Vec::new()
    };
    let (model_tls_at, model_client_id) = if t.outcome.kind == OutcomeKind::Reached {
        model_tls(scn, &t)
    } else {
        (None, None)
    };
    ProbeResult {
        why: job.why.clone(),
        from: job.query.from.clone(),
        to: job.query.to.clone(),
        proto: job.query.proto,
        via: job.query.via.clone(),
        stand_in: job.network.map(|_| t.query.source.clone()),
        model: t.outcome.kind.name().to_string(),
        model_client_sees: t.outcome.client_sees.clone(),
        model_peer: mpeer,
        model_answered_by: mby,
        model_xff,
        model_via,
        model_tls_at,
        model_client_id,
        kernel: k,
        agree: why.is_none(),
        disagreement: why,
        kernel_trace: None,
        remade: false,
        trace: Some(t),
        job: Some(job.clone()),
    }
}

/// How many IPv4 "no route" answers a router gives one source at once
/// (`error_burst / error_cost` with the kernel's defaults, less a margin)...
const IP_ERROR_BURST: usize = 3;
/// ...and how often one more after that (`error_cost` is one second).
const IP_ERROR_PACE: Duration = Duration::from_millis(1100);

/// When the model says a router has no IPv4 route for a leg of the journey
/// (the client's, or a proxy's upstream leg): the device that sent that
/// leg, whose address the router's `ip_error()` budget is kept for.
fn router_no_route_v4(t: &Trace) -> Option<String> {
    if t.outcome.kind != OutcomeKind::NoRoute {
        return None;
    }
    let step = t.outcome.step?;
    let sender = t.hops.iter().rfind(|h| {
        h.step <= step
            && h.stage == Stage::Send
            && h.direction == pathproof_core::evidence::Direction::Request
    })?;
    (t.outcome.at.as_deref() != Some(sender.device.as_str()) && sender.packet.dst.is_ipv4())
        .then(|| sender.device.clone())
}

/// The ports the lab's namespaces pick ephemeral source ports from.
pub const EPHEMERAL_RANGE: (u16, u16) = (49152, 49999);

/// Whether every port set of every filter and NAT rule contains either all or
/// none of `EPHEMERAL_RANGE`: then a client port from that range meets exactly
/// the rules the model's fixed port 49152 meets, and probes may let the
/// kernel choose (and run in parallel without sharing a tuple).
pub fn ephemeral_port_is_equivalent(scn: &Scenario) -> bool {
    let (lo, hi) = EPHEMERAL_RANGE;
    let uniform = |p: &pathproof_core::model::PortSet| {
        p.is_any()
            || p.0.iter().all(|&(a, b)| b < lo || a > hi)
            || p.0.iter().any(|&(a, b)| a <= lo && b >= hi)
    };
    let mut all = scn
        .filters
        .iter()
        .flat_map(|f| f.rules.iter().map(|r| &r.matches))
        .chain(
            scn.hosts
                .iter()
                .flat_map(|h| h.nat.iter().map(|n| &n.matches)),
        );
    all.all(|m| uniform(&m.sport) && uniform(&m.dport))
}

/// The source ports that meet exactly the filter and NAT rules the model's
/// fixed client port (`journey::EPHEMERAL_PORT`) meets: in every port set of
/// every rule, each is in it exactly when that port is. `None` when every
/// port of `EPHEMERAL_RANGE` does (`ephemeral_port_is_equivalent`): then the
/// kernel may pick one. A lab proxy opens its upstream connections from one
/// of these, as the model's proxy sends from that port.
pub fn ports_like_the_models(scn: &Scenario) -> Option<Vec<u16>> {
    if ephemeral_port_is_equivalent(scn) {
        return None;
    }
    let model = pathproof_core::journey::EPHEMERAL_PORT;
    let mut like = vec![true; 65536];
    like[0] = false;
    let sets = scn
        .filters
        .iter()
        .flat_map(|f| f.rules.iter().map(|r| &r.matches))
        .chain(
            scn.hosts
                .iter()
                .flat_map(|h| h.nat.iter().map(|n| &n.matches)),
        )
        .flat_map(|m| [&m.sport, &m.dport]);
    for set in sets.filter(|p| !p.is_any()) {
        let has = set.contains(model);
        for (p, ok) in like.iter_mut().enumerate() {
            if set.contains(p as u16) != has {
                *ok = false;
            }
        }
    }
    Some(
        like.iter()
            .enumerate()
            .filter(|(_, ok)| **ok)
            .map(|(p, _)| p as u16)
            .collect(),
    )
}

/// A TCP connection from `src` (any port when `ports` is `None`, else one
/// of `ports` that is free, tried from a varying start, again for up to a
/// second while all are taken) to `dst`.
pub(crate) fn connect_from(
    src: Option<IpAddr>,
    ports: Option<&[u16]>,
    dst: SocketAddr,
    timeout: Duration,
) -> Result<RawFd, std::io::Error> {
    let (Some(a), Some(ports)) = (src, ports) else {
        return bound_socket(Proto::Tcp, src.map(|a| SocketAddr::new(a, 0)), dst, timeout);
    };
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let start = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut last = None;
        for k in 0..ports.len() {
            let p = ports[(start + k) % ports.len()];
            match bound_socket(Proto::Tcp, Some(SocketAddr::new(a, p)), dst, timeout) {
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EADDRINUSE) | Some(libc::EADDRNOTAVAIL)
                    ) =>
                {
                    last = Some(e)
                }
                other => return other,
            }
        }
        if Instant::now() > deadline {
            return Err(last.unwrap_or_else(|| std::io::Error::from_raw_os_error(libc::EADDRINUSE)));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One job ready to run: its model trace, the namespace it runs in, the key
/// that serialises it with journeys sharing its tuple.
struct Prepared {
    key: String,
    job: Job,
    trace: Trace,
    proxy_addr: Option<SocketAddr>,
    /// The client's TLS side, or why the client cannot make one (a name
    /// no TLS client can ask for, such as `w*.example.com`): then the
    /// journey is not made, and the probe says why (a disagreement, never
    /// an end to the whole run).
    tls: Result<Option<TlsClientSide>, String>,
    ns: String,
}

/// Where the client of a journey `via` a forward proxy connects: the proxy's
/// first address of the family the client sends in, on the proxy port.
pub fn proxy_addr(scn: &Scenario, job: &Job, t: &Trace) -> Option<SocketAddr> {
    let v = job.query.via.as_ref()?;
    let h = &scn.hosts[scn.host_by_name(v)?.index()];
    let port = h.proxy.as_ref()?.port;
    let v6 = t.query.source_address.is_some_and(|a| a.is_ipv6());
    Some(SocketAddr::new(h.first_addr(v6)?, port))
}

/// One journey from host `from` to `to` (`HOST:PORT`, `ADDRESS:PORT` or
/// `NAME:PORT`; no port for ICMP), optionally via forward proxy `via`, as
/// `lab trace` makes it.
pub fn job_for(
    scn: &Scenario,
    from: &str,
    to: &str,
    proto: Proto,
    via: Option<&str>,
) -> Result<Job, String> {
    let source = scn
        .host_by_name(from)
        .ok_or_else(|| {
            format!(
                "`{from}` is not a host of scenario {} (the lab traces from hosts)",
                scn.name
            )
        })?
        .index();
    let (host_part, port) = match to.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && !h.ends_with(':') && p.parse::<u16>().is_ok() => {
            (h.trim_start_matches('[').trim_end_matches(']'), Some(p))
        }
        _ => (to.trim_start_matches('[').trim_end_matches(']'), None),
    };
    let is_host = scn.host_by_name(host_part).is_some();
    let by_name = !is_host && host_part.parse::<IpAddr>().is_err();
    let mut q = Query::new(from, to);
    q.proto = proto;
    let mut via_target = None;
    if let Some(v) = via {
        let p = scn
            .host_by_name(v)
            .map(|id| scn.host(id))
            .filter(|h| {
                matches!(
                    h.proxy.as_ref().map(|p| &p.mode),
                    Some(ProxyMode::Forward { .. })
                )
            })
            .ok_or_else(|| format!("`{v}` is not a forward proxy of scenario {}", scn.name))?;
        q.via = Some(p.name.clone());
        let port = port.ok_or_else(|| format!("`{to}` has no port"))?;
        via_target = Some(if is_host {
            let h = scn.host(scn.host_by_name(host_part).expect("checked"));
            match h.first_addr(false).or_else(|| h.first_addr(true)) {
                Some(IpAddr::V6(a)) => format!("[{a}]:{port}"),
                Some(a) => format!("{a}:{port}"),
                None => return Err(format!("host `{host_part}` has no address")),
            }
        } else {
            to.to_string()
        });
    }
    Ok(Job {
        why: "lab trace".into(),
        query: q,
        source,
        by_name: by_name && via.is_none(),
        via_target,
        network: None,
    })
}

/// The address a stand-in sends from, as the model chose it: the trace's
/// source is `NETWORK@ADDRESS`.
fn standin_addr(t: &Trace) -> Option<IpAddr> {
    t.query.source.rsplit_once('@')?.1.parse().ok()
}

/// Probes every job of a lab that is up, `PARALLEL` at a time. Journeys that
/// share a tuple run one after the other, so they never share a socket.
/// Journeys from a network run from stand-in namespaces made for the probe
/// and removed after it (last and on their own if another journey goes to
/// or through a stand-in's address).
pub fn probe(scn: &Scenario, plan: &Plan, jobs: Vec<Job>) -> Result<Vec<ProbeResult>, String> {
    let free_sport = ephemeral_port_is_equivalent(scn);
    let names = crate::names::Names::new(scn, &plan.lab);
    let mut prepared = Vec::new();
    // Per network, the addresses its stand-in needs.
    let mut standins: Vec<(usize, Vec<IpAddr>)> = Vec::new();
    for (i, mut j) in jobs.into_iter().enumerate() {
        let t = pathproof_core::trace(scn, &j.query).map_err(|e| {
            format!(
                "the model cannot trace {} -> {}: {e:?}",
                j.query.from, j.query.to
            )
        })?;
        if free_sport && j.query.sport.is_none() {
            // Asked of the model with its fixed port; the kernel picks one.
            j.query.sport = Some(0);
        }
        let ns = match j.network {
            Some(net) => {
                let a = standin_addr(&t).ok_or_else(|| {
                    format!("the model names no stand-in address for {}", t.query.source)
                })?;
                match standins.iter_mut().find(|s| s.0 == net) {
                    Some(s) if !s.1.contains(&a) => s.1.push(a),
                    Some(_) => {}
                    None => standins.push((net, vec![a])),
                }
                names.standin_ns(net)
            }
            None => plan.hosts[j.source].ns.clone(),
        };
        let proxy_addr = proxy_addr(scn, &j, &t);
        // Journeys that would share a 5-tuple run one after the other.
        let key = if let Some(sender) = router_no_route_v4(&t) {
            // Per sender: a proxy's upstream leg spends the proxy's budget.
            let ns = scn
                .host_by_name(&sender)
                .map(|id| plan.hosts[id.index()].ns.clone())
                .unwrap_or_else(|| ns.clone());
            // Paced: a router's IPv4 "no route" answers are rate limited per
            // source by ip_error() with the machine-wide (init namespace only)
            // net.ipv4.route.error_cost/error_burst: a burst, then one a second.
            format!("{ns}|ip_error")
        } else if free_sport {
            format!("job {i}")
        } else {
            match proxy_addr {
                Some(p) => format!("{ns}|tcp|{p}"),
                None => format!(
                    "{ns}|{:?}|{:?}|{:?}",
                    j.query.proto, t.query.destination_address, t.query.port
                ),
            }
        };
        let tls = tls_side(scn, &j, &t, &crate::lab::run_dir(&plan.lab));
        prepared.push(Prepared {
            key,
            job: j,
            trace: t,
            proxy_addr,
            tls,
            ns,
        });
    }
    let prepared = Arc::new(prepared);
    let scn_arc = Arc::new(scn.clone());
    let (from_hosts, from_networks): (Vec<usize>, Vec<usize>) =
        (0..prepared.len()).partition(|&i| prepared[i].job.network.is_none());
    // A stand-in's address is one no host owns, so it changes nothing for
    // the other journeys unless one of them is sent to it or routed through
    // it: then the journeys from networks run afterwards, on their own.
    let standin_addrs: Vec<IpAddr> = standins.iter().flat_map(|s| s.1.clone()).collect();
    let meets_standin = prepared.iter().any(|p| {
        p.job.network.is_none()
            && p.trace
                .query
                .destination_address
                .is_some_and(|a| standin_addrs.contains(&a))
    }) || scn.hosts.iter().flat_map(|h| h.routes.iter()).any(|r| {
        matches!(r.action, pathproof_core::model::RouteAction::Via { gateway, .. } if standin_addrs.contains(&gateway))
    });
    let (first, later) = if meets_standin {
        (from_hosts, from_networks)
    } else {
        (Vec::new(), (0..prepared.len()).collect())
    };
    let mut results = run_phase(&scn_arc, &prepared, first)?;
    let from_networks = later;
    if !from_networks.is_empty() {
        let plans: Vec<crate::plan::StandInPlan> = standins
            .iter()
            .map(|(net, addrs)| {
                crate::plan::standin_plan(
                    scn,
                    &plan.lab,
                    pathproof_core::model::NetworkId(*net as u32),
                    addrs,
                )
            })
            .collect();
        crate::lab::add_standins(plan, &plans)?;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut resolvers = Vec::new();
        let mut phase = Ok(Vec::new());
        for p in &plans {
            let view = p.host.dns.map(|v| scn.view(v).clone());
            match standin_resolver(p.plan.ns.clone(), view, stop.clone()) {
                Ok(h) => resolvers.push(h),
                Err(e) => {
                    phase = Err(e);
                    break;
                }
            }
        }
        if phase.is_ok() {
            phase = run_phase(&scn_arc, &prepared, from_networks);
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        for r in resolvers {
            let _ = r.join();
        }
        crate::lab::remove_standins(plan, &plans)?;
        results.extend(phase?);
    }
    results.sort_by_key(|r| r.0);
    Ok(results.into_iter().map(|r| r.1).collect())
}

/// The DNS resolver of a stand-in (its network's view) on 127.0.0.53:53 in
/// its namespace, until `stop`; returns once it is bound.
fn standin_resolver(
    ns: String,
    view: Option<pathproof_core::model::DnsView>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> Result<std::thread::JoinHandle<()>, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let h = std::thread::spawn(move || {
        let bound = netns::enter(&ns).and_then(|_| {
            udp_bind_shared(dns::RESOLVER.parse().expect("valid"))
                .map_err(|e| format!("stand-in {ns}: cannot bind the resolver: {e}"))
        });
        let sock = match bound {
            Ok(s) => {
                let _ = tx.send(Ok(()));
                s
            }
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        let _ = sock.set_read_timeout(Some(Duration::from_millis(50)));
        let mut buf = [0u8; 1500];
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            let Ok((n, peer)) = sock.recv_from(&mut buf) else {
                continue;
            };
            if let Some(a) = dns::answer(view.as_ref(), &buf[..n]) {
                let _ = sock.send_to(&a, peer);
            }
        }
    });
    rx.recv()
        .map_err(|_| "a stand-in resolver died".to_string())??;
    Ok(h)
}

/// Runs the prepared jobs `which`: groups by key run in parallel, members in
/// order. Returns (job number, result) pairs.
fn run_phase(
    scn: &Arc<Scenario>,
    prepared: &Arc<Vec<Prepared>>,
    which: Vec<usize>,
) -> Result<Vec<(usize, ProbeResult)>, String> {
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    for idx in which {
        let key = &prepared[idx].key;
        match groups.iter_mut().find(|g| &g.0 == key) {
            Some(g) => g.1.push(idx),
            None => groups.push((key.clone(), vec![idx])),
        }
    }
    let queue = Arc::new(Mutex::new(
        groups.into_iter().map(|g| g.1).collect::<Vec<_>>(),
    ));
    let results: Arc<Mutex<Vec<(usize, ProbeResult)>>> = Arc::new(Mutex::new(Vec::new()));
    let mut workers = Vec::new();
    for _ in 0..PARALLEL {
        let (queue, results, prepared, scn) = (
            queue.clone(),
            results.clone(),
            prepared.clone(),
            scn.clone(),
        );
        workers.push(std::thread::spawn(move || -> Result<(), String> {
            loop {
                let Some(group) = queue.lock().expect("not poisoned").pop() else {
                    return Ok(());
                };
                for (n, idx) in group.into_iter().enumerate() {
                    let p = &prepared[idx];
                    if p.key.ends_with("|ip_error") && n >= IP_ERROR_BURST {
                        std::thread::sleep(IP_ERROR_PACE);
                    }
                    let r = make_one(&scn, p)?;
                    results.lock().expect("not poisoned").push((idx, r));
                }
            }
        }));
    }
    for w in workers {
        w.join()
            .map_err(|_| "a probe worker panicked".to_string())??;
    }
    let mut results = Arc::try_unwrap(results)
        .map_err(|_| "probe workers still hold results".to_string())?
        .into_inner()
        .expect("not poisoned");
    remake_late_answers(scn, prepared, &mut results)?;
    Ok(results)
}

/// Makes one prepared journey for real from its namespace (the calling
/// thread enters it) and compares it with the model.
fn make_one(scn: &Scenario, p: &Prepared) -> Result<ProbeResult, String> {
    netns::enter(&p.ns)?;
    let k = match &p.tls {
        Ok(tls) => run_kernel(&p.job, &p.trace, p.proxy_addr, tls.as_ref()),
        Err(e) => KernelResult::heard_nothing(
            Class::Other,
            &format!("not made: the client cannot start TLS: {e}"),
            0,
        ),
    };
    Ok(compare(scn, &p.job, p.trace.clone(), k))
}

/// Whether a result is the disagreement a busy machine makes by itself,
/// between "nothing answers" and "no route to host". The lab resolves
/// neighbours in 0.6 s (`retrans_time_ms` 200, three tries; see
/// `plan::host_plan`) so that an address nobody owns fails within the
/// probe's 1.5 s: under load (hundreds of probes at once, other labs
/// beside) a neighbour that exists can answer ARP or neighbour discovery
/// too late (the model says the journey is dropped or its reply lost, the
/// kernel said unreachable), and the failure for one that does not exist,
/// or an ICMP error, can come too late (the model says unreachable, the
/// client timed out).
fn late_answer(r: &ProbeResult) -> bool {
    !r.agree
        && r.trace.as_ref().is_some_and(|t| {
            let want = expected(t);
            (want == [Class::Timeout] && r.kernel.class == Class::Unreachable)
                || (want == [Class::Unreachable] && r.kernel.class == Class::Timeout)
        })
}

/// Makes each `late_answer` journey again, one at a time, and keeps
/// the second result: a model that is wrong is wrong again (the journey is
/// the same, and the machine is quieter), while a neighbour that answered
/// late now answers. Runs on a thread of its own, which enters the
/// journeys' namespaces.
fn remake_late_answers(
    scn: &Arc<Scenario>,
    prepared: &Arc<Vec<Prepared>>,
    results: &mut [(usize, ProbeResult)],
) -> Result<(), String> {
    let again: Vec<usize> = (0..results.len())
        .filter(|&i| late_answer(&results[i].1))
        .collect();
    if again.is_empty() {
        return Ok(());
    }
    let idxs: Vec<usize> = again.iter().map(|&i| results[i].0).collect();
    let (scn, prepared) = (scn.clone(), prepared.clone());
    let remade = std::thread::spawn(move || -> Result<Vec<ProbeResult>, String> {
        idxs.iter()
            .map(|&idx| make_one(&scn, &prepared[idx]))
            .collect()
    })
    .join()
    .map_err(|_| "a probe worker panicked".to_string())??;
    for (i, mut r) in again.into_iter().zip(remade) {
        r.remade = true;
        results[i].1 = r;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A journey is made a second time only where the first answer can be a
    /// neighbour (or an ICMP error) that answered late: the kernel said "no
    /// route to host" where the model says nothing answers, or the kernel
    /// timed out where the model says unreachable. Never for an agreement,
    /// and never for another pair of answers (there the disagreement is
    /// reported at once), over every journey the lab plans in every built-in
    /// scenario and every answer class the kernel can give.
    #[test]
    fn only_a_late_neighbour_is_made_again() {
        let classes = [
            Class::Connected,
            Class::Refused,
            Class::Unreachable,
            Class::Timeout,
            Class::LocalDrop,
            Class::Prohibited,
            Class::TlsFailed,
            Class::Other,
        ];
        let (mut remade, mut silent, mut unreachable) = (0, 0, 0);
        for ex in pathproof_core::examples::ALL {
            let Ok(scn) = pathproof_core::load(ex.name, ex.text, None) else {
                continue;
            };
            for job in jobs(&scn) {
                let Ok(t) = pathproof_core::trace(&scn, &job.query) else {
                    continue;
                };
                let exp = expected(&t);
                for class in classes {
                    let k = KernelResult::heard_nothing(class, "made up", 0);
                    let r = compare(&scn, &job, t.clone(), k);
                    let again = late_answer(&r);
                    if again {
                        remade += 1;
                        assert!(!r.agree, "{}: an agreement made again", r.to);
                        assert!(matches!(
                            (class, exp.as_slice()),
                            (Class::Unreachable, [Class::Timeout])
                                | (Class::Timeout, [Class::Unreachable])
                        ));
                    }
                    if exp == [Class::Timeout] && class == Class::Unreachable {
                        silent += 1;
                        assert!(again, "{} {}: not made again", ex.name, r.to);
                    }
                    if exp == [Class::Unreachable] && class == Class::Timeout {
                        unreachable += 1;
                        assert!(
                            again,
                            "{} {}: a late unreachable not made again",
                            ex.name, r.to
                        );
                    }
                }
            }
        }
        assert!(
            silent > 0 && remade == silent + unreachable,
            "{remade} made again, {silent} silent, {unreachable} unreachable"
        );
        assert!(unreachable > 0, "no built-in journey ends unreachable");
    }
}
