//! The supervisor: one process per lab that runs, inside each host's
//! namespace, a listener for every socket exactly as the scenario binds it,
//! the forward proxies, and the DNS resolver of the host's view.
//!
//! One thread per host enters the namespace with `setns` and binds there;
//! sockets keep their namespace for life, and the threads they spawn inherit
//! it. The supervisor writes `ready` in the run directory once every socket is
//! bound (or `failed` with the reason).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pathproof_core::journey::proxy::{decide, ProxyDecision};
use pathproof_core::model::{ForwardedFor, Proto, ProxyMode, Scenario};

use crate::dns;
use crate::lab::{read_plan, read_spec, run_dir};
use crate::netns;

/// How long a proxy waits for its upstream.
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_millis(1500);

/// How long a proxy's relay waits for a byte from either side before it
/// gives the connection up.
pub const RELAY_IDLE: Duration = Duration::from_secs(10);

/// The header every lab proxy adds to a request it passes on (a reverse
/// proxy's upstream request, a forward proxy's plain request; a `CONNECT`
/// tunnel carries the client's bytes untouched): `Via: 1.1 NAME`, NAME the
/// proxy's host as the lab names it (`via_name`), after the `Via` lines
/// that came, as RFC 9110 7.6.3 has each proxy do.
pub const VIA: &str = "Via";

/// A proxy that finds its own name in a request's `Via` (the request went
/// round and came back), or `MAX_PROXY_HOPS` proxies or more there, answers
/// `508 Loop Detected` itself instead of passing the request on.
pub const MAX_PROXY_HOPS: usize = 64;

/// The status line a lab proxy answers a loop with.
pub const LOOP_STATUS: &str = "508 Loop Detected";

/// How many upstream connections one lab proxy holds at once (connecting,
/// or relaying); a request beyond that gets `503 Service Unavailable` at
/// once. Twice the probe's own parallelism, so `lab probe` never meets it
/// (each probe opens at most one upstream connection per proxy it
/// crosses), and it bounds what a loop or a flood can pile up.
pub const MAX_UPSTREAM: usize = 2 * crate::probe::PARALLEL;

/// The status line of a proxy at its cap.
pub const BUSY_STATUS: &str = "503 Service Unavailable";

/// The header a lab proxy's own answers carry to say why (denied, a loop,
/// busy).
pub const PROXY_WHY_HEADER: &str = "X-Pathproof-Proxy: ";

/// The name a proxy writes in `Via`: its host's name in kernel names
/// (`names::Names::host_token`: letters, digits, `-` and `_`, one per host).
pub fn via_name(scn: &Scenario, hid: usize) -> String {
    crate::names::Names::new(scn, "")
        .host_token(hid)
        .to_string()
}

/// The proxies a request head names in its `Via` headers, in order (the
/// received-by of each entry: `1.1 NAME`, `NAME` alone, comments dropped).
pub fn via_entries(head_lines: &[String]) -> Vec<String> {
    head_lines
        .iter()
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| k.trim().eq_ignore_ascii_case(VIA))
        .flat_map(|(_, v)| v.split(',').map(str::to_string).collect::<Vec<_>>())
        .filter_map(|e| {
            let e = e.split('(').next().unwrap_or("");
            let w: Vec<&str> = e.split_whitespace().collect();
            w.get(1).or(w.first()).map(|n| n.to_string())
        })
        .collect()
}

/// Why a proxy named `me` must not pass on a request with these header
/// lines: it went round (`me` is in its `Via`), or it crossed too many
/// proxies. `None`: pass it on.
pub fn loop_seen(head_lines: &[String], me: &str) -> Option<String> {
    let via = via_entries(head_lines);
    if via.iter().any(|v| v == me) {
        return Some(format!(
            "loop: {me} is already in Via ({}), the request came back to it",
            via.join(", ")
        ));
    }
    (via.len() >= MAX_PROXY_HOPS).then(|| {
        format!(
            "loop: the request crossed {} proxies (at most {MAX_PROXY_HOPS})",
            via.len()
        )
    })
}

/// One of a proxy's `MAX_UPSTREAM` upstream connections, given back when dropped.
struct UpstreamSlot(Arc<AtomicUsize>);

impl UpstreamSlot {
    fn take(count: &Arc<AtomicUsize>) -> Option<UpstreamSlot> {
        if count.fetch_add(1, Ordering::SeqCst) >= MAX_UPSTREAM {
            count.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(UpstreamSlot(count.clone()))
    }
}

impl Drop for UpstreamSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What a lab proxy knows about itself.
#[derive(Clone)]
struct ProxyCtx {
    scn: Arc<Scenario>,
    hid: usize,
    /// Its name in `Via`.
    me: String,
    /// Its upstream connections now.
    upstream: Arc<AtomicUsize>,
    /// The lab's run directory (the CA certificates and client identities
    /// a reverse proxy's TLS client needs for an upstream that speaks TLS).
    dir: std::path::PathBuf,
    /// The source ports its upstream connections may use
    /// (`probe::ports_like_the_models`; `None`: any).
    sports: Option<Arc<Vec<u16>>>,
}

/// A reverse proxy's connection to its upstream: plain, or TLS when the
/// upstream's socket speaks TLS (the proxy is then the TLS client, with its
/// host's `tls` settings, as in the model's upstream leg). `first` holds
/// what the proxy read of the upstream's answer to see that the session
/// holds (a TLS 1.3 server refuses a client certificate after the
/// handshake), to be passed on first.
enum Upstream {
    Plain(TcpStream),
    Tls {
        st: Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>,
        first: Vec<u8>,
    },
}

impl Upstream {
    fn set_read_timeout(&self, d: Duration) {
        let _ = match self {
            Upstream::Plain(s) => s.set_read_timeout(Some(d)),
            Upstream::Tls { st, .. } => st.sock.set_read_timeout(Some(d)),
        };
    }
}

impl Read for Upstream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Upstream::Plain(s) => s.read(buf),
            Upstream::Tls { st, first } if first.is_empty() => st.read(buf),
            Upstream::Tls { first, .. } => {
                let n = first.len().min(buf.len());
                buf[..n].copy_from_slice(&first[..n]);
                first.drain(..n);
                Ok(n)
            }
        }
    }
}

/// An answer a proxy writes itself: the status, its `X-Pathproof-Echo`
/// (who answered, the peer it saw), then `extra` header lines.
fn proxy_answer(host: &str, port: u16, s: &TcpStream, code: &str, extra: &str) -> String {
    let echo = match (s.peer_addr(), s.local_addr()) {
        (Ok(peer), Ok(local)) => {
            let g = greeting(host, Proto::Tcp, port, peer, local);
            let fields = g.trim_end().trim_start_matches("pathproof-echo ");
            format!("{PROXY_ECHO_HEADER}{fields}\r\n")
        }
        _ => String::new(),
    };
    format!("HTTP/1.1 {code}\r\n{echo}{extra}\r\n")
}

/// Relays bytes both ways between a client and an upstream until the
/// upstream's answer ends (or `RELAY_IDLE` passes without a byte), so the
/// caller's `UpstreamSlot` covers the upstream connection's whole life.
/// Once the upstream has closed, nothing the client sends can go anywhere:
/// the client's side is closed too, at once (a loop's `508` unwinds the
/// whole chain of proxies as soon as it is written, whatever the client
/// does).
fn relay(a: TcpStream, b: TcpStream) {
    let (mut a, mut b) = (a, b);
    let (Ok(mut a2), Ok(mut b2)) = (a.try_clone(), b.try_clone()) else {
        return;
    };
    let _ = a.set_read_timeout(Some(RELAY_IDLE));
    let _ = b.set_read_timeout(Some(RELAY_IDLE));
    let back = std::thread::spawn(move || {
        let _ = std::io::copy(&mut b2, &mut a2);
        // Ends the forward copy too (its read of the client returns).
        let _ = a2.shutdown(Shutdown::Both);
    });
    let _ = std::io::copy(&mut a, &mut b);
    let _ = b.shutdown(Shutdown::Write);
    let _ = back.join();
}

/// The first line every TCP and UDP service sends: who it is and the peer it saw.
pub fn greeting(
    host: &str,
    proto: Proto,
    port: u16,
    peer: SocketAddr,
    local: SocketAddr,
) -> String {
    format!(
        "pathproof-echo host={host} socket={}/{port} peer={} local={}\n",
        proto.name(),
        peer.ip(),
        local.ip()
    )
}

/// The line a TLS socket's service (an echo, or a reverse proxy that ends
/// TLS) sends first inside the session, before anything else:
/// `pathproof-tls host=H client-id=ID`, where ID is the URI SAN (the SPIFFE
/// ID) of the client certificate the server verified, several joined by
/// `,`, or `-` when the client presented none.
pub const TLS_LINE: &str = "pathproof-tls ";

/// `TLS_LINE` for a session whose handshake is done.
pub fn tls_report(host: &str, conn: &rustls::ServerConnection) -> String {
    let ids = crate::tls::verified_client_ids(conn);
    let id = if ids.is_empty() {
        "-".to_string()
    } else {
        // A field value holds no blank.
        ids.join(",").replace(char::is_whitespace, "%20")
    };
    format!("{TLS_LINE}host={host} client-id={id}\n")
}

/// The header a forward proxy adds to every answer it writes itself
/// (`400`, `403`, `502`, `200` for a tunnel): its greeting's fields, so
/// that a client that reaches the proxy's own socket learns who answered
/// and which peer it saw, as from every other service.
pub const PROXY_ECHO_HEADER: &str = "X-Pathproof-Echo: ";

/// Reads `key=value` from a greeting line.
pub fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

/// What every probe writes as its request head: an HTTP-like head with a
/// forged `X-Forwarded-For` (TEST-NET-1), so that each proxy mode (append,
/// overwrite, pass, strip) leaves a different value at the service.
pub const CLIENT_XFF: &str = "192.0.2.99";

/// The line an echo service sends after reading the request head: the
/// `X-Forwarded-For` it got (`-` for none).
pub const HEAD_LINE: &str = "pathproof-head x-forwarded-for: ";

/// The line after `HEAD_LINE`: how many header lines follow, each exactly
/// as the echo got it (`Name: value`), in order (`-1`: no head came).
pub const HEADERS_LINE: &str = "pathproof-headers ";

/// The header lines of a request head (everything after the request line).
pub fn head_headers(head: &str) -> Vec<String> {
    head.lines()
        .skip(1)
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Reads a request head (up to and including the blank line) one byte at a
/// time, so nothing after it is consumed; `None` on timeout, EOF or 8 KiB.
pub fn read_head(r: &mut impl Read) -> Option<String> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while head.len() < 8192 {
        match r.read(&mut b) {
            Ok(1) => head.push(b[0]),
            _ => return None,
        }
        if head.ends_with(b"\n\n") || head.ends_with(b"\r\n\r\n") {
            return Some(String::from_utf8_lossy(&head).into_owned());
        }
    }
    None
}

/// The `X-Forwarded-For` of a head: every such header's value, in order,
/// joined as HTTP joins repeated headers.
pub fn head_xff(head: &str) -> Option<String> {
    let v: Vec<&str> = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| k.trim().eq_ignore_ascii_case("x-forwarded-for"))
        .map(|(_, v)| v.trim())
        .collect();
    (!v.is_empty()).then(|| v.join(", "))
}

/// The `X-Forwarded-For` a proxy passes on, per its mode (the model's
/// proxy claims): append the client's address to what came, overwrite with
/// it, pass what came, or strip.
pub fn pass_on(mode: ForwardedFor, came: Option<String>, client: IpAddr) -> Option<String> {
    let client = match client {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        a => a,
    };
    match mode {
        ForwardedFor::Append => Some(match came {
            Some(x) => format!("{x}, {client}"),
            None => client.to_string(),
        }),
        ForwardedFor::Overwrite => Some(client.to_string()),
        ForwardedFor::Pass => came,
        ForwardedFor::Strip => None,
    }
}

/// `head` (or a minimal one) with its `X-Forwarded-For` replaced by `xff`,
/// and `Via: 1.1 VIA` added after the `Via` lines that came, when `via`
/// names the proxy passing it on.
pub fn rewrite_head(head: Option<&str>, xff: Option<&str>, via: Option<&str>) -> String {
    let head = head.unwrap_or("GET / HTTP/1.1\r\n\r\n");
    let mut out = String::new();
    for (i, l) in head.lines().enumerate() {
        let l = l.trim_end_matches('\r');
        if l.is_empty() {
            continue;
        }
        if i > 0
            && l.split_once(':')
                .is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case("x-forwarded-for"))
        {
            continue;
        }
        out.push_str(l);
        out.push_str("\r\n");
    }
    if let Some(x) = xff {
        out.push_str(&format!("X-Forwarded-For: {x}\r\n"));
    }
    if let Some(v) = via {
        out.push_str(&format!("{VIA}: 1.1 {v}\r\n"));
    }
    out.push_str("\r\n");
    out
}

/// What an echo answers once it has read the request head: the
/// `X-Forwarded-For` it got, then every header it got (an HTTP echo of the
/// headers, in the echo's line protocol).
fn head_answer(s: &mut impl Read) -> String {
    let head = read_head(s);
    let xff = head.as_deref().and_then(head_xff);
    let mut out = format!("{HEAD_LINE}{}\n", xff.as_deref().unwrap_or("-"));
    match head.as_deref().map(head_headers) {
        Some(hs) => {
            out.push_str(&format!("{HEADERS_LINE}{}\n", hs.len()));
            for h in hs {
                out.push_str(&h);
                out.push('\n');
            }
        }
        None => out.push_str(&format!("{HEADERS_LINE}-1\n")),
    }
    out
}

type TlsCfg = Option<std::sync::Arc<rustls::ServerConfig>>;

/// The echo behind a TLS socket: handshake, then the greeting and echo inside TLS.
fn tls_echo(host: String, port: u16, mut s: TcpStream, cfg: std::sync::Arc<rustls::ServerConfig>) {
    let (Ok(peer), Ok(local)) = (s.peer_addr(), s.local_addr()) else {
        return;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let Ok(mut conn) = rustls::ServerConnection::new(cfg) else {
        return;
    };
    if crate::tls::handshake(&mut conn, &mut s).is_err() {
        return;
    }
    let report = tls_report(&host, &conn);
    let mut st = rustls::Stream::new(&mut conn, &mut s);
    let first = report + &greeting(&host, Proto::Tcp, port, peer, local);
    if st.write_all(first.as_bytes()).is_err() {
        return;
    }
    let _ = st.sock.set_read_timeout(Some(Duration::from_secs(1)));
    let answer = head_answer(&mut st);
    if st.write_all(answer.as_bytes()).is_err() {
        return;
    }
    let _ = st.sock.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = [0u8; 4096];
    while let Ok(n) = st.read(&mut buf) {
        if n == 0 || st.write_all(&buf[..n]).is_err() {
            break;
        }
    }
}

fn tcp_echo(host: String, port: u16, mut s: TcpStream) {
    let (Ok(peer), Ok(local)) = (s.peer_addr(), s.local_addr()) else {
        return;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if s.write_all(greeting(&host, Proto::Tcp, port, peer, local).as_bytes())
        .is_err()
    {
        return;
    }
    // The request head, read within a second (a client may send none).
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    let answer = head_answer(&mut s);
    if s.write_all(answer.as_bytes()).is_err() {
        return;
    }
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 || s.write_all(&buf[..n]).is_err() {
            break;
        }
    }
}

/// The forward proxy: `CONNECT HOST:PORT HTTP/1.1` plus headers. It resolves
/// HOST in its own view, checks the allow list, connects from its own
/// namespace, answers `200` (with the `X-Forwarded-For` it passes on) or
/// `403`/`502`, then relays bytes both ways. A plain request whose `Via`
/// shows it went round gets `508`; one beyond the cap of upstream
/// connections `503`.
fn proxy_conn(ctx: &ProxyCtx, mut s: TcpStream) {
    let scn = &ctx.scn;
    let host = &scn.hosts[ctx.hid];
    let Some(proxy) = &host.proxy else { return };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let peer = match s.peer_addr() {
        Ok(p) => p,
        Err(_) => return,
    };
    let mut reader = BufReader::new(match s.try_clone() {
        Ok(c) => c,
        Err(_) => return,
    });
    let mut first = String::new();
    if reader.read_line(&mut first).is_err() {
        return;
    }
    let mut xff: Option<String> = None;
    // The client's headers, passed on with a plain request (end to end).
    let mut headers: Vec<String> = Vec::new();
    loop {
        let mut l = String::new();
        if reader.read_line(&mut l).unwrap_or(0) == 0 {
            break;
        }
        let l = l.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            if k.eq_ignore_ascii_case("x-forwarded-for") {
                xff = Some(v.trim().to_string());
            }
        }
        headers.push(l.to_string());
    }
    // Every answer the proxy writes itself says who answered and the peer
    // it saw, as every other service's greeting does.
    let mut reply = |code: &str, extra: &str| {
        let a = proxy_answer(&host.name, proxy.port, &s, code, extra);
        let _ = s.write_all(a.as_bytes());
    };
    // `CONNECT HOST:PORT` opens a tunnel (the client's own session, TLS);
    // `GET http://HOST:PORT/` is a request the proxy passes on with its
    // `X-Forwarded-For`.
    let parts: Vec<&str> = first.split_whitespace().collect();
    let tunnel = parts.first() == Some(&"CONNECT");
    let target = match parts.get(1) {
        Some(t) if tunnel => *t,
        Some(t) if parts[0] == "GET" && t.starts_with("http://") => t
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap_or(""),
        _ => {
            reply("400 Bad Request", "");
            return;
        }
    };
    if let Some(why) = loop_seen(&headers, &ctx.me) {
        reply(LOOP_STATUS, &format!("{PROXY_WHY_HEADER}{why}\r\n"));
        return;
    }
    let Some((name, port)) = target.rsplit_once(':') else {
        reply("400 Bad Request", "");
        return;
    };
    let Ok(port) = port.parse::<u16>() else {
        reply("400 Bad Request", "");
        return;
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    // A name is looked up in the family the client came in with.
    let v6_client = matches!(peer.ip(), IpAddr::V6(a) if a.to_ipv4_mapped().is_none());
    let dst: IpAddr = match name.parse() {
        Ok(a) => a,
        Err(_) => match dns::lookup(name, v6_client) {
            dns::Lookup::Found(a) => a[0],
            other => {
                reply(
                    "502 Bad Gateway",
                    &format!("X-Pathproof-Upstream: unresolved {other:?}\r\n"),
                );
                return;
            }
        },
    };
    if let ProxyDecision::Denied = decide(proxy, dst, port) {
        reply(
            "403 Forbidden",
            &format!("{PROXY_WHY_HEADER}denied by the allow list\r\n"),
        );
        return;
    }
    let Some(_slot) = UpstreamSlot::take(&ctx.upstream) else {
        reply(
            BUSY_STATUS,
            &format!(
                "{PROXY_WHY_HEADER}busy: {MAX_UPSTREAM} upstream connections open (the lab's cap)\r\n"
            ),
        );
        return;
    };
    let passed = pass_on(proxy.forwarded_for, xff, peer.ip());
    // From the address and a port the model's proxy sends from.
    let src = pathproof_core::journey::select_source(&ctx.scn.hosts[ctx.hid], dst);
    let up = match crate::probe::connect_from(
        src,
        ctx.sports.as_deref().map(|v| v.as_slice()),
        SocketAddr::new(dst, port),
        UPSTREAM_TIMEOUT,
    ) {
        // SAFETY: a connected socket we own.
        Ok(fd) => unsafe { <TcpStream as std::os::fd::FromRawFd>::from_raw_fd(fd) },
        Err(e) => {
            reply(
                "502 Bad Gateway",
                &format!(
                    "X-Pathproof-Upstream: {}\r\n",
                    crate::probe::classify_err(&e).name()
                ),
            );
            return;
        }
    };
    let mut up = up;
    if tunnel {
        let xff_line = passed
            .map(|p| format!("X-Forwarded-For: {p}\r\n"))
            .unwrap_or_default();
        reply("200 Connection established", &xff_line);
    } else {
        // Origin form, with every header the client sent (its
        // X-Forwarded-For replaced by what the proxy's mode makes), and
        // this proxy in Via.
        let mut head = String::from("GET / HTTP/1.1\r\n");
        for h in &headers {
            head.push_str(h);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        if up
            .write_all(rewrite_head(Some(&head), passed.as_deref(), Some(&ctx.me)).as_bytes())
            .is_err()
        {
            return;
        }
    }
    relay(s, up);
}

/// A reverse proxy: reads the client's request head, connects to the
/// upstream from the proxy's own address, passes the head on with the
/// `X-Forwarded-For` its mode makes (`pass_on`) and itself in `Via`, then
/// relays both ways. If the upstream cannot be reached the client gets one
/// line `pathproof-proxy upstream=CLASS` and the connection closes. A head
/// whose `Via` shows it went round gets `508 Loop Detected`; a request
/// beyond the cap of upstream connections `503`, both as HTTP answers with
/// `X-Pathproof-Echo`.
fn reverse_conn(ctx: &ProxyCtx, mut s: TcpStream, tls: TlsCfg) {
    let scn = &ctx.scn;
    let hid = ctx.hid;
    let client = s.peer_addr().ok().map(|p| p.ip());
    let port = s.local_addr().map(|a| a.port()).unwrap_or(0);
    // The upstream is reached in the family the client came in with (the
    // model's rule), if it has an address of that family.
    let v6 =
        matches!(s.local_addr().map(|a| a.ip()), Ok(IpAddr::V6(a)) if a.to_ipv4_mapped().is_none());
    // The answer instead of an upstream: a loop, or the cap.
    let refusal = |s: &TcpStream, head: Option<&str>| -> Option<String> {
        let lines = head.map(head_headers).unwrap_or_default();
        let (code, why) = match loop_seen(&lines, &ctx.me) {
            Some(why) => (LOOP_STATUS, why),
            None => return None,
        };
        Some(proxy_answer(
            &scn.hosts[hid].name,
            port,
            s,
            code,
            &format!("{PROXY_WHY_HEADER}{why}\r\n"),
        ))
    };
    let busy = |s: &TcpStream| {
        proxy_answer(
            &scn.hosts[hid].name,
            port,
            s,
            BUSY_STATUS,
            &format!(
                "{PROXY_WHY_HEADER}busy: {MAX_UPSTREAM} upstream connections open (the lab's cap)\r\n"
            ),
        )
    };
    if let Some(cfg) = tls {
        // TLS ends here; the upstream's answer is relayed inside the session.
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let Ok(mut conn) = rustls::ServerConnection::new(cfg) else {
            return;
        };
        if crate::tls::handshake(&mut conn, &mut s).is_err() {
            return;
        }
        // Who ended TLS and which client identity it verified, first.
        let report = tls_report(&scn.hosts[hid].name, &conn);
        let sock = match s.try_clone() {
            Ok(c) => c,
            Err(_) => return,
        };
        let mut st = rustls::Stream::new(&mut conn, &mut s);
        if st.write_all(report.as_bytes()).is_err() {
            return;
        }
        let _ = st.sock.set_read_timeout(Some(Duration::from_millis(1500)));
        let head = read_head(&mut st);
        if let Some(answer) = refusal(&sock, head.as_deref()) {
            let _ = st.write_all(answer.as_bytes());
            return;
        }
        let Some(_slot) = UpstreamSlot::take(&ctx.upstream) else {
            let _ = st.write_all(busy(&sock).as_bytes());
            return;
        };
        match reverse_upstream(ctx, client, v6, head.as_deref()) {
            Ok(mut up) => {
                up.set_read_timeout(Duration::from_secs(3));
                let mut buf = [0u8; 4096];
                while let Ok(n) = up.read(&mut buf) {
                    if n == 0 || st.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
            Err(line) => {
                let _ = st.write_all(line.as_bytes());
            }
        }
        return;
    }
    let _ = s.set_read_timeout(Some(Duration::from_millis(1500)));
    let head = read_head(&mut s);
    if let Some(answer) = refusal(&s, head.as_deref()) {
        let _ = s.write_all(answer.as_bytes());
        return;
    }
    let Some(_slot) = UpstreamSlot::take(&ctx.upstream) else {
        let _ = s.write_all(busy(&s).as_bytes());
        return;
    };
    match reverse_upstream(ctx, client, v6, head.as_deref()) {
        Ok(Upstream::Plain(up)) => relay(s, up),
        Ok(mut up) => {
            // TLS to the upstream: its answer is passed on in the clear
            // (the request head went already; the client sends no more).
            up.set_read_timeout(Duration::from_secs(3));
            let _ = std::io::copy(&mut up, &mut s);
            let _ = s.shutdown(Shutdown::Both);
        }
        Err(line) => {
            let _ = s.write_all(line.as_bytes());
        }
    }
}

/// A reverse proxy's upstream connection (with the client's head passed on,
/// `X-Forwarded-For` rewritten per the proxy's mode, the proxy added to
/// `Via`; inside TLS when the upstream's socket speaks TLS), or the line
/// telling the client why there is none.
fn reverse_upstream(
    ctx: &ProxyCtx,
    client: Option<IpAddr>,
    v6: bool,
    head: Option<&str>,
) -> Result<Upstream, String> {
    let scn = &ctx.scn;
    let host = &scn.hosts[ctx.hid];
    let Some(proxy) = &host.proxy else {
        return Err("pathproof-proxy upstream=other\n".into());
    };
    let ProxyMode::Reverse { upstream, port } = &proxy.mode else {
        return Err("pathproof-proxy upstream=other\n".into());
    };
    let up_host = scn.host(*upstream);
    let Some(dst) = up_host.first_addr(v6).or_else(|| up_host.first_addr(!v6)) else {
        return Err("pathproof-proxy upstream=other\n".into());
    };
    // From the address and a port the model's proxy sends from.
    let src = pathproof_core::journey::select_source(host, dst);
    match crate::probe::connect_from(
        src,
        ctx.sports.as_deref().map(|v| v.as_slice()),
        SocketAddr::new(dst, *port),
        UPSTREAM_TIMEOUT,
    ) {
        Ok(fd) => {
            // SAFETY: a connected socket we own.
            let mut up = unsafe { <TcpStream as std::os::fd::FromRawFd>::from_raw_fd(fd) };
            let came = head.and_then(head_xff);
            let passed = match client {
                Some(c) => pass_on(proxy.forwarded_for, came, c),
                None => came,
            };
            let head = rewrite_head(head, passed.as_deref(), Some(&ctx.me));
            let tls = match pathproof_core::journey::deliver::find_socket(
                up_host,
                Proto::Tcp,
                dst,
                *port,
            ) {
                pathproof_core::journey::deliver::SocketLookup::Found(s) => s.tls.clone(),
                _ => None,
            };
            let Some(tls) = tls else {
                let _ = up.write_all(head.as_bytes());
                return Ok(Upstream::Plain(up));
            };
            upstream_tls(ctx, &tls, &up_host.name, up, &head)
        }
        Err(e) => Err(format!(
            "pathproof-proxy upstream={} error={}\n",
            crate::probe::classify_err(&e).name().replace(' ', "_"),
            e.raw_os_error().unwrap_or(0)
        )),
    }
}

/// The TLS session of a reverse proxy with an upstream `name` whose socket
/// speaks TLS (`tls`): the proxy's host's TLS client asks for the name the
/// model's upstream leg asks for (`authenticate::name_asked_of_host`),
/// sends `head` inside, and reads the first of the answer. A handshake the
/// upstream refuses, or a session it ends with an alert before answering,
/// is `pathproof-proxy upstream=tls_failed`, as the model's `tls_failed`.
fn upstream_tls(
    ctx: &ProxyCtx,
    tls: &pathproof_core::model::TlsServer,
    name: &str,
    mut up: TcpStream,
    head: &str,
) -> Result<Upstream, String> {
    let other = |why: &str| format!("pathproof-proxy upstream=other error=0 why={why}\n");
    let failed = "pathproof-proxy upstream=tls_failed error=0\n".to_string();
    let asked = pathproof_core::journey::authenticate::name_asked_of_host(tls, name);
    let server =
        rustls::pki_types::ServerName::try_from(asked).map_err(|e| other(&e.to_string()))?;
    let cfg = crate::tls::client_config(&ctx.scn, ctx.hid, &ctx.dir).map_err(|e| other(&e))?;
    let mut conn = rustls::ClientConnection::new(cfg, server).map_err(|e| other(&e.to_string()))?;
    let _ = up.set_read_timeout(Some(UPSTREAM_TIMEOUT));
    if crate::tls::handshake(&mut conn, &mut up).is_err() {
        return Err(failed);
    }
    let mut st = Box::new(rustls::StreamOwned::new(conn, up));
    if st.write_all(head.as_bytes()).is_err() {
        return Err(failed);
    }
    let _ = st.sock.set_read_timeout(Some(Duration::from_millis(2000)));
    let mut first = vec![0u8; 4096];
    match st.read(&mut first) {
        Ok(n) => first.truncate(n),
        Err(e) if crate::probe::tls_alert(&e).is_some() => return Err(failed),
        Err(_) => first.clear(),
    }
    Ok(Upstream::Tls { st, first })
}

fn udp_echo(host: String, port: u16, sock: UdpSocket) {
    let mut buf = [0u8; 1500];
    let local = sock.local_addr().ok();
    loop {
        let Ok((n, peer)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let mut msg = greeting(
            &host,
            Proto::Udp,
            port,
            peer,
            local.unwrap_or_else(|| SocketAddr::new(IpAddr::from([0, 0, 0, 0]), port)),
        )
        .into_bytes();
        msg.extend(&buf[..n]);
        let _ = sock.send_to(&msg, peer);
    }
}

fn serve_host(
    scn: std::sync::Arc<Scenario>,
    hid: usize,
    ns: String,
    tls: Vec<TlsCfg>,
    dir: std::path::PathBuf,
) -> Result<(), String> {
    netns::enter(&ns)?;
    let host = &scn.hosts[hid];
    let sports = crate::probe::ports_like_the_models(&scn).map(Arc::new);
    let view = host.dns.map(|v| scn.view(v).clone());
    let resolver =
        crate::probe::udp_bind_shared(dns::RESOLVER.parse().expect("valid")).map_err(|e| {
            format!(
                "host {}: cannot bind the resolver {}: {e}",
                host.name,
                dns::RESOLVER
            )
        })?;
    std::thread::spawn(move || dns::serve(resolver, view));
    for (si, s) in host.sockets.iter().enumerate() {
        let tls_cfg = tls.get(si).cloned().flatten();
        let addr = SocketAddr::new(s.bind, s.port);
        let name = host.name.clone();
        let port = s.port;
        match s.proto {
            Proto::Sctp => {
                return Err(format!(
                    "host {}: the lab runs no SCTP services ({}): SCTP is modelled by trace, reach and check only",
                    host.name, s.text
                ))
            }
            Proto::Tcp => {
                let l = TcpListener::bind(addr)
                    .map_err(|e| format!("host {}: cannot bind {}: {e}", host.name, s.text))?;
                let is_proxy = host.proxy.as_ref().is_some_and(|p| {
                    p.port == s.port && matches!(p.mode, ProxyMode::Forward { .. })
                });
                let is_reverse = host.proxy.as_ref().is_some_and(|p| {
                    p.port == s.port && matches!(p.mode, ProxyMode::Reverse { .. })
                });
                let ns = ns.clone();
                // One count of upstream connections per proxy socket.
                let ctx = ProxyCtx {
                    scn: scn.clone(),
                    hid,
                    me: via_name(&scn, hid),
                    upstream: Arc::new(AtomicUsize::new(0)),
                    dir: dir.clone(),
                    sports: sports.clone(),
                };
                std::thread::spawn(move || {
                    for c in l.incoming().flatten() {
                        let name = name.clone();
                        let ctx = ctx.clone();
                        let ns = ns.clone();
                        let tls_cfg = tls_cfg.clone();
                        std::thread::spawn(move || {
                            if netns::enter(&ns).is_err() {
                                return;
                            }
                            if is_proxy {
                                proxy_conn(&ctx, c)
                            } else if is_reverse {
                                reverse_conn(&ctx, c, tls_cfg)
                            } else if let Some(cfg) = tls_cfg {
                                tls_echo(name, port, c, cfg)
                            } else {
                                tcp_echo(name, port, c)
                            }
                        });
                    }
                });
            }
            Proto::Udp => {
                let u = crate::probe::udp_bind_shared(addr)
                    .map_err(|e| format!("host {}: cannot bind {}: {e}", host.name, s.text))?;
                std::thread::spawn(move || udp_echo(name, port, u));
                if s.bind.is_unspecified() {
                    // A wildcard UDP socket answers from the route's preferred
                    // source, not from the address the datagram came to; a
                    // careful server answers from that address (IP_PKTINFO),
                    // as the model's reversed reply tuple assumes. The lab
                    // gets that by adding a socket per local address of the
                    // family, which the kernel prefers over the wildcard.
                    let mut locals: Vec<IpAddr> = host
                        .interfaces
                        .iter()
                        .flat_map(|i| i.addrs.iter().copied())
                        .collect();
                    locals.push(IpAddr::from([127, 0, 0, 1]));
                    if host.first_addr(true).is_some() {
                        locals.push(IpAddr::from(std::net::Ipv6Addr::LOCALHOST));
                    }
                    for a in locals {
                        if !s.accepts(a) {
                            continue;
                        }
                        let u = crate::probe::udp_bind_shared(SocketAddr::new(a, s.port)).map_err(
                            |e| format!("host {}: cannot bind {a} for {}: {e}", host.name, s.text),
                        )?;
                        let name = host.name.clone();
                        std::thread::spawn(move || udp_echo(name, port, u));
                    }
                }
            }
            Proto::Icmp => {}
        }
    }
    Ok(())
}

/// The supervisor's main loop: binds everything, says `ready`, then serves
/// until it is killed.
pub fn supervise(lab: &str) -> Result<(), String> {
    let dir = run_dir(lab);
    // Every connection holds a few descriptors: the soft limit goes up to
    // the hard one (the proxies' `MAX_UPSTREAM` bounds what they hold).
    // SAFETY: getrlimit/setrlimit on a local struct.
    unsafe {
        let mut rl: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) == 0 && rl.rlim_cur < rl.rlim_max {
            rl.rlim_cur = rl.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
        }
    }
    let result = (|| -> Result<(), String> {
        let spec = read_spec(lab)?;
        let plan = read_plan(lab)?;
        let scn = std::sync::Arc::new(spec.load()?);
        // A private CA per CA name, certificates for every TLS socket.
        let pki = crate::tls::Pki::generate(&scn)?;
        pki.write(&scn, &dir)?;
        let mut jobs = Vec::new();
        for (hid, h) in plan.hosts.iter().enumerate() {
            let scn = scn.clone();
            let ns = h.ns.clone();
            let mut tls: Vec<TlsCfg> = Vec::new();
            for s in &scn.hosts[hid].sockets {
                tls.push(match &s.tls {
                    Some(t) => Some(pki.server_config(t)?),
                    None => None,
                });
            }
            let dir = dir.clone();
            jobs.push(std::thread::spawn(move || {
                serve_host(scn, hid, ns, tls, dir)
            }));
        }
        for j in jobs {
            j.join()
                .map_err(|_| "a host thread panicked".to_string())??;
        }
        Ok(())
    })();
    match result {
        Ok(()) => {
            std::fs::write(dir.join("ready"), "ready\n").map_err(|e| e.to_string())?;
            eprintln!("pathproof lab {lab}: every service is up");
            loop {
                std::thread::park();
            }
        }
        Err(e) => {
            let _ = std::fs::write(dir.join("failed"), &e);
            Err(e)
        }
    }
}
