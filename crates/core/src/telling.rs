//! A trace told at each of the four layers: the hop cards, the outcome and
//! the summary in the words of a school student (1), a university student
//! (2), an engineer (3) and a security architect (4).
//!
//! Layers 1 and 2 are written here from the hop's structured evidence (stage,
//! verdict, packet, rule, and each claim's fact and role), never from the
//! engine's sentences; from layer 3 on, the engine's own sentences are shown,
//! with notes on how to check them (3) and where they become authority (4).
//! Every claim is told according to its role: what a hop *proves* is worded
//! differently from what it *takes on trust*, so that a card never says both
//! about the same thing (the tests hold every built-in journey to that).
//!
//! This module decides nothing: it only retells a [`Trace`]. The scenario,
//! when given, lends host names to addresses.

use serde::Serialize;
use std::net::IpAddr;

use crate::evidence::{Claim, Direction, Fact, Hop, OutcomeKind, Stage, Trace, Verdict};
use crate::lessons::{fact_words, stage_words, LAYER_NAMES};
use crate::model::{Proto, Scenario};

/// A trace told at one layer.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Told {
    pub level: u8,
    pub layer: &'static str,
    pub hops: Vec<ToldHop>,
    pub outcome: ToldOutcome,
}

/// One hop, told at one layer.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ToldHop {
    pub step: u32,
    /// What this checkpoint is (`The gate's guard`, `Packet filter`).
    pub title: String,
    /// What happens here, in the layer's words (from layer 3: the engine's sentence).
    pub says: String,
    /// The verdict in the layer's words (`lets it through`, `allow`).
    pub verdict: String,
    /// The packet as seen here (an envelope at layer 1); none for a name
    /// lookup, whose question the model sends to no address.
    pub packet: Option<String>,
    /// Connection-tracking or NAT state (from layer 3).
    pub state: Option<String>,
    pub proves: Vec<ToldClaim>,
    pub trusts: Vec<ToldClaim>,
    pub hides: Vec<ToldClaim>,
    /// What this kind of step means at this layer, and (layers 3 and 4) the
    /// notes on each kind of claim the hop makes.
    pub notes: Vec<String>,
}

/// One claim, told at one layer: a short form for the map and a sentence for the card.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ToldClaim {
    pub fact: Fact,
    pub short: String,
    pub text: String,
}

/// The end of the journey, told at one layer.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ToldOutcome {
    pub headline: String,
    pub client_sees: String,
    /// What the service can believe (only for a journey that got through).
    pub believes: Vec<ToldClaim>,
    /// What it must take on trust.
    pub trusts: Vec<ToldClaim>,
}

/// Which list of a hop a claim is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Proves,
    Trusts,
    Hides,
}

/// The trace told at `level` (1..=4; other values are clamped). `scn`, when
/// given, names the hosts behind addresses.
pub fn tell(scn: Option<&Scenario>, trace: &Trace, level: u8) -> Told {
    let level = level.clamp(1, 4);
    let cx = Cx { scn, trace, level };
    let hops = trace
        .hops
        .iter()
        .enumerate()
        .map(|(i, h)| cx.hop(i, h))
        .collect();
    Told {
        level,
        layer: LAYER_NAMES[level as usize - 1],
        hops,
        outcome: cx.outcome(),
    }
}

/// The trace told at all four layers, layer 1 first.
pub fn tell_all(scn: Option<&Scenario>, trace: &Trace) -> Vec<Told> {
    (1..=4).map(|l| tell(scn, trace, l)).collect()
}

struct Cx<'a> {
    scn: Option<&'a Scenario>,
    trace: &'a Trace,
    level: u8,
}

/// The text between `a` and `b` (after the first `a`).
fn between<'t>(text: &'t str, a: &str, b: &str) -> Option<&'t str> {
    let start = text.find(a)? + a.len();
    let rest = &text[start..];
    let end = rest.find(b)?;
    Some(&rest[..end])
}

/// The text after the first `a`.
fn after<'t>(text: &'t str, a: &str) -> Option<&'t str> {
    text.find(a).map(|i| &text[i + a.len()..])
}

/// The first word of a text that is a name or an address (`web (10.0.1.1)` → `web`).
fn first_word(text: &str) -> &str {
    text.split_whitespace()
        .next()
        .unwrap_or("")
        .trim_matches(|c| c == ',' || c == ':' || c == '`')
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

impl Cx<'_> {
    fn l(&self) -> u8 {
        self.level
    }

    /// The host that owns an address, if the scenario is known and one does.
    fn owner(&self, addr: IpAddr) -> Option<&str> {
        let scn = self.scn?;
        let (h, _) = scn.owners_of(addr).first()?;
        Some(scn.host(*h).name.as_str())
    }

    /// `web (10.0.1.10)`, or the bare address when no host owns it.
    fn who(&self, addr: IpAddr) -> String {
        match self.owner(addr) {
            Some(n) => format!("{n} ({addr})"),
            None => addr.to_string(),
        }
    }

    fn is_icmp(h: &Hop) -> bool {
        h.packet.proto == Proto::Icmp
    }

    fn port(h: &Hop) -> String {
        h.packet.dport.map(|p| p.to_string()).unwrap_or_default()
    }

    /// The client of the journey (its source host or network).
    fn client(&self) -> &str {
        &self.trace.query.source
    }

    fn hop(&self, i: usize, h: &Hop) -> ToldHop {
        let l = self.l();
        let (says, verdict) = if l >= 3 {
            (h.detail.clone(), verdict_words(h.verdict, 3).to_string())
        } else {
            (
                self.says(i, h)
                    .unwrap_or_else(|| stage_words(h.stage, l).to_string()),
                verdict_words(h.verdict, l).to_string(),
            )
        };
        let mut notes = vec![stage_words(h.stage, l).to_string()];
        if l >= 3 {
            let mut facts: Vec<Fact> = h
                .proves
                .iter()
                .chain(&h.trusts)
                .chain(&h.hides)
                .map(|c| c.fact)
                .collect();
            facts.sort();
            facts.dedup();
            notes.extend(facts.into_iter().map(|f| fact_words(f, l).to_string()));
        }
        let claims = |list: &[Claim], role: Role| -> Vec<ToldClaim> {
            let mut out: Vec<ToldClaim> = Vec::new();
            for c in list {
                let t = self.claim(h, c, role);
                if !out.contains(&t) {
                    out.push(t);
                }
            }
            out
        };
        ToldHop {
            step: h.step,
            title: title(h.stage, l).to_string(),
            says,
            verdict,
            packet: self.packet(h),
            state: if l >= 3 { h.state.clone() } else { None },
            proves: claims(&h.proves, Role::Proves),
            trusts: claims(&h.trusts, Role::Trusts),
            hides: claims(&h.hides, Role::Hides),
            notes,
        }
    }

    fn packet(&self, h: &Hop) -> Option<String> {
        if h.stage == Stage::Resolve {
            return None;
        }
        let p = &h.packet;
        let door = |x: Option<u16>| x.map(|d| format!(", door {d}")).unwrap_or_default();
        Some(match self.l() {
            1 => {
                let what = if Self::is_icmp(h) {
                    "an \"are you there?\" card"
                } else if h.direction == Direction::Reply {
                    "the answer's envelope"
                } else {
                    "the envelope"
                };
                format!(
                    "{what}: from {}{} to {}{}",
                    self.who(p.src),
                    door(p.sport),
                    self.who(p.dst),
                    door(p.dport)
                )
            }
            _ => {
                let ep = |a: IpAddr, port: Option<u16>| {
                    let a = if a.is_ipv6() {
                        format!("[{a}]")
                    } else {
                        a.to_string()
                    };
                    match port {
                        Some(x) => format!("{a}:{x}"),
                        None => a,
                    }
                };
                format!(
                    "{} {} → {} ttl {}",
                    p.proto,
                    ep(p.src, p.sport),
                    ep(p.dst, p.dport),
                    p.ttl
                )
            }
        })
    }

    /// What happens at a hop, at layer 1 or 2; none when the hop is of a
    /// shape this module does not know (the stage's words are used then).
    fn says(&self, i: usize, h: &Hop) -> Option<String> {
        let l = self.l();
        let d = h.device.as_str();
        let p = &h.packet;
        let rule_index = h
            .rule
            .as_ref()
            .and_then(|r| r.index)
            .map(|n| n.to_string())
            .unwrap_or_default();
        Some(match (h.stage, h.verdict) {
            (Stage::Resolve, Verdict::Accept) => {
                let name = first_word(&h.detail);
                let view = h.rule.as_ref().and_then(|r| r.owner.clone())?;
                let addr: IpAddr = first_word(between(&h.detail, " resolves to ", " in view")?)
                    .parse()
                    .ok()?;
                if l == 1 {
                    format!(
                        "{d} looks {name} up in the `{view}` address book. The book says: house number {addr}{}. Nobody signed that page.",
                        self.owner(addr).map(|o| format!(" ({o})")).unwrap_or_default()
                    )
                } else {
                    format!(
                        "DNS: {d} asks the resolver of the `{view}` view for {name} and gets {addr}; plain DNS carries no signature. The question is not routed in this model (it has no resolver address)."
                    )
                }
            }
            (Stage::Resolve, _) => {
                let name = first_word(&h.detail);
                if l == 1 {
                    format!("{d} looks {name} up in the address book, but finds no house for it: the letter cannot even be addressed.")
                } else {
                    let why = if h.detail.contains("NXDOMAIN") {
                        "NXDOMAIN: the name does not exist in that view"
                    } else if h.detail.contains("no DNS view") {
                        "the host has no resolver (no DNS view) at all"
                    } else if h.detail.contains("loops") {
                        "the CNAME chain loops (SERVFAIL)"
                    } else {
                        "the name has no address record of the family asked for"
                    };
                    format!("DNS for {name} fails on {d}: {why}, so nothing is sent.")
                }
            }
            (Stage::Send, _) => {
                let earlier = if h.state.is_some() {
                    if l == 1 {
                        " It belongs to a conversation that started earlier."
                    } else {
                        " The packet belongs to a connection opened earlier: every device on the way already holds its conntrack entry."
                    }
                } else {
                    ""
                };
                match (l, h.direction, Self::is_icmp(h)) {
                    (1, _, true) => format!("{d} sends an \"are you there?\" card to {}.{earlier}", self.who(p.dst)),
                    (1, Direction::Request, false) => format!(
                        "{d} writes the envelope: its own return address {}, door {}, and the address {}, door {}. Then it posts it.{earlier}",
                        p.src, p.sport.unwrap_or(0), self.who(p.dst), p.dport.unwrap_or(0)
                    ),
                    (1, Direction::Reply, false) => format!(
                        "{d} writes the answer and addresses it back to {}, door {}.",
                        self.who(p.dst), p.dport.unwrap_or(0)
                    ),
                    (_, dir, _) => format!(
                        "{d} {} {} with TTL {}; the kernel picked the source address from the route{}.{earlier}",
                        if dir == Direction::Reply { "answers with" } else { "sends" },
                        self.packet(h).unwrap_or_default().rsplit_once(" ttl").map(|x| x.0.to_string()).unwrap_or_default(),
                        p.ttl,
                        if p.sport.is_some() && dir == Direction::Request { " and an ephemeral source port" } else { "" }
                    ),
                }
            }
            (Stage::Route, Verdict::Pass) => {
                let kind = h.rule.as_ref().map(|r| r.kind.as_str());
                match kind {
                    None => {
                        if l == 1 {
                            format!(
                                "The envelope has arrived: {} is {d}'s own house number.",
                                p.dst
                            )
                        } else {
                            format!("{} is one of {d}'s own addresses: local delivery to the input path.", p.dst)
                        }
                    }
                    Some("connected route") => {
                        let net = h.interface.as_deref().unwrap_or("its network");
                        if l == 1 {
                            format!("{d} reads its signposts: {} is on the `{net}` street, where {d} lives too, so it can hand the envelope over directly.", self.who(p.dst))
                        } else {
                            format!(
                                "Longest-prefix match on {d}: {} is on the connected network `{net}` (`{}`), so it is delivered there without a gateway.",
                                p.dst,
                                h.rule.as_ref().map(|r| r.text.as_str()).unwrap_or("")
                            )
                        }
                    }
                    Some(_) => {
                        let via = after(&h.detail, " via ")
                            .map(first_word)
                            .unwrap_or("the gateway");
                        if l == 1 {
                            format!(
                                "{d} reads its signposts: the way to {} is through {via}.",
                                self.who(p.dst)
                            )
                        } else {
                            format!(
                                "Longest-prefix match on {d}: the route `{}` sends {} to the next hop {via}.",
                                h.rule.as_ref().map(|r| r.text.as_str()).unwrap_or(""),
                                p.dst
                            )
                        }
                    }
                }
            }
            (Stage::Route, _) => {
                let ttl = h.detail.contains("TTL") || h.detail.contains("time to live");
                match (l, ttl) {
                    (1, true) => format!("The envelope has been passed on too many times: {d} throws it away."),
                    (1, false) => format!("{d} has no signpost that leads to {}: the envelope cannot go any further.", self.who(p.dst)),
                    (_, true) => format!("The TTL has run out on {d}: the packet is discarded (ICMP time exceeded)."),
                    (_, false) => format!("No route on {d} covers {}: the packet cannot be forwarded (network unreachable).", p.dst),
                }
            }
            (Stage::Link, _) => {
                let next = between(&h.detail, "hands the packet to ", " on ")
                    .map(str::to_string)
                    .or_else(|| self.trace.hops.get(i + 1).map(|n| n.device.clone()))?;
                let net = h.interface.as_deref().unwrap_or("the local");
                let addr = h
                    .detail
                    .rsplit_once('(')
                    .map(|(_, a)| a.trim_end_matches(')').to_string())
                    .unwrap_or_default();
                if l == 1 {
                    format!("{d} hands the envelope to {next}, a neighbour on the `{net}` street.")
                } else {
                    let how = if addr.contains(':') {
                        "neighbour discovery"
                    } else {
                        "ARP"
                    };
                    format!("{d} finds the link-layer address of the next hop {addr} on `{net}` with {how} and hands the frame to {next}.")
                }
            }
            (Stage::Dnat, _) => {
                let before = between(&h.detail, "rewrites the destination ", " to ")?;
                let after_ = between(&h.detail, &format!("{before} to "), " (")?;
                if l == 1 {
                    format!(
                        "The forwarding desk at {d} crosses out {} and writes {} instead. The letter now goes to a house inside, and the sender never learns which.",
                        self.named_endpoint(before),
                        self.named_endpoint(after_)
                    )
                } else {
                    format!("Destination NAT on {d} (prerouting, before the filter): {before} becomes {after_}; conntrack remembers the mapping so that replies are rewritten back.")
                }
            }
            (Stage::Snat, _) => {
                let before = between(&h.detail, "rewrites the source ", " to ")?;
                let after_ = first_word(between(&h.detail, &format!("{before} to "), " (")?);
                if l == 1 {
                    format!("The desk at {d} crosses out the return address {before} and writes its own, {after_}: the answer will come back to the desk, which passes it on.")
                } else {
                    let how = if h.detail.contains("masquerade") {
                        "masquerade"
                    } else {
                        "source NAT"
                    };
                    format!("Postrouting on {d} ({how}): source {before} becomes {after_}; everyone further on sees {after_}.")
                }
            }
            (Stage::Conntrack, _) => {
                if l == 1 {
                    format!("{d} looks in its notebook, sees this is the answer to a letter whose address it changed, and puts the original address back.")
                } else if h.detail.contains("destination-NATed") {
                    format!("Conntrack on {d} recognises the reply of a destination-NATed connection and restores the source the client addressed.")
                } else {
                    format!("Conntrack on {d} recognises the reply of a source-NATed connection and restores the client's own address as the destination.")
                }
            }
            (Stage::Filter, v) => {
                let kind = h.rule.as_ref().map(|r| r.kind.as_str()).unwrap_or("");
                let owner = h
                    .rule
                    .as_ref()
                    .and_then(|r| r.owner.clone())
                    .unwrap_or_default();
                let hook = first_word(&h.detail);
                let guard = match hook {
                    "input" => format!("{d}'s own door guard"),
                    "output" => format!("{d}'s guard for letters going out"),
                    _ => format!("the guard at the gate {d}"),
                };
                let guard_cap = capitalise(&guard);
                let state = between(&h.detail, "[", "]").unwrap_or("");
                if l == 1 {
                    match (v, kind) {
                        (Verdict::Allow, "implicit") => format!("{guard_cap} finds this conversation in its notebook: it let the first letter through, so this one passes without the list being read again."),
                        (Verdict::Allow, "default policy") => format!("{guard_cap} finds no rule that matches, and its habit is to let such letters pass."),
                        (Verdict::Allow, _) => format!("{guard_cap} compares the envelope with its list of rules. Rule {rule_index} matches and says: let it through."),
                        (Verdict::Drop, "default policy") => format!("{guard_cap} finds no rule that lets this envelope through, and its habit is to throw such letters away without a word. The sender just waits."),
                        (Verdict::Drop, _) => format!("Rule {rule_index} on the list of {guard} says: throw it away. Nobody tells the sender."),
                        (Verdict::Reject, _) => format!("Rule {rule_index} on the list of {guard} says no, and the guard sends a note straight back: not allowed."),
                        _ => return None,
                    }
                } else {
                    let hook_cap = capitalise(hook);
                    match (v, kind) {
                        (Verdict::Allow, "implicit") => format!("{hook_cap} filter `{owner}` on {d} is stateful: the packet matches an existing conntrack entry ({state}), so it is accepted before any rule is read."),
                        (_, "default policy") => format!("{hook_cap} filter `{owner}` on {d}: no rule matches, so the default policy decides: {} ({state}).", verdict_words(v, 2)),
                        (_, _) => format!(
                            "{hook_cap} filter `{owner}` on {d}, first match wins: rule {rule_index} `{}` matches and decides: {} ({state}).",
                            h.rule.as_ref().map(|r| r.text.as_str()).unwrap_or(""),
                            verdict_words(v, 2)
                        ),
                    }
                }
            }
            (Stage::Martian, _) => {
                if l == 1 {
                    format!("{d} throws the envelope away: its return address {} cannot belong to any house.", p.src)
                } else {
                    format!("Martian source on {d}: {} can never be a real sender, so Linux drops the packet before any forward rule.", p.src)
                }
            }
            (Stage::ReversePath, v) => {
                let net = h.interface.as_deref().unwrap_or("this interface");
                match (l, v) {
                    (1, Verdict::Pass) => format!("{d} checks that the return address fits the road the letter came in on (the `{net}` road): it does."),
                    (1, _) => format!("{d} checks that the return address fits the road the letter came in on: it does not, so the letter is thrown away."),
                    (_, Verdict::Pass) => format!("Reverse-path filter on {d}: the route back to {} leaves through `{net}`, where the packet arrived.", p.src),
                    (_, _) => format!("Reverse-path filter on {d}: the route back to {} does not use `{net}`, so the packet is dropped as spoofed.", p.src),
                }
            }
            (Stage::Socket, Verdict::Accept) => {
                if Self::is_icmp(h) {
                    return Some(if l == 1 {
                        format!("{d} hears the \"are you there?\" card and answers: yes.")
                    } else {
                        format!("{d} answers the ICMP echo request itself: no socket is needed.")
                    });
                }
                let app = between(&h.detail, "(", ")").unwrap_or("");
                if l == 1 {
                    format!(
                        "Someone inside {d} opens door {}{}.",
                        Self::port(h),
                        if app.is_empty() {
                            String::new()
                        } else {
                            format!(", the {app} door")
                        }
                    )
                } else {
                    format!(
                        "Socket lookup on {d}: a listener on {}/{} ({app}) accepts; the application sees the peer {}:{}.",
                        p.proto, Self::port(h), p.src, p.sport.unwrap_or(0)
                    )
                }
            }
            (Stage::Socket, _) => {
                if l == 1 {
                    format!("Nobody is behind door {} at {d}, so a \"nobody here\" note goes straight back.", Self::port(h))
                } else {
                    format!(
                        "Socket lookup on {d}: nothing listens on {}/{}, so the kernel answers {}.",
                        p.proto,
                        Self::port(h),
                        if p.proto == Proto::Udp {
                            "with ICMP port unreachable"
                        } else {
                            "with a TCP reset"
                        }
                    )
                }
            }
            (Stage::Tls, Verdict::Accept) => {
                let verified = h.proves.iter().find(|c| c.fact == Fact::ServerIdentity);
                let mtls = h.proves.iter().any(|c| c.fact == Fact::ClientIdentity);
                match verified {
                    Some(c) => {
                        let name = between(&c.text, "certificate for ", ", issued by")
                            .unwrap_or("the name asked for");
                        let issuer = between(&c.text, ", issued by ", ", which")
                            .unwrap_or("a trusted issuer");
                        let client = c.text.rsplit(' ').nth(1).unwrap_or(self.client());
                        if l == 1 {
                            format!(
                                "{client} checks the seal: {d} shows a seal for the name {name}, made by the seal-maker called {issuer}, which {client} trusts{}. From here on the letters travel sealed.",
                                if mtls { ", and {client} shows its own badge too" } else { "" }
                            ).replace("{client}", client)
                        } else {
                            format!(
                                "TLS handshake with {d} for {name}: the certificate chains to {issuer}, which {client} trusts, and its name matches{}; keys are agreed and the session is encrypted.",
                                if mtls { "; the server also checks the client's certificate (mutual TLS)" } else { "" }
                            )
                        }
                    }
                    None => {
                        if l == 1 {
                            format!("{} does not look at the seal at all, so whoever answers is accepted. The letters are sealed, but maybe to the wrong person.", self.client())
                        } else {
                            format!("TLS handshake with {d}: the client does not verify certificates, so any certificate is accepted; the channel is encrypted but the server is not authenticated.")
                        }
                    }
                }
            }
            (Stage::Tls, _) => {
                let why1;
                let why2;
                if let Some(issuer) = between(&h.detail, "issued by ", ", which") {
                    why1 = format!(
                        "the seal was made by {issuer}, a seal-maker the client does not trust"
                    );
                    why2 = format!("the certificate chains to {issuer}, which is not among the client's trusted CAs");
                } else if h.detail.contains("client certificate") {
                    why1 = "the server asks for the client's badge, and the client has none"
                        .to_string();
                    why2 = "the server requires a client certificate (mutual TLS) that the client cannot present".to_string();
                } else if h.detail.contains("name") || h.detail.contains(" for ") {
                    why1 = "the seal is for another name".to_string();
                    why2 = "the certificate's names do not cover the name the client asked for"
                        .to_string();
                } else {
                    why1 = "the seal does not check out".to_string();
                    why2 = "the certificate does not verify".to_string();
                }
                if l == 1 {
                    format!("The seal at {d} does not check out: {why1}. The client stops before sending anything.")
                } else {
                    format!("TLS handshake with {d} fails: {why2}; the client aborts before any application data is sent.")
                }
            }
            (Stage::Proxy, Verdict::Accept) => {
                let to = between(&h.detail, "forwards the request to ", " from")
                    .unwrap_or("the next server");
                let reverse = h.detail.contains("reverse proxy");
                match (l, reverse) {
                    (1, true) => format!("{d} is a go-between: it takes the letter and writes a new one in its own name to {to}, with a note saying who gave it the letter."),
                    (1, false) => format!("The go-between {d} agrees to carry the letter on, writing a new one in its own name."),
                    (_, true) => format!("Reverse proxy on {d}: the client's connection ends here and {d} opens a new one to {to}; the upstream sees {d}'s address, and the client only in X-Forwarded-For."),
                    (_, false) => format!("Forward proxy on {d}: the destination is on its allow list, so it opens its own connection there; the server sees {d}'s address."),
                }
            }
            (Stage::Proxy, _) => {
                if l == 1 {
                    format!("The go-between {d} refuses to carry this letter.")
                } else if h.detail.contains("loop") || h.detail.contains("508") {
                    format!("The proxy {d} finds itself already on the way (Via) and answers 508 Loop Detected.")
                } else {
                    format!("The proxy {d} refuses the request: the destination is not on its allow list (403).")
                }
            }
            (Stage::Receive, Verdict::Accept) => {
                if l == 1 {
                    format!("{d} gets the answer back: the conversation has started.")
                } else {
                    format!("{d} receives the reply with the addresses and ports exactly reversed: the connection is established.")
                }
            }
            (Stage::Receive, _) => {
                let reset = h.detail.contains("reset");
                let prohibited =
                    h.detail.contains("prohibited") || h.detail.contains("administratively");
                match (l, reset, prohibited) {
                    (1, true, _) => format!("{d} gets a \"nobody here\" note back at once."),
                    (1, _, true) => format!("{d} gets a \"not allowed\" note back at once."),
                    (1, _, _) => format!(
                        "{d} gets a note back at once saying the letter could not be delivered."
                    ),
                    (_, true, _) => format!("{d} receives a TCP reset: the connection is refused."),
                    (_, _, _) => format!(
                        "{d} receives an ICMP error quoting its packet: the connection is refused."
                    ),
                }
            }
        })
    }

    /// `10.0.1.10:443` as `web (10.0.1.10), door 443`.
    fn named_endpoint(&self, ep: &str) -> String {
        let (addr, port) = match ep.rsplit_once(':') {
            Some((a, p)) if !a.contains(':') || a.ends_with(']') => {
                (a.trim_matches(|c| c == '[' || c == ']'), Some(p))
            }
            _ => (ep, None),
        };
        let who = addr
            .parse::<IpAddr>()
            .map(|a| self.who(a))
            .unwrap_or_else(|_| addr.to_string());
        match port {
            Some(p) => format!("{who}, door {p}"),
            None => who,
        }
    }

    fn claim(&self, h: &Hop, c: &Claim, role: Role) -> ToldClaim {
        let l = self.l();
        let (short, text) = match l {
            1 | 2 => self.claim_words(h, c, role),
            _ => {
                let (short, _) = self.claim_words_at(h, c, role, 2);
                (short, c.text.clone())
            }
        };
        ToldClaim {
            fact: c.fact,
            short,
            text,
        }
    }

    fn claim_words(&self, h: &Hop, c: &Claim, role: Role) -> (String, String) {
        self.claim_words_at(h, c, role, self.l())
    }

    /// A claim of a hop told at layer 1 or 2: (short, sentence).
    fn claim_words_at(&self, h: &Hop, c: &Claim, role: Role, l: u8) -> (String, String) {
        let p = &h.packet;
        let one = l == 1;
        let s = |a: &str, b: &str| (a.to_string(), b.to_string());
        let t = c.text.as_str();
        match (role, c.fact) {
            (Role::Proves, Fact::Service) if h.stage == Stage::Socket => {
                let port = between(t, "listens on ", " bound").unwrap_or("");
                if one {
                    (
                        format!("someone at door {}", port.rsplit('/').next().unwrap_or("")),
                        format!(
                            "Someone really is behind door {}: a program is waiting there.",
                            port.rsplit('/').next().unwrap_or("")
                        ),
                    )
                } else {
                    (
                        format!("listener {port}"),
                        format!("A process listens on {port}: the socket lookup found it."),
                    )
                }
            }
            (Role::Proves, Fact::Service) => {
                let with_port = t.contains(" to port ");
                match (one, with_port) {
                    (true, true) => (
                        format!("door {}", Self::port(h)),
                        format!(
                            "It is knocking on door {}, a door the rule allows.",
                            Self::port(h)
                        ),
                    ),
                    (true, false) => (
                        "the right kind".to_string(),
                        "It is the kind of letter the rule allows (the rule names no door)."
                            .to_string(),
                    ),
                    (false, true) => (
                        format!("{}/{}", p.proto, Self::port(h)),
                        format!(
                            "The protocol and destination port match the rule: {}/{}.",
                            p.proto,
                            Self::port(h)
                        ),
                    ),
                    (false, false) => (
                        p.proto.to_string(),
                        format!(
                            "The protocol matches the rule: {} (the rule names no port).",
                            p.proto
                        ),
                    ),
                }
            }
            (Role::Proves, Fact::Destination) => {
                let host = first_word(after(t, "addressed to ").unwrap_or(""));
                if one {
                    (
                        format!("to {host}"),
                        format!("It is addressed to {host}, a house the rule names."),
                    )
                } else {
                    (
                        format!("dst {}", p.dst),
                        format!(
                            "The destination {} ({host}) is inside the rule's destination.",
                            p.dst
                        ),
                    )
                }
            }
            (Role::Proves, Fact::SourceAddress) => {
                let rp = t.contains("reverse-path") || h.stage == Stage::ReversePath;
                match (one, rp) {
                    (true, true) => s("came in the right way", "The letter came in through the road that leads back to its return address, so it is not from the wrong side of town."),
                    (true, false) => s("answers reach the sender", "Answers go to the return address, so a sender who faked it could start the conversation but never hear back."),
                    (false, true) => (format!("src {} (rp)", p.src), format!("The source {} is tied to the interface it arrived on: strict reverse-path filtering drops a forged address from another network.", p.src)),
                    (false, false) => (format!("src {} (handshake)", p.src), format!("The source {} matches the rule, and a spoofed source could not complete the TCP handshake.", p.src)),
                }
            }
            (Role::Proves, Fact::Connection) => {
                if one {
                    s("a known conversation", "It belongs to a conversation the guard already allowed: the guard's notebook has it.")
                } else if t.contains("related") {
                    s("related", "The packet is related to a tracked connection (an ICMP error quoting it, or a helper flow).")
                } else {
                    s("established", "A conntrack entry matches: the packet is part of a connection this filter already allowed.")
                }
            }
            (Role::Proves, Fact::ServerIdentity) => {
                let name = between(t, "certificate for ", ", issued by").unwrap_or("the name");
                let issuer = between(t, ", issued by ", ", which").unwrap_or("a trusted issuer");
                if one {
                    (
                        format!("seal for {name}"),
                        format!("The server holds the real seal for the name {name}, made by the seal-maker called {issuer}, which the client trusts. Whether {name} is the shop you meant is the address book's word, not the seal's."),
                    )
                } else {
                    (
                        format!("certificate for {name}"),
                        format!("The server holds the private key of a certificate for {name} that chains to {issuer}, a CA the client trusts; the name matches what the client asked for, nothing more."),
                    )
                }
            }
            (Role::Proves, Fact::Confidentiality) => {
                if one {
                    s("sealed", "From here the letters are sealed: nobody on the road can read or change them.")
                } else {
                    s("encrypted, integrity", "The bytes are encrypted and integrity-protected end to end to the authenticated server.")
                }
            }
            (Role::Proves, Fact::ClientIdentity) => {
                let id = between(t, "key of ", ", certified").unwrap_or("its identity");
                if one {
                    ("badge checked".to_string(), format!("The client showed a badge ({id}) from a badge office the server trusts."))
                } else {
                    (
                        "client certificate".to_string(),
                        format!("Mutual TLS: the client proved it holds the key of {id}."),
                    )
                }
            }
            (Role::Trusts, Fact::SourceAddress) => {
                if h.stage == Stage::Send {
                    if one {
                        s("the return address", "The return address: the sender wrote it on the envelope itself, and nobody has checked it yet.")
                    } else {
                        (format!("src {} unchecked", p.src), format!("The source address {} is set by the sender; nothing has verified it yet.", p.src))
                    }
                } else if t.contains("real sender among") {
                    if one {
                        s("which house on the street", "Which house on that street really sent it: the check tells streets apart, not the houses on one street.")
                    } else {
                        s("host on the segment", "Which host on the arrival segment sent it: reverse-path filtering distinguishes interfaces, not hosts on one segment.")
                    }
                } else if t.contains("loose") {
                    if one {
                        s("the return address", "The return address: this check only asks that some road leads back to it.")
                    } else {
                        s("src (loose rp)", "The source address: loose reverse-path filtering only requires that some route back exists.")
                    }
                } else if one {
                    s("the return address is true", "That the return address is true: this guard does not check it, so a letter with a fake one would pass too.")
                } else {
                    (format!("src {} (unverified)", p.src), format!("That {} really sent this: the rule allows by source, but nothing here checks source addresses.", p.src))
                }
            }
            (Role::Trusts, Fact::NameMapping) => {
                if one {
                    s("the address book", "That the address book is right: nobody signed the page, so whoever answers the lookup decides which house the letter goes to.")
                } else {
                    s("unsigned DNS answer", "The DNS answer: it is plain, unsigned DNS, so a forged or poisoned answer would be believed just the same.")
                }
            }
            (Role::Trusts, Fact::NextHop) => {
                let next = between(t, "answering for ", " on").unwrap_or("the next hop");
                if one {
                    ("the neighbour is real".to_string(), format!("That the neighbour who takes the envelope for {next} really is that house: on a street, anyone can shout \"that's me\"."))
                } else {
                    (format!("ARP for {next}"), format!("That the ARP or neighbour-discovery answer for {next} is genuine: neither is authenticated, so anyone on the segment can claim it."))
                }
            }
            (Role::Trusts, Fact::Service) => {
                if one {
                    s(
                        "which door",
                        "Which door is asked for: this rule lets any door through.",
                    )
                } else {
                    s(
                        "any port",
                        "Which service is asked for: the rule matches any protocol and port.",
                    )
                }
            }
            (Role::Trusts, Fact::ClientIdentity) => {
                if t.contains("certifies") {
                    if one {
                        s(
                            "the badge office",
                            "That the badge office hands out that badge only to the right sender.",
                        )
                    } else {
                        s("the client CA", "That the client CA certifies that identity only for the workload it names.")
                    }
                } else if one {
                    s("who sends it", "Who is really sending: this guard lets letters from anyone through and asks for no badge.")
                } else {
                    s("any source", "Who the client is: the rule allows any source and nothing authenticates the sender.")
                }
            }
            (Role::Trusts, Fact::Content) => {
                if t.starts_with("everything") {
                    if one {
                        s("everything", "Everything: no rule matched, and the habit here is to let letters pass.")
                    } else {
                        s(
                            "everything (default allow)",
                            "Everything: no rule matched and the default policy is allow.",
                        )
                    }
                } else if one {
                    s(
                        "what the letter says",
                        "What the letter says inside: the guard only reads the envelope.",
                    )
                } else {
                    s("payload", "The payload: a packet filter reads headers, never what the request asks for.")
                }
            }
            (Role::Trusts, Fact::Connection) => {
                if one {
                    s("the old note", "That the old note in the notebook still fits today's rules: the guard let this conversation in earlier and does not read the list again.")
                } else {
                    s("conntrack entry", "That the conntrack entry, made under the rules of that time, still agrees with today's policy.")
                }
            }
            (Role::Trusts, Fact::ServerIdentity) => {
                if t.contains("does not verify") {
                    if one {
                        s("who answers", "Who is answering: the client does not check the seal, so anyone in the middle would do.")
                    } else {
                        s("unverified server", "The server's identity: certificate verification is off, so any certificate is accepted.")
                    }
                } else {
                    let issuer = first_word(after(t, "that ").unwrap_or(""));
                    if one {
                        (format!("the seal-maker {issuer}"), format!("That the seal-maker {issuer} gives that seal only to the name's real owner, and that nobody stole it."))
                    } else {
                        (format!("the CA {issuer}"), format!("That the CA {issuer} issues certificates for that name only to its owner, and that the private key has not leaked."))
                    }
                }
            }
            (Role::Trusts, Fact::Confidentiality) => {
                if one {
                    s("nobody in the middle", "That nobody sits in the middle: a sealed letter to the wrong person is read by that person.")
                } else {
                    s("no interceptor", "That there is no interceptor: encryption without verification only stops passive listeners.")
                }
            }
            (Role::Trusts, Fact::ClientAddress) => {
                let mode = if t.contains("opaque tunnel") {
                    (
                        "the sender's own note",
                        "Any note about who sent it: the go-between passes the sealed letter on unread, so the note says whatever the sender wrote.",
                        "X-Forwarded-For (tunnelled)",
                        "The proxy tunnels the TLS session (CONNECT): any X-Forwarded-For is the client's own text.",
                    )
                } else if t.contains("appends") {
                    (
                        "the go-between's note",
                        "The note saying who sent it: the go-between adds the sender's address at the end, but anything written before that is only the sender's say-so.",
                        "X-Forwarded-For (appended)",
                        "X-Forwarded-For: the proxy appends the address it saw; earlier entries are whatever the client wrote.",
                    )
                } else if t.contains("unchanged") {
                    (
                        "the sender's own note",
                        "The note saying who sent it: the go-between passes it on unchanged, so it says whatever the sender wrote.",
                        "X-Forwarded-For (passed)",
                        "X-Forwarded-For passes through unchanged: it is the client's own claim.",
                    )
                } else if t.contains("removes") {
                    (
                        "no note at all",
                        "Who sent it: the go-between throws the note away, so the house never learns.",
                        "X-Forwarded-For (stripped)",
                        "The proxy strips X-Forwarded-For: the upstream does not learn the client's address.",
                    )
                } else {
                    (
                        "the go-between's note",
                        "The note saying who sent it: the go-between writes it, and it is worth exactly as much as the house's certainty that the letter came through that go-between.",
                        "X-Forwarded-For (set)",
                        "X-Forwarded-For is set by the proxy: it is evidence only if the upstream can be sure the request came through that proxy.",
                    )
                };
                if one {
                    s(mode.0, mode.1)
                } else {
                    s(mode.2, mode.3)
                }
            }
            (Role::Hides, Fact::Destination) => {
                let target = first_word(after(t, "goes to ").unwrap_or(""));
                if one {
                    ("the real house".to_string(), format!("The sender never learns that {target} answers: everyone before the desk only knows the outside address."))
                } else {
                    ("original destination".to_string(), format!("DNAT: the client addressed one address, everything after this hop sees {target}'s."))
                }
            }
            (Role::Hides, Fact::SourceAddress) => {
                if h.stage == Stage::Proxy {
                    if one {
                        s("the sender's address", "The house after the go-between sees the go-between as the sender, not the real one.")
                    } else {
                        s("client address", "The upstream sees the proxy's address as the source, not the client's.")
                    }
                } else if one {
                    s("the sender's address", "Everyone after this desk sees the desk's return address instead of the sender's own.")
                } else {
                    s("original source", "Source NAT: everyone downstream sees the translated address; their logs and rules can no longer tell clients apart.")
                }
            }
            (role, fact) => {
                // A claim of a shape not seen before: say what kind of fact it is,
                // in the role's voice, never the other role's words.
                let lead = match role {
                    Role::Proves => "Checked here",
                    Role::Trusts => "Believed without a check",
                    Role::Hides => "Hidden from everyone after this",
                };
                (
                    fact_key(fact).replace('_', " "),
                    format!("{lead}: {}", fact_words(fact, l)),
                )
            }
        }
    }

    fn outcome(&self) -> ToldOutcome {
        let l = self.l();
        let t = self.trace;
        let o = &t.outcome;
        let at = o.at.clone().unwrap_or_else(|| "the sender".into());
        let port = t.query.port.map(|p| p.to_string()).unwrap_or_default();
        let step = o.step.map(|s| format!(" (step {s})")).unwrap_or_default();
        let headline = match l {
            1 => match o.kind {
                OutcomeKind::Reached => format!("The letter got through: someone at {at} opened door {port}."),
                OutcomeKind::Dropped => format!("The letter was thrown away at {at}{step}. Nobody answers: the sender waits and gives up."),
                OutcomeKind::Rejected => format!("The letter was turned away at {at}{step}, with a note saying so."),
                OutcomeKind::Refused => format!("The letter reached {at}, but nobody is behind door {port}."),
                OutcomeKind::NoRoute => format!("No road leads on from {at}: the letter cannot be delivered."),
                OutcomeKind::Unresolved => "The address book has no house for that name: the letter is never sent.".to_string(),
                OutcomeKind::TlsFailed => format!("The seal did not check out at {at}: the sender stops before saying anything."),
                OutcomeKind::ProxyDenied => format!("The go-between {at} refused to carry the letter."),
                OutcomeKind::ProxyLoop => "The go-betweens passed the letter round in a circle until one gave up.".to_string(),
                OutcomeKind::TtlExceeded => format!("The letter went round and round until it was too old, and {at} threw it away."),
                OutcomeKind::ReplyLost => format!("The letter arrived at {at}, but the answer never makes it back."),
            },
            2 => match o.kind {
                OutcomeKind::Reached => format!("Reached {at} on {}/{port}: the connection is established.", t.query.proto),
                OutcomeKind::Dropped => format!("Dropped at {at}{step}: no answer is sent, so the client times out."),
                OutcomeKind::Rejected => format!("Rejected at {at}{step}: an ICMP error or a TCP reset is sent back."),
                OutcomeKind::Refused => format!("Refused at {at}{step}: no socket listens on {}/{port}.", t.query.proto),
                OutcomeKind::NoRoute => format!("No route at {at}{step}: the destination is unreachable."),
                OutcomeKind::Unresolved => "Resolution failed: no address, so no packet is sent.".to_string(),
                OutcomeKind::TlsFailed => format!("The TLS handshake with {at} failed{step}: no application data is sent."),
                OutcomeKind::ProxyDenied => format!("The proxy {at} refused the request{step}."),
                OutcomeKind::ProxyLoop => format!("A reverse-proxy loop: {at} answers 508 Loop Detected."),
                OutcomeKind::TtlExceeded => format!("The TTL ran out at {at}{step}: a routing loop."),
                OutcomeKind::ReplyLost => format!("The request reached {at}, but the reply is lost on the way back{step}."),
            },
            3 => o.text.clone(),
            _ => {
                let who = &t.query.from;
                match o.kind {
                    OutcomeKind::Reached => format!("{}. Authority granted: whoever controls {who} holds this path to {at}; it should be intended, owned and pinned by an `expect:` line.", o.text),
                    _ => format!("{}. The control that holds is at {at}{step}: if it is the only one, it is a single point of failure for this boundary.", o.text),
                }
            }
        };
        let client_sees = if l == 1 {
            match o.kind {
                OutcomeKind::Reached => "It works: the conversation has started.",
                OutcomeKind::Dropped => "Silence: the sender waits, then gives up.",
                OutcomeKind::Rejected => "A \"not allowed\" note comes back at once.",
                OutcomeKind::Refused => "A \"nobody here\" note comes back at once.",
                OutcomeKind::NoRoute => "The sender is told at once that there is no road.",
                OutcomeKind::Unresolved => "The sender cannot find the address at all.",
                OutcomeKind::TlsFailed => "The sender stops: the seal is wrong.",
                OutcomeKind::ProxyDenied => "The go-between says no.",
                OutcomeKind::ProxyLoop => "The go-betweens give up and say so.",
                OutcomeKind::TtlExceeded => "The sender hears that the letter got lost on the way.",
                OutcomeKind::ReplyLost => "The sender waits for an answer that never comes.",
            }
            .to_string()
        } else {
            o.client_sees.clone()
        };
        let (believes, trusts) = if l >= 3 {
            let tell = |c: &Claim| ToldClaim {
                fact: c.fact,
                short: fact_key(c.fact).replace('_', " "),
                text: c.text.clone(),
            };
            (
                t.summary.believes.iter().map(tell).collect(),
                t.summary.trusts.iter().map(tell).collect(),
            )
        } else {
            (self.summary(true), self.summary(false))
        };
        ToldOutcome {
            headline,
            client_sees,
            believes,
            trusts,
        }
    }

    /// The summary at layer 1 or 2: one line per kind of fact.
    fn summary(&self, believes: bool) -> Vec<ToldClaim> {
        let one = self.l() == 1;
        let s = &self.trace.summary;
        let list = if believes { &s.believes } else { &s.trusts };
        let mut facts: Vec<Fact> = Vec::new();
        for c in list {
            if !facts.contains(&c.fact) {
                facts.push(c.fact);
            }
        }
        let mut out = Vec::new();
        for f in facts {
            let claims: Vec<&Claim> = list.iter().filter(|c| c.fact == f).collect();
            let first = claims[0].text.as_str();
            let (short, text): (String, String) = match (believes, f) {
                (true, Fact::Service) => {
                    let port = after(first, "contacted on ").unwrap_or("");
                    let rules: Vec<(String, String)> = claims
                        .iter()
                        .filter_map(|c| {
                            let (owner, rest) = c.text.split_once(" rule ")?;
                            let n = first_word(rest);
                            let on = c.text.rsplit(" on ").next()?;
                            Some((format!("{owner} rule {n}"), on.to_string()))
                        })
                        .collect();
                    let door = port.rsplit('/').next().unwrap_or("");
                    if one {
                        let gates = if rules.is_empty() {
                            String::new()
                        } else {
                            let at: Vec<&str> = rules.iter().map(|(_, d)| d.as_str()).collect();
                            format!(
                                ", and the gate at {} let it in because a rule on its list says so",
                                at.join(" and ")
                            )
                        };
                        (
                            format!("door {door}"),
                            format!("Someone knocked on door {door}{gates}."),
                        )
                    } else {
                        let by = if rules.is_empty() {
                            "no filter rule on the way".to_string()
                        } else {
                            rules
                                .iter()
                                .map(|(r, d)| format!("{r} on {d}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        };
                        (
                            port.to_string(),
                            format!("It was contacted on {port}, let through by {by}."),
                        )
                    }
                }
                (true, Fact::SourceAddress) => {
                    let rp = first.contains("reverse-path");
                    match (one, rp) {
                        (true, true) => ("the return address".into(), "The return address is good enough to answer: the letter came in the right way for it.".into()),
                        (true, false) => ("the return address".into(), "The return address is good enough to answer: a sender with a fake one could not have finished the conversation.".into()),
                        (false, true) => ("source address".into(), "The source address is backed by strict reverse-path filtering on the way.".into()),
                        (false, false) => ("source address".into(), "The source address is backed by the completed TCP handshake: replies reached it.".into()),
                    }
                }
                (true, Fact::Confidentiality) => {
                    if one {
                        ("sealed".into(), "Nobody on the road read or changed the letter: it was sealed, and the seal was checked.".into())
                    } else {
                        ("TLS, verified".into(), "The request was encrypted and integrity-protected to an authenticated server.".into())
                    }
                }
                (true, Fact::ClientIdentity) => {
                    if one {
                        (
                            "badge".into(),
                            "The sender showed a badge the server checked.".into(),
                        )
                    } else {
                        (
                            "client certificate".into(),
                            "The client is authenticated by its certificate (mutual TLS).".into(),
                        )
                    }
                }
                (false, Fact::ClientIdentity) => {
                    if one {
                        (
                            "who the sender is".into(),
                            "Who the sender really is: nobody on the way asked for a badge.".into(),
                        )
                    } else {
                        (
                            "client identity".into(),
                            "Who the client is: no hop authenticated it.".into(),
                        )
                    }
                }
                (false, Fact::Content) => {
                    if one {
                        (
                            "what it says".into(),
                            "That the letter means what it says: nobody on the way read it.".into(),
                        )
                    } else {
                        ("payload".into(), "That the request means what it says: nothing on the path reads the payload.".into())
                    }
                }
                (false, Fact::SourceAddress) => {
                    let changed = first.contains("translated or proxied");
                    match (one, changed) {
                        (true, true) => ("who is behind the address".into(), "Who is really behind the return address: it was changed on the way, so the house only sees the desk's or go-between's address.".into()),
                        (true, false) => ("the return address".into(), "That the return address is true: nothing on the way checked it.".into()),
                        (false, true) => ("translated source".into(), "Who is behind the source it sees: NAT or a proxy replaced the client's address.".into()),
                        (false, false) => ("unverified source".into(), "That the source address is real: nothing on the path verified it.".into()),
                    }
                }
                (false, Fact::ClientAddress) => {
                    if one {
                        ("the note".into(), format!("The {} about who sent it: a claim the go-between passed on, not proof.", if claims.len() > 1 { "notes" } else { "note" }))
                    } else {
                        (
                            "X-Forwarded-For".into(),
                            format!(
                                "X-Forwarded-For ({}): a header, so a claim, not evidence.",
                                plural(claims.len(), "entry")
                            ),
                        )
                    }
                }
                (false, Fact::Confidentiality) => {
                    let unverified = first.contains("does not verify");
                    match (one, unverified) {
                        (true, true) => ("nobody in the middle".into(), "That nobody sat in the middle: the seal was never checked.".into()),
                        (true, false) => ("nobody read it".into(), "That nobody on the road read or changed the letter: it travelled unsealed.".into()),
                        (false, true) => ("no interceptor".into(), "That there was no interceptor: TLS without verification.".into()),
                        (false, false) => ("plain text".into(), "That nobody read or changed the request: it travelled without TLS.".into()),
                    }
                }
                (_, f) => {
                    let lead = if believes {
                        "Checked on the way"
                    } else {
                        "Taken on trust"
                    };
                    (
                        fact_key(f).replace('_', " "),
                        format!("{lead}: {}", fact_words(f, self.l())),
                    )
                }
            };
            out.push(ToldClaim {
                fact: f,
                short,
                text,
            });
        }
        out
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

fn fact_key(f: Fact) -> String {
    match serde_json::to_value(f) {
        Ok(serde_json::Value::String(s)) => s,
        _ => format!("{f:?}"),
    }
}

/// A stage's name at a layer.
pub fn title(stage: Stage, level: u8) -> &'static str {
    if level == 1 {
        match stage {
            Stage::Resolve => "The address book",
            Stage::Send => "Posting the letter",
            Stage::Conntrack => "The notebook",
            Stage::Dnat => "The forwarding desk",
            Stage::Martian => "An impossible return address",
            Stage::ReversePath => "The road-back check",
            Stage::Route => "The signposts",
            Stage::Filter => "The guard",
            Stage::Snat => "The return-address desk",
            Stage::Link => "Handing it on",
            Stage::Socket => "The door",
            Stage::Tls => "The seal",
            Stage::Proxy => "The go-between",
            Stage::Receive => "The answer arrives",
        }
    } else {
        match stage {
            Stage::Resolve => "DNS resolution",
            Stage::Send => "Send",
            Stage::Conntrack => "Connection tracking",
            Stage::Dnat => "Destination NAT",
            Stage::Martian => "Martian source check",
            Stage::ReversePath => "Reverse-path filter",
            Stage::Route => "Routing",
            Stage::Filter => "Packet filter",
            Stage::Snat => "Source NAT",
            Stage::Link => "Link (ARP / neighbour discovery)",
            Stage::Socket => "Socket",
            Stage::Tls => "TLS handshake",
            Stage::Proxy => "Proxy",
            Stage::Receive => "The client receives",
        }
    }
}

/// A verdict in the words of a layer.
pub fn verdict_words(v: Verdict, level: u8) -> &'static str {
    if level == 1 {
        match v {
            Verdict::Pass => "passes on",
            Verdict::Rewrite => "rewrites the address",
            Verdict::Allow => "lets it through",
            Verdict::Drop => "throws it away",
            Verdict::Reject => "sends it back",
            Verdict::Accept => "accepts",
            Verdict::Refuse => "turns it away",
        }
    } else {
        match v {
            Verdict::Pass => "pass",
            Verdict::Rewrite => "rewrite",
            Verdict::Allow => "allow",
            Verdict::Drop => "drop",
            Verdict::Reject => "reject",
            Verdict::Accept => "accept",
            Verdict::Refuse => "refuse",
        }
    }
}
