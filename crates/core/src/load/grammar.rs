//! The one-line forms of the scenario language: filter rules, NAT rules,
//! routes, sockets and expectations, read into syntax with spans. Names are
//! not resolved here (see `resolve`), so the same syntax serves variants,
//! which compare rules before anything is resolved.

use crate::model::{Action, PortSet, Proto, RejectWith, Span, StateSet};

use super::yaml::{Node, NodeKind};

/// A problem in one line of the language, before it becomes a `Problem`.
#[derive(Debug, Clone)]
pub struct SyntaxError {
    pub span: Span,
    pub message: String,
    pub label: String,
    pub help: Option<String>,
}

fn syntax(span: Span, message: impl Into<String>, label: impl Into<String>) -> SyntaxError {
    SyntaxError {
        span,
        message: message.into(),
        label: label.into(),
        help: None,
    }
}

type Parsed<T> = Result<T, SyntaxError>;

/// A word of a one-liner with its place in the source.
#[derive(Debug, Clone, PartialEq)]
pub struct Word {
    pub text: String,
    pub span: Span,
}

/// Splits a scalar into words; `,` and `->` are words of their own.
pub fn words(node_text: &str, node: &Node, source: &str) -> Vec<Word> {
    // A quoted scalar's span starts at the quote.
    let mut base = node.span.start as usize;
    if matches!(source.as_bytes().get(base), Some(b'"') | Some(b'\'')) {
        base += 1;
    }
    let mut out = Vec::new();
    let bytes = node_text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        if c == b',' {
            i += 1;
        } else if bytes[i..].starts_with(b"->") {
            i += 2;
        } else {
            while i < bytes.len()
                && !bytes[i].is_ascii_whitespace()
                && bytes[i] != b','
                && !bytes[i..].starts_with(b"->")
            {
                i += 1;
            }
        }
        let span = Span::clamped(base + start, i - start, source.len());
        out.push(Word {
            text: node_text[start..i].to_string(),
            span,
        });
    }
    out
}

/// A cursor over words.
pub struct Cursor {
    words: Vec<Word>,
    pos: usize,
    /// Where the text ends, for "expected X at the end" errors.
    end: Span,
}

impl Cursor {
    pub fn new(words: Vec<Word>, whole: Span) -> Self {
        let end = words
            .last()
            .map(|w| Span::new(w.span.start + w.span.len, 0))
            .unwrap_or(whole);
        Cursor { words, pos: 0, end }
    }
    pub fn peek(&self) -> Option<&Word> {
        self.words.get(self.pos)
    }
    pub fn peek_is(&self, text: &str) -> bool {
        self.peek()
            .is_some_and(|w| w.text.eq_ignore_ascii_case(text))
    }
    pub fn bump(&mut self) -> Option<Word> {
        let w = self.words.get(self.pos).cloned();
        if w.is_some() {
            self.pos += 1;
        }
        w
    }
    pub fn expect(&mut self, what: &str) -> Parsed<Word> {
        self.bump().ok_or_else(|| {
            syntax(
                self.end,
                format!("expected {what}, found the end of the line"),
                format!("{what} expected here"),
            )
        })
    }
    pub fn at_end(&self) -> bool {
        self.pos >= self.words.len()
    }
    pub fn end_span(&self) -> Span {
        self.end
    }
}

/// An address list as written: `dmz,app`, `not 10.0.0.0/8`, `any`.
#[derive(Debug, Clone, PartialEq)]
pub struct RawAddrs {
    pub negated: bool,
    pub items: Vec<Word>,
}

impl RawAddrs {
    pub fn text(&self) -> String {
        let items: Vec<&str> = self.items.iter().map(|w| w.text.as_str()).collect();
        let list = items.join(",");
        if self.negated {
            format!("not {list}")
        } else {
            list
        }
    }
}

/// The match part of a filter or NAT rule, as written.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RawMatch {
    pub proto: Option<Proto>,
    pub src: Option<RawAddrs>,
    pub dst: Option<RawAddrs>,
    pub sport: Option<PortSet>,
    pub dport: Option<PortSet>,
    pub in_iface: Option<Word>,
    pub out_iface: Option<Word>,
    pub state: Option<StateSet>,
}

impl RawMatch {
    /// The canonical spelling, shared by every form the rule was written in.
    pub fn canonical(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if let Some(p) = self.proto {
            parts.push(p.name().to_string());
        }
        if let Some(src) = &self.src {
            parts.push(format!("from {}", src.text()));
        }
        if let Some(sport) = &self.sport {
            parts.push(format!("sport {}", sport.text()));
        }
        if let Some(dst) = &self.dst {
            parts.push(format!("to {}", dst.text()));
        }
        if let Some(dport) = &self.dport {
            parts.push(format!("port {}", dport.text()));
        }
        if let Some(i) = &self.in_iface {
            parts.push(format!("in {}", i.text));
        }
        if let Some(o) = &self.out_iface {
            parts.push(format!("out {}", o.text));
        }
        if let Some(s) = &self.state {
            parts.push(format!("state {}", s.text()));
        }
        parts.join(" ")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RawRule {
    pub action: Action,
    pub reject_with: Option<RejectWith>,
    pub m: RawMatch,
}

impl RawRule {
    pub fn canonical(&self) -> String {
        let mut s = self.action.name().to_string();
        let m = self.m.canonical();
        if !m.is_empty() {
            s.push(' ');
            s.push_str(&m);
        }
        if let Some(w) = self.reject_with {
            s.push_str(match w {
                RejectWith::PortUnreachable => " with port-unreachable",
                RejectWith::TcpReset => " with tcp-reset",
                RejectWith::AdminProhibited => " with admin-prohibited",
            });
        }
        s
    }
}

const MATCH_KEYWORDS: &[&str] = &[
    "from", "to", "port", "dport", "sport", "in", "out", "state", "with",
];

fn is_keyword(w: &str) -> bool {
    MATCH_KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(w)) || w == "->"
}

pub fn parse_action(w: &Word) -> Parsed<Action> {
    match w.text.to_ascii_lowercase().as_str() {
        "allow" | "accept" | "permit" => Ok(Action::Allow),
        "drop" | "deny" => Ok(Action::Drop),
        "reject" => Ok(Action::Reject),
        other => {
            let mut e = syntax(
                w.span,
                format!("unknown action `{other}`"),
                "expected allow, drop or reject",
            );
            e.help = super::diagnostic::nearest(other, ["allow", "drop", "reject"])
                .map(|s| format!("did you mean `{s}`?"));
            Err(e)
        }
    }
}

pub fn parse_proto(w: &Word) -> Parsed<Proto> {
    Proto::parse(&w.text.to_ascii_lowercase()).ok_or_else(|| {
        syntax(
            w.span,
            format!("unknown protocol `{}`", w.text),
            "expected tcp, udp, sctp or icmp",
        )
    })
}

pub fn parse_port(w: &Word) -> Parsed<u16> {
    w.text.parse::<u16>().map_err(|_| {
        syntax(
            w.span,
            format!("`{}` is not a port number", w.text),
            "expected a number from 0 to 65535",
        )
    })
}

/// `22`, `8000-8080`, `80,443` (commas are separate words).
pub fn parse_ports(c: &mut Cursor) -> Parsed<PortSet> {
    let mut ranges = Vec::new();
    loop {
        let w = c.expect("a port or a port range")?;
        let range = match w.text.split_once('-') {
            Some((lo, hi)) => {
                let lo = parse_port(&Word {
                    text: lo.to_string(),
                    span: w.span,
                })?;
                let hi = parse_port(&Word {
                    text: hi.to_string(),
                    span: w.span,
                })?;
                if lo > hi {
                    return Err(syntax(
                        w.span,
                        format!("the port range `{}` runs backwards", w.text),
                        "expected LOW-HIGH",
                    ));
                }
                (lo, hi)
            }
            None => {
                let p = parse_port(&w)?;
                (p, p)
            }
        };
        ranges.push(range);
        if c.peek_is(",") {
            c.bump();
        } else {
            break;
        }
    }
    Ok(PortSet::from_ranges(ranges))
}

fn parse_addrs(c: &mut Cursor) -> Parsed<RawAddrs> {
    let mut negated = false;
    if c.peek_is("not") || c.peek_is("!") {
        c.bump();
        negated = true;
    }
    let mut items = Vec::new();
    loop {
        let w = c.expect("a host, a network, a prefix or `any`")?;
        if is_keyword(&w.text) {
            return Err(syntax(
                w.span,
                format!("expected an address, found the keyword `{}`", w.text),
                "a host, a network, a prefix or `any` expected here",
            ));
        }
        items.push(w);
        if c.peek_is(",") {
            c.bump();
        } else {
            break;
        }
    }
    Ok(RawAddrs { negated, items })
}

fn parse_states(c: &mut Cursor) -> Parsed<StateSet> {
    let mut s = StateSet::default();
    loop {
        let w = c.expect("a connection state")?;
        match w.text.to_ascii_lowercase().as_str() {
            "new" => s.new = true,
            "established" => s.established = true,
            "related" => s.related = true,
            "invalid" => s.invalid = true,
            other => {
                let mut e = syntax(
                    w.span,
                    format!("unknown connection state `{other}`"),
                    "expected new, established, related or invalid",
                );
                e.help =
                    super::diagnostic::nearest(other, ["new", "established", "related", "invalid"])
                        .map(|s| format!("did you mean `{s}`?"));
                return Err(e);
            }
        }
        if c.peek_is(",") {
            c.bump();
        } else {
            break;
        }
    }
    Ok(s)
}

fn unknown_clause(w: &Word, allowed: &[&str]) -> SyntaxError {
    let mut e = syntax(
        w.span,
        format!("unexpected `{}` in a rule", w.text),
        format!("expected one of: {}", allowed.join(", ")),
    );
    e.help = super::diagnostic::nearest(&w.text, allowed.iter().copied())
        .map(|s| format!("did you mean `{s}`?"));
    e
}

/// Reads match clauses until the end or until a word in `stop`.
pub fn parse_match(
    c: &mut Cursor,
    stop: &[&str],
    allow_with: bool,
) -> Parsed<(RawMatch, Option<RejectWith>)> {
    let mut m = RawMatch::default();
    let mut with = None;
    if let Some(w) = c.peek() {
        if let Some(p) = Proto::parse(&w.text.to_ascii_lowercase()) {
            m.proto = Some(p);
            c.bump();
        } else if w.text.eq_ignore_ascii_case("any") {
            c.bump();
        }
    }
    while let Some(w) = c.peek().cloned() {
        if stop.contains(&w.text.as_str()) {
            break;
        }
        c.bump();
        let key = w.text.to_ascii_lowercase();
        let dup = |set: bool| -> Parsed<()> {
            if set {
                Err(syntax(
                    w.span,
                    format!("`{key}` appears twice in one rule"),
                    "write each clause once",
                ))
            } else {
                Ok(())
            }
        };
        match key.as_str() {
            "from" => {
                dup(m.src.is_some())?;
                m.src = Some(parse_addrs(c)?);
                if c.peek_is("port") {
                    c.bump();
                    dup(m.sport.is_some())?;
                    m.sport = Some(parse_ports(c)?);
                }
            }
            "to" => {
                dup(m.dst.is_some())?;
                m.dst = Some(parse_addrs(c)?);
                if c.peek_is("port") {
                    c.bump();
                    dup(m.dport.is_some())?;
                    m.dport = Some(parse_ports(c)?);
                }
            }
            "port" | "dport" => {
                dup(m.dport.is_some())?;
                m.dport = Some(parse_ports(c)?);
            }
            "sport" => {
                dup(m.sport.is_some())?;
                m.sport = Some(parse_ports(c)?);
            }
            "in" => {
                dup(m.in_iface.is_some())?;
                m.in_iface = Some(c.expect("a network name (the incoming interface)")?);
            }
            "out" => {
                dup(m.out_iface.is_some())?;
                m.out_iface = Some(c.expect("a network name (the outgoing interface)")?);
            }
            "state" => {
                dup(m.state.is_some())?;
                m.state = Some(parse_states(c)?);
            }
            "with" if allow_with => {
                let k = c.expect("tcp-reset, port-unreachable or admin-prohibited")?;
                with = Some(match k.text.to_ascii_lowercase().as_str() {
                    "tcp-reset" | "reset" | "rst" => RejectWith::TcpReset,
                    "port-unreachable" | "icmp-port-unreachable" => RejectWith::PortUnreachable,
                    "admin-prohibited" | "icmp-admin-prohibited" => RejectWith::AdminProhibited,
                    _ => {
                        return Err(syntax(
                            k.span,
                            format!("unknown reject kind `{}`", k.text),
                            "expected tcp-reset, port-unreachable or admin-prohibited",
                        ))
                    }
                });
            }
            _ => {
                let mut allowed: Vec<&str> =
                    vec!["from", "to", "port", "sport", "in", "out", "state"];
                if allow_with {
                    allowed.push("with");
                }
                return Err(unknown_clause(&w, &allowed));
            }
        }
    }
    if let (Some(p), true) = (m.proto, m.sport.is_some() || m.dport.is_some()) {
        if !p.has_ports() {
            return Err(syntax(
                c.end_span(),
                format!("{p} has no ports"),
                "remove the port clause or use tcp/udp",
            ));
        }
    }
    Ok((m, with))
}

/// `allow tcp from dmz to api port 8080`
pub fn parse_rule_line(c: &mut Cursor) -> Parsed<RawRule> {
    let first = c.expect("an action (allow, drop or reject)")?;
    let action = parse_action(&first)?;
    let (m, with) = parse_match(c, &[], action == Action::Reject)?;
    if !c.at_end() {
        let w = c.bump().unwrap_or(first);
        return Err(syntax(
            w.span,
            format!("unexpected `{}`", w.text),
            "nothing more expected",
        ));
    }
    Ok(RawRule {
        action,
        reject_with: with,
        m,
    })
}

/// A structured rule (`{ action: allow, proto: tcp, from: dmz, to: api, port: 8080 }`)
/// rewritten as the words of its one-liner, so both forms share one parser.
pub fn structured_rule_words(entries: &[(Node, Node)], source: &str) -> Parsed<Vec<Word>> {
    const ORDER: &[&str] = &[
        "action", "proto", "from", "sport", "to", "port", "dport", "in", "out", "state", "with",
    ];
    let mut out = Vec::new();
    for (k, _) in entries {
        let key = k.scalar_text().unwrap_or_default();
        if !ORDER.contains(&key.as_str()) && key != "comment" && key != "source" {
            let mut e = syntax(
                k.span,
                format!("unknown rule key `{key}`"),
                format!("expected one of: {}", ORDER.join(", ")),
            );
            e.help = super::diagnostic::nearest(&key, ORDER.iter().copied())
                .map(|s| format!("did you mean `{s}`?"));
            return Err(e);
        }
    }
    for key in ORDER {
        let Some((k, v)) = entries
            .iter()
            .find(|(k, _)| k.scalar_text().as_deref() == Some(key))
        else {
            continue;
        };
        if !matches!(*key, "action" | "proto") {
            // `port` means the destination port whatever comes before it: in
            // the one-line form `port` right after `from` is the source port,
            // so the destination port is written `dport`.
            let keyword = if matches!(*key, "port" | "dport") {
                "dport"
            } else {
                key
            };
            out.push(Word {
                text: keyword.to_string(),
                span: k.span,
            });
        }
        let items: Vec<&Node> = match &v.kind {
            NodeKind::Seq(items) => items.iter().collect(),
            _ => vec![v],
        };
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push(Word {
                    text: ",".to_string(),
                    span: item.span,
                });
            }
            let Some(text) = item.scalar_text() else {
                return Err(syntax(
                    item.span,
                    format!(
                        "`{key}` takes a word or a list of words, not {}",
                        item.describe()
                    ),
                    "expected a scalar",
                ));
            };
            let ws = words(&text, item, source);
            if ws.is_empty() {
                return Err(syntax(
                    item.span,
                    format!("`{key}` is empty"),
                    "expected a value",
                ));
            }
            out.extend(ws);
        }
    }
    Ok(out)
}

/// The NAT forms: `dnat tcp port 443 in internet -> web:443`,
/// `snat from dmz out internet -> 198.51.100.1`, `masquerade from dmz out internet`.
#[derive(Debug, Clone, PartialEq)]
pub struct RawNat {
    pub kind: Word,
    pub m: RawMatch,
    pub target: Option<Word>,
}

pub fn parse_nat_line(c: &mut Cursor) -> Parsed<RawNat> {
    let kind = c.expect("dnat, snat or masquerade")?;
    let k = kind.text.to_ascii_lowercase();
    if !matches!(k.as_str(), "dnat" | "snat" | "masquerade") {
        let mut e = syntax(
            kind.span,
            format!("unknown NAT kind `{}`", kind.text),
            "expected dnat, snat or masquerade",
        );
        e.help = super::diagnostic::nearest(&k, ["dnat", "snat", "masquerade"])
            .map(|s| format!("did you mean `{s}`?"));
        return Err(e);
    }
    let (m, _) = parse_match(c, &["->"], false)?;
    let target = if c.peek_is("->") {
        c.bump();
        Some(c.expect("where to translate to (HOST[:PORT] or ADDRESS)")?)
    } else {
        None
    };
    if let Some(w) = c.bump() {
        return Err(syntax(
            w.span,
            format!("unexpected `{}`", w.text),
            "nothing more expected",
        ));
    }
    match (k.as_str(), &target) {
        ("masquerade", Some(t)) => Err(syntax(
            t.span,
            "masquerade takes the outgoing interface's address; it has no target",
            "remove `-> ...` or use snat",
        )),
        ("dnat" | "snat", None) => Err(syntax(
            c.end_span(),
            format!("{k} needs a target: `-> ADDRESS`"),
            "`-> TARGET` expected here",
        )),
        _ => Ok(RawNat { kind, m, target }),
    }
}

/// `default via 10.0.1.1`, `10.0.3.0/24 via edge`, `10.9.0.0/16 blackhole`, `10.0.5.0/24 dev dmz`.
#[derive(Debug, Clone, PartialEq)]
pub enum RawRouteAction {
    Via(Word),
    Dev(Word),
    Blackhole,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RawRoute {
    pub dest: Word,
    pub action: RawRouteAction,
}

pub fn parse_route_line(c: &mut Cursor) -> Parsed<RawRoute> {
    let mut first = c.expect("a destination prefix or `default`")?;
    if first.text == "blackhole" {
        let dest = c.expect("a destination prefix")?;
        return Ok(RawRoute {
            dest,
            action: RawRouteAction::Blackhole,
        });
    }
    if first.text == "default6" {
        first.text = "::/0".to_string();
    }
    let kw = c.expect("`via GATEWAY`, `dev NETWORK` or `blackhole`")?;
    let action = match kw.text.as_str() {
        "via" => RawRouteAction::Via(c.expect("a gateway address or host")?),
        "dev" => RawRouteAction::Dev(c.expect("a network name")?),
        "blackhole" => RawRouteAction::Blackhole,
        other => {
            let mut e = syntax(
                kw.span,
                format!("unexpected `{other}` in a route"),
                "expected via, dev or blackhole",
            );
            e.help = super::diagnostic::nearest(other, ["via", "dev", "blackhole"])
                .map(|s| format!("did you mean `{s}`?"));
            return Err(e);
        }
    };
    if let Some(w) = c.bump() {
        return Err(syntax(
            w.span,
            format!("unexpected `{}`", w.text),
            "nothing more expected",
        ));
    }
    Ok(RawRoute {
        dest: first,
        action,
    })
}

/// `tcp/443 https tls web.example.com issuer public`, `tcp/5432 on 127.0.0.1 postgres`,
/// `tcp/8443 mtls api.internal issuer lab-ca client-ca lab-ca`.
#[derive(Debug, Clone, PartialEq)]
pub struct RawSocket {
    pub proto: Proto,
    pub port: u16,
    pub bind: Option<Word>,
    pub app: Option<String>,
    pub tls_names: Vec<String>,
    pub tls: bool,
    pub mtls: bool,
    pub issuer: Option<String>,
    pub client_ca: Option<String>,
}

pub fn parse_socket_line(c: &mut Cursor) -> Parsed<RawSocket> {
    let head = c.expect("PROTO/PORT, such as tcp/443")?;
    let Some((proto, port)) = head.text.split_once('/') else {
        return Err(syntax(
            head.span,
            format!("`{}` is not PROTO/PORT", head.text),
            "expected PROTO/PORT, such as tcp/443",
        ));
    };
    let proto = parse_proto(&Word {
        text: proto.to_string(),
        span: head.span,
    })?;
    if !proto.has_ports() {
        return Err(syntax(
            head.span,
            "only tcp, udp and sctp sockets listen on ports",
            "expected tcp/PORT, udp/PORT or sctp/PORT",
        ));
    }
    let port = parse_port(&Word {
        text: port.to_string(),
        span: head.span,
    })?;
    let mut s = RawSocket {
        proto,
        port,
        bind: None,
        app: None,
        tls_names: Vec::new(),
        tls: false,
        mtls: false,
        issuer: None,
        client_ca: None,
    };
    while let Some(w) = c.bump() {
        match w.text.as_str() {
            "on" => s.bind = Some(c.expect("the address the socket binds")?),
            "tls" | "mtls" => {
                s.tls = true;
                s.mtls |= w.text == "mtls";
                loop {
                    let n = c.expect("a certificate name")?;
                    s.tls_names.push(n.text);
                    if c.peek_is(",") {
                        c.bump();
                    } else {
                        break;
                    }
                }
            }
            "issuer" => s.issuer = Some(c.expect("the CA that issued the certificate")?.text),
            "client-ca" => {
                s.mtls = true;
                s.client_ca = Some(c.expect("the CA client certificates must come from")?.text)
            }
            "," => {
                return Err(syntax(
                    w.span,
                    "unexpected `,`",
                    "a comma only separates certificate names",
                ))
            }
            other => {
                if s.app.is_some() {
                    return Err(syntax(
                        w.span,
                        format!(
                            "unexpected `{other}`: the application is already `{}`",
                            s.app.as_deref().unwrap_or("")
                        ),
                        "expected on, tls, mtls, issuer or client-ca",
                    ));
                }
                s.app = Some(other.to_string());
            }
        }
    }
    if (s.issuer.is_some() || s.client_ca.is_some()) && !s.tls {
        return Err(syntax(
            head.span,
            "`issuer` and `client-ca` need `tls NAME` or `mtls NAME`",
            "this socket does not speak TLS",
        ));
    }
    Ok(s)
}

/// A place followed by an optional port: `db:5432`, `10.0.3.10:5432`, `[2001:db8::1]:443`, `dmz`.
/// What an IPv6 address with a port written without brackets was probably
/// meant to be: `2001:db8::10:22` → `[2001:db8::10]:22`. None when the text
/// is not an IPv6 address followed by `:PORT`.
pub fn bracket_hint(text: &str) -> Option<String> {
    if text.starts_with('[') || text.matches(':').count() < 2 {
        return None;
    }
    let (addr, last) = text.rsplit_once(':')?;
    if last.is_empty() || !last.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let port: u16 = last.parse().ok()?;
    // `2001:db8::22` may be `[2001:db8::]:22`: the `::` belongs to the address.
    let addr = if addr.ends_with(':') && !addr.ends_with("::") {
        format!("{addr}:")
    } else {
        addr.to_string()
    };
    addr.parse::<std::net::Ipv6Addr>()
        .ok()
        .map(|_| format!("[{addr}]:{port}"))
}

/// How to add a port to `place`, a place written without one. An IPv6
/// address takes a port only in brackets (`[2001:db8::10]:22`): written bare,
/// its last group reads as part of the address, so when that group could be
/// a port the bracket form of what was probably meant comes first.
pub fn port_help(place: &str) -> String {
    let v6 = place.parse::<std::net::Ipv6Addr>().is_ok();
    match bracket_hint(place) {
        Some(m) if v6 => format!(
            "an IPv6 address takes a port only in brackets: did you mean {m}? Otherwise write [{place}]:PORT"
        ),
        Some(m) => format!("an IPv6 address takes a port only in brackets: did you mean {m}?"),
        None if v6 => {
            format!("an IPv6 address takes a port only in brackets: write [{place}]:PORT")
        }
        None => format!("write {place}:PORT"),
    }
}

pub fn split_place_port(w: &Word) -> Parsed<(Word, Option<u16>)> {
    let t = &w.text;
    if let Some(rest) = t.strip_prefix('[') {
        let Some((addr, after)) = rest.split_once(']') else {
            return Err(syntax(
                w.span,
                "unclosed `[` in an IPv6 address",
                "expected [ADDRESS]:PORT",
            ));
        };
        let port = match after.strip_prefix(':') {
            Some(p) => Some(parse_port(&Word {
                text: p.to_string(),
                span: w.span,
            })?),
            None if after.is_empty() => None,
            None => {
                return Err(syntax(
                    w.span,
                    "expected `:PORT` after `]`",
                    "expected [ADDRESS]:PORT",
                ))
            }
        };
        return Ok((
            Word {
                text: addr.to_string(),
                span: w.span,
            },
            port,
        ));
    }
    // A bare IPv6 address has several colons and no port.
    if t.matches(':').count() > 1 {
        return Ok((w.clone(), None));
    }
    match t.rsplit_once(':') {
        Some((place, port)) => {
            let port = parse_port(&Word {
                text: port.to_string(),
                span: w.span,
            })?;
            Ok((
                Word {
                    text: place.to_string(),
                    span: w.span,
                },
                Some(port),
            ))
        }
        None => Ok((w.clone(), None)),
    }
}

/// Expectations: `allow client -> web:443`, `deny internet -> db:5432`,
/// `only app may reach db:5432`, `isolated data`, `isolated data inbound`,
/// `api -> db:5432 must be authenticated by mtls`. A protocol may follow the
/// verb (`allow udp client -> dns:53`).
#[derive(Debug, Clone, PartialEq)]
pub enum RawExpect {
    Allow {
        proto: Proto,
        from: Word,
        to: Word,
        port: Option<u16>,
    },
    Deny {
        proto: Proto,
        from: Word,
        to: Word,
        port: Option<u16>,
    },
    Only {
        proto: Proto,
        from: Vec<Word>,
        to: Word,
        port: Option<u16>,
    },
    Isolated {
        network: Word,
        direction: String,
    },
    Authenticated {
        proto: Proto,
        from: Word,
        to: Word,
        port: Option<u16>,
        by: String,
    },
}

fn opt_proto(c: &mut Cursor) -> Proto {
    if let Some(p) = c.peek().and_then(|w| Proto::parse(&w.text)) {
        c.bump();
        p
    } else {
        Proto::Tcp
    }
}

pub fn parse_expect_line(c: &mut Cursor) -> Parsed<RawExpect> {
    let first = c.expect("allow, deny, only, isolated or a journey")?;
    let verb = first.text.to_ascii_lowercase();
    let out = match verb.as_str() {
        "allow" | "deny" => {
            let proto = opt_proto(c);
            let from = c.expect("a source")?;
            let arrow = c.expect("`->`")?;
            if arrow.text != "->" {
                return Err(syntax(
                    arrow.span,
                    format!("expected `->`, found `{}`", arrow.text),
                    "`->` expected here",
                ));
            }
            let (to, port) = split_place_port(&c.expect("a destination")?)?;
            if verb == "allow" {
                RawExpect::Allow {
                    proto,
                    from,
                    to,
                    port,
                }
            } else {
                RawExpect::Deny {
                    proto,
                    from,
                    to,
                    port,
                }
            }
        }
        "only" => {
            let mut from = Vec::new();
            loop {
                from.push(c.expect("a source")?);
                if c.peek_is(",") {
                    c.bump();
                } else {
                    break;
                }
            }
            let may = c.expect("`may reach`")?;
            let reach = c.expect("`reach`")?;
            if may.text != "may" || reach.text != "reach" {
                return Err(syntax(
                    may.span,
                    "expected `may reach`",
                    "write: only A may reach B:PORT",
                ));
            }
            let proto = opt_proto(c);
            let (to, port) = split_place_port(&c.expect("a destination")?)?;
            RawExpect::Only {
                proto,
                from,
                to,
                port,
            }
        }
        "isolated" => {
            let network = c.expect("a network name")?;
            let direction = match c.bump() {
                None => "both".to_string(),
                Some(w) if matches!(w.text.as_str(), "inbound" | "outbound" | "both") => w.text,
                Some(w) => {
                    return Err(syntax(
                        w.span,
                        format!("unexpected `{}`", w.text),
                        "expected inbound, outbound or both",
                    ))
                }
            };
            RawExpect::Isolated { network, direction }
        }
        _ => {
            // `[PROTO] A -> B:PORT must be authenticated by mtls`
            let mut c2 = Cursor::new(
                std::iter::once(first.clone())
                    .chain(c.words[c.pos..].iter().cloned())
                    .collect(),
                first.span,
            );
            c.pos = c.words.len();
            let proto = opt_proto(&mut c2);
            let from = c2.expect("a source")?;
            let arrow = c2.expect("`->`")?;
            if arrow.text != "->" {
                let mut e = syntax(first.span, format!("unknown expectation `{}`", first.text), "expected allow, deny, only, isolated or `A -> B:PORT must be authenticated by mtls`");
                e.help = super::diagnostic::nearest(&verb, ["allow", "deny", "only", "isolated"])
                    .map(|s| format!("did you mean `{s}`?"));
                return Err(e);
            }
            let (to, port) = split_place_port(&c2.expect("a destination")?)?;
            for kw in ["must", "be", "authenticated", "by"] {
                let w = c2.expect(&format!("`{kw}`"))?;
                if w.text != kw {
                    return Err(syntax(
                        w.span,
                        format!("expected `{kw}`, found `{}`", w.text),
                        "write: A -> B:PORT must be authenticated by tls|mtls",
                    ));
                }
            }
            let by = c2.expect("tls or mtls")?;
            if !matches!(by.text.as_str(), "tls" | "mtls") {
                return Err(syntax(
                    by.span,
                    format!("unknown proof `{}`", by.text),
                    "expected tls or mtls",
                ));
            }
            if let Some(w) = c2.bump() {
                return Err(syntax(
                    w.span,
                    format!("unexpected `{}`", w.text),
                    "nothing more expected",
                ));
            }
            return Ok(RawExpect::Authenticated {
                proto,
                from,
                to,
                port,
                by: by.text,
            });
        }
    };
    if let Some(w) = c.bump() {
        return Err(syntax(
            w.span,
            format!("unexpected `{}`", w.text),
            "nothing more expected",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor(text: &str) -> Cursor {
        let node = Node {
            kind: NodeKind::Str(text.to_string()),
            span: Span::new(0, text.len() as u32),
        };
        Cursor::new(words(text, &node, text), node.span)
    }

    #[test]
    fn rules_read_in_any_clause_order_and_print_canonically() {
        let a = parse_rule_line(&mut cursor("allow tcp from dmz to api port 8080")).unwrap();
        let b = parse_rule_line(&mut cursor("accept tcp port 8080 to api from dmz")).unwrap();
        assert_eq!(a.canonical(), b.canonical());
        assert_eq!(a.canonical(), "allow tcp from dmz to api port 8080");
    }

    #[test]
    fn canonical_text_parses_back_to_the_same_rule() {
        for line in [
            "reject tcp to b port 22 with tcp-reset",
            "allow udp from a sport 53 to b in x out y state new,established",
            "drop from not a,b",
        ] {
            let r = parse_rule_line(&mut cursor(line)).unwrap();
            let again = parse_rule_line(&mut cursor(&r.canonical())).unwrap();
            assert_eq!(r, again, "{line}");
        }
    }

    #[test]
    fn words_split_only_at_ascii_separators() {
        let ws: Vec<String> = cursor("allow from é,ü->x")
            .words
            .iter()
            .map(|w| w.text.clone())
            .collect();
        assert_eq!(ws, ["allow", "from", "é", ",", "ü", "->", "x"]);
    }

    #[test]
    fn address_lists_and_negation() {
        let r =
            parse_rule_line(&mut cursor("drop from not dmz, app to any port 22,80-90")).unwrap();
        assert_eq!(r.canonical(), "drop from not dmz,app to any port 22,80-90");
    }

    #[test]
    fn misspelt_clause_gets_a_suggestion() {
        let e = parse_rule_line(&mut cursor("allow tcp form dmz")).unwrap_err();
        assert_eq!(e.help.as_deref(), Some("did you mean `from`?"));
        assert_eq!(e.span, Span::new(10, 4));
    }

    #[test]
    fn nat_forms() {
        let n = parse_nat_line(&mut cursor("dnat tcp port 443 in internet -> web:443")).unwrap();
        assert_eq!(n.target.unwrap().text, "web:443");
        assert!(parse_nat_line(&mut cursor("snat from dmz")).is_err());
        assert!(parse_nat_line(&mut cursor("masquerade out internet")).is_ok());
    }

    #[test]
    fn socket_forms() {
        let s = parse_socket_line(&mut cursor(
            "tcp/8443 https mtls api.internal issuer lab-ca client-ca lab-ca",
        ))
        .unwrap();
        assert!(s.tls && s.mtls);
        assert_eq!(s.app.as_deref(), Some("https"));
        assert_eq!(s.client_ca.as_deref(), Some("lab-ca"));
        let s = parse_socket_line(&mut cursor("tcp/5432 on 127.0.0.1 postgres")).unwrap();
        assert_eq!(s.bind.unwrap().text, "127.0.0.1");
    }

    #[test]
    fn expectation_forms() {
        assert!(matches!(
            parse_expect_line(&mut cursor("deny internet -> db:5432")).unwrap(),
            RawExpect::Deny {
                port: Some(5432),
                ..
            }
        ));
        assert!(matches!(
            parse_expect_line(&mut cursor("only app, dmz may reach db:5432")).unwrap(),
            RawExpect::Only { .. }
        ));
        assert!(matches!(
            parse_expect_line(&mut cursor("api -> db:5432 must be authenticated by mtls")).unwrap(),
            RawExpect::Authenticated { .. }
        ));
        assert!(matches!(
            parse_expect_line(&mut cursor("isolated data inbound")).unwrap(),
            RawExpect::Isolated { .. }
        ));
        assert!(parse_expect_line(&mut cursor("alow a -> b:1")).is_err());
    }
}
