//! What each checkpoint proves, what it takes on trust, and what it hides.
//! The wording lives here, in one place, so that every stage says it the same
//! way; the web page and the lessons key their own wording on `Fact`.

use std::net::IpAddr;

use crate::evidence::{Claim, Fact, Hop, Outcome, OutcomeKind, Stage, Summary, Verdict};
use crate::model::{
    ConnState, Filter, ForwardedFor, MatchInput, Proxy, Rule, RuleSource, Socket, SourceKind,
    TlsClient, TlsServer,
};

use super::authenticate::Handshake;
use super::filter::Decider;

pub(super) fn send(hop: &mut Hop, src: IpAddr) {
    hop.trusts.push(Claim::new(
        Fact::SourceAddress,
        format!(
            "the source address {src} is written by the sender itself; nothing has checked it yet"
        ),
    ));
}

pub(super) fn resolve(hop: &mut Hop, name: &str, addr: IpAddr, view: &str) {
    hop.trusts.push(Claim::new(
        Fact::NameMapping,
        format!("that {name} is {addr}: the answer comes from the `{view}` view over plain DNS, which carries no signature, so whoever answers decides where the client goes"),
    ));
}

pub(super) fn link(hop: &mut Hop, next: IpAddr, network: &str) {
    hop.trusts.push(Claim::new(
        Fact::NextHop,
        format!("that the machine answering for {next} on `{network}` is the right one: ARP and neighbour discovery are not authenticated"),
    ));
}

pub(super) fn dnat(hop: &mut Hop, before: &str, target: &str) {
    hop.hides.push(Claim::new(
        Fact::Destination,
        format!("the client addressed {before}; from here on the packet goes to {target}, and the client never learns which host answers"),
    ));
}

pub(super) fn snat(hop: &mut Hop, before: IpAddr, after: IpAddr, device: &str) {
    hop.hides.push(Claim::new(
        Fact::SourceAddress,
        format!("everyone after {device} sees {after} instead of {before}: the original source is lost to their logs and filters"),
    ));
}

pub(super) fn reverse_path(hop: &mut Hop, src: IpAddr, iface: &str, strict: bool) {
    if strict {
        hop.proves.push(Claim::new(
            Fact::SourceAddress,
            format!("{src} arrived on `{iface}`, the interface the route back to it uses: a packet forging an address from another network would have been dropped here"),
        ));
        hop.trusts.push(Claim::new(
            Fact::SourceAddress,
            format!("that {src} is the real sender among the machines on `{iface}`: the check tells networks apart, not hosts on the same network"),
        ));
    } else {
        hop.trusts.push(Claim::new(
            Fact::SourceAddress,
            format!("the source {src}: a loose reverse-path check only asks that some route back exists"),
        ));
    }
}

/// The send hop of a packet that belongs to a connection opened earlier.
pub(super) fn earlier_connection(hop: &mut Hop) {
    hop.state = Some(
        "conntrack: this packet belongs to a connection opened earlier; every device on the way already holds its entry".into(),
    );
}

/// A stateful filter that let a packet of an earlier connection through on
/// its conntrack entry alone.
pub(super) fn entry_not_policy(hop: &mut Hop, f: &Filter) {
    if !f.stateful {
        return;
    }
    hop.trusts.push(Claim::new(
        Fact::Connection,
        format!(
            "that the entry still agrees with {}'s rules: it was made when the connection opened, and the rules as they are now were not read for this packet (a rule removed since changes nothing for this connection until its entry is deleted, e.g. `conntrack -D`)",
            f.name
        ),
    ));
}

pub(super) fn filter(
    hop: &mut Hop,
    f: &Filter,
    rule: Option<&Rule>,
    by: Decider,
    p: &MatchInput,
    rp_strict: bool,
    dst_name: &str,
) {
    match (by, rule) {
        (Decider::Established, _) if p.state == ConnState::Related => {
            hop.proves.push(Claim::new(
                Fact::Connection,
                format!("the packet answers a connection conntrack knows (it quotes it or carries its entry), so {} lets it through as related", f.name),
            ));
        }
        (Decider::Established, _) => {
            hop.proves.push(Claim::new(
                Fact::Connection,
                format!("the packet belongs to a connection {} already allowed (a conntrack entry matches)", f.name),
            ));
        }
        (Decider::Default, _) => {
            hop.trusts.push(Claim::new(
                Fact::Content,
                format!(
                    "everything: no rule of {} matched and its default policy is allow",
                    f.name
                ),
            ));
        }
        (Decider::Rule(_), Some(r)) => {
            let m = &r.matches;
            if m.proto.is_some() || !m.dport.is_any() {
                let port = if p.proto.has_ports() && !m.dport.is_any() {
                    format!(" to port {}", p.dport)
                } else {
                    String::new()
                };
                hop.proves.push(Claim::new(
                    Fact::Service,
                    format!("the packet is {}{port}", p.proto),
                ));
            } else {
                hop.trusts.push(Claim::new(
                    Fact::Service,
                    "which service is asked for: the rule allows any protocol and port".to_string(),
                ));
            }
            if !m.dst.is_any() {
                hop.proves.push(Claim::new(
                    Fact::Destination,
                    format!(
                        "it is addressed to {dst_name}, which the rule's destination `{}` covers",
                        m.dst.text
                    ),
                ));
            }
            if m.checks_source() {
                let backed =
                    rp_strict || (f.tracks_connections() && p.proto == crate::model::Proto::Tcp);
                if backed && rp_strict {
                    hop.proves.push(Claim::new(
                        Fact::SourceAddress,
                        format!("the source {} is in `{}`, and the strict reverse-path check on this interface backs the address", p.src, m.src.text),
                    ));
                } else if backed {
                    hop.proves.push(Claim::new(
                        Fact::SourceAddress,
                        format!("the source {} is in `{}`, and whoever completes the TCP handshake receives packets at that address: a forged source can send this first packet but cannot finish the connection", p.src, m.src.text),
                    ));
                } else {
                    hop.trusts.push(Claim::new(
                        Fact::SourceAddress,
                        format!("that {} really sent this: the rule allows by source (`{}`) but nothing here checks source addresses, so a forged packet would pass too", p.src, m.src.text),
                    ));
                }
            } else {
                hop.trusts.push(Claim::new(
                    Fact::ClientIdentity,
                    "who the client is: the rule allows any source".to_string(),
                ));
            }
            hop.trusts.push(Claim::new(
                Fact::Content,
                "what the request asks for: a packet filter reads headers, never the payload"
                    .to_string(),
            ));
            if let Some(src) = &r.source {
                imported(hop, src);
            }
        }
        (Decider::Rule(_), None) => {}
    }
}

/// What a rule translated from a cloud or cluster control proves beyond its
/// addresses and ports, and what it takes on trust, by the kind of control.
/// Called for every hop a sourced rule decides, allow or not.
pub(super) fn imported(hop: &mut Hop, src: &RuleSource) {
    let what = &src.label;
    match src.kind {
        Some(SourceKind::K8sNetworkPolicy) | Some(SourceKind::K8sAdminNetworkPolicy) => {
            hop.proves.push(Claim::new(
                Fact::ClientIdentity,
                format!("which pods {what} means: their labels (and their namespaces' labels) as the API server held them when the CNI programmed the rule, turned into pod addresses"),
            ));
            hop.trusts.push(Claim::new(
                Fact::Connection,
                "that the cluster's CNI plugin enforces the policy at all (a CNI without NetworkPolicy support accepts it and enforces nothing) and has caught up with the latest change".to_string(),
            ));
            hop.trusts.push(Claim::new(
                Fact::ClientIdentity,
                "that labels are not writable by the workloads they describe: whoever may edit a pod's or a namespace's labels (a service account with `patch pods`) chooses which policies select it".to_string(),
            ));
            hop.trusts.push(Claim::new(
                Fact::SourceAddress,
                "that traffic from the pod's own node is harmless: Kubernetes always allows it (kubelet probes), whatever the policies say".to_string(),
            ));
        }
        Some(SourceKind::AwsSecurityGroup) => {
            hop.trusts.push(Claim::new(
                Fact::Connection,
                "that the security group attached to the network interface is the one described: AWS evaluates every group of the interface and allows what any of them allows".to_string(),
            ));
            hop.trusts.push(Claim::new(
                Fact::ClientIdentity,
                "that a referenced security group holds only the instances meant: membership of a group, not an address, decides, and whoever may attach the group to an instance widens the rule".to_string(),
            ));
        }
        Some(SourceKind::AwsNetworkAcl) => {
            hop.trusts.push(Claim::new(
                Fact::Connection,
                "nothing about the connection: a network ACL is stateless, so it checks each packet on its own and the reply needs a rule of its own".to_string(),
            ));
        }
        None => {}
    }
}

pub(super) fn socket(hop: &mut Hop, s: &Socket) {
    let app = s
        .app
        .as_deref()
        .map(|a| format!(" ({a})"))
        .unwrap_or_default();
    hop.proves.push(Claim::new(
        Fact::Service,
        format!(
            "a process listens on {}/{} bound to {}{app}",
            s.proto, s.port, s.bind
        ),
    ));
}

pub(super) fn tls(
    hop: &mut Hop,
    h: &Handshake,
    client: &TlsClient,
    server: &TlsServer,
    asked: &str,
    client_name: &str,
    server_name: &str,
) {
    if !h.ok {
        return;
    }
    if h.server_verified {
        hop.proves.push(Claim::new(
            Fact::ServerIdentity,
            format!("{server_name} holds the private key of a certificate for {asked}, issued by {}, which {client_name} trusts", server.issuer),
        ));
        hop.proves.push(Claim::new(
            Fact::Confidentiality,
            format!("nobody between {client_name} and {server_name} can read or change the bytes"),
        ));
        hop.trusts.push(Claim::new(
            Fact::ServerIdentity,
            format!("that {} issues certificates for {asked} only to its real owner, and that the key has not leaked", server.issuer),
        ));
    } else if !client.verify {
        hop.trusts.push(Claim::new(
            Fact::ServerIdentity,
            format!("who the server is: {client_name} does not verify certificates, so a machine in the middle with any certificate would be accepted"),
        ));
        hop.trusts.push(Claim::new(
            Fact::Confidentiality,
            "that nobody sits in the middle: encryption without verification only stops passive listeners".to_string(),
        ));
    }
    if let (Some(id), Some(ca)) = (&h.client_identity, &server.client_ca) {
        hop.proves.push(Claim::new(
            Fact::ClientIdentity,
            format!("the client holds the key of {id}, certified by {ca} (mutual TLS)"),
        ));
        hop.trusts.push(Claim::new(
            Fact::ClientIdentity,
            format!("that {ca} certifies {id} only for that workload"),
        ));
    }
}

pub(super) fn proxy(hop: &mut Hop, p: &Proxy, proxy_name: &str, client: IpAddr, target: &str) {
    hop.hides.push(Claim::new(
        Fact::SourceAddress,
        format!("{target} sees {proxy_name}'s address as the source, not {client}"),
    ));
    let xff = match p.forwarded_for {
        ForwardedFor::Append => format!("the client's address reaches {target} only as a claim: {proxy_name} appends {client} to X-Forwarded-For, after whatever the client wrote there; only that last entry is {proxy_name}'s word"),
        ForwardedFor::Overwrite => format!("the client's address reaches {target} as X-Forwarded-For: {client}, set by {proxy_name}; it is worth what {target}'s certainty is that the request came through {proxy_name}"),
        ForwardedFor::Pass => format!("X-Forwarded-For passes through {proxy_name} unchanged: it says whatever the client wrote, and {client} is not in it"),
        ForwardedFor::Strip => format!("{proxy_name} removes X-Forwarded-For: {target} does not learn the client's address at all"),
    };
    hop.trusts.push(Claim::new(Fact::ClientAddress, xff));
}

/// A forward proxy that tunnels a TLS session (`CONNECT`): its
/// `forwarded_for` mode cannot apply, the headers are inside the client's
/// encrypted session.
pub(super) fn proxy_tunnel(hop: &mut Hop, proxy_name: &str, target: &str) {
    hop.trusts.retain(|c| c.fact != Fact::ClientAddress);
    hop.trusts.push(Claim::new(
        Fact::ClientAddress,
        format!("the client's TLS session goes through {proxy_name} as an opaque tunnel (CONNECT): {proxy_name} cannot read or change its headers, so any X-Forwarded-For that reaches {target} is whatever the client wrote"),
    ));
}

/// What the service at the end can believe, and what it must take on trust.
pub(super) fn summary(hops: &[Hop], outcome: &Outcome, client_addr: Option<IpAddr>) -> Summary {
    use crate::evidence::Direction;
    let mut s = Summary::default();
    if outcome.kind != OutcomeKind::Reached {
        return s;
    }
    let Some(sock) = hops
        .iter()
        .rev()
        .find(|h| h.stage == Stage::Socket && h.verdict == Verdict::Accept)
    else {
        return s;
    };
    let seen = sock.packet.src;
    if let Some(p) = sock.packet.dport {
        s.believes.push(Claim::new(
            Fact::Service,
            format!("it was contacted on {}/{p}", sock.packet.proto),
        ));
    }
    // The leg that ends at this service: after the last proxy, if there is one.
    // A reverse proxy terminates the client's TLS and opens its own connection;
    // a forward proxy tunnels it, so that handshake also comes after the proxy hop.
    let last_leg_start = hops
        .iter()
        .rposition(|h| h.stage == Stage::Proxy)
        .map(|i| i + 1)
        .unwrap_or(0);
    let last_leg = &hops[last_leg_start..];
    for h in last_leg {
        if h.stage == Stage::Filter
            && h.verdict == Verdict::Allow
            && h.direction == Direction::Request
        {
            if let Some(r) = h.rule.as_ref().filter(|r| r.kind == "filter rule") {
                let which = match &r.source {
                    Some(src) => format!("{src}"),
                    None => format!(
                        "{} rule {}",
                        r.owner.as_deref().unwrap_or(""),
                        r.index.unwrap_or(0)
                    ),
                };
                s.believes.push(Claim::new(
                    Fact::Service,
                    format!("{which} (`{}`) let it through on {}", r.text, h.device),
                ));
            }
        }
    }
    let rewritten = hops.iter().any(|h| {
        matches!(h.stage, Stage::Snat | Stage::Proxy) && h.direction == Direction::Request
    });
    if Some(seen) != client_addr || rewritten {
        let own = client_addr.map(|a| format!(" {a}")).unwrap_or_default();
        s.trusts.push(Claim::new(
            Fact::SourceAddress,
            format!("who is behind {seen}: the service sees a translated or proxied source, and the client's own address{own} is not in the packet"),
        ));
    } else {
        let proven = hops
            .iter()
            .filter(|h| h.direction == Direction::Request)
            .flat_map(|h| &h.proves)
            .find(|c| c.fact == Fact::SourceAddress);
        match proven {
            Some(c) => s.believes.push(Claim::new(Fact::SourceAddress, format!("the request comes from {seen}: {}", c.text))),
            None => s.trusts.push(Claim::new(Fact::SourceAddress, format!("that the request comes from {seen}: nothing on the path verified the source address"))),
        }
    }
    for h in hops {
        for c in h.trusts.iter().filter(|c| c.fact == Fact::ClientAddress) {
            s.trusts.push(c.clone());
        }
    }
    match last_leg
        .iter()
        .flat_map(|h| &h.proves)
        .find(|c| c.fact == Fact::ClientIdentity)
    {
        Some(c) => s.believes.push(c.clone()),
        None => s.trusts.push(Claim::new(
            Fact::ClientIdentity,
            "who the client is: no checkpoint authenticated the client".to_string(),
        )),
    }
    let tls_hop = last_leg
        .iter()
        .rev()
        .find(|h| h.stage == Stage::Tls && h.verdict == Verdict::Accept);
    match tls_hop {
        Some(h) if h.proves.iter().any(|c| c.fact == Fact::Confidentiality) => {
            s.believes.push(Claim::new(Fact::Confidentiality, "the request was not read or changed on the way (TLS with a verified server)".to_string()));
        }
        Some(_) => s.trusts.push(Claim::new(
            Fact::Confidentiality,
            "that nobody sat in the middle: the TLS client does not verify the server, so an interceptor could read and change the request".to_string(),
        )),
        None => s.trusts.push(Claim::new(Fact::Confidentiality, "that nobody on the path read or changed the request: it travels without TLS".to_string())),
    }
    s.trusts.push(Claim::new(
        Fact::Content,
        "that the request means what it says: no checkpoint on the path reads the payload"
            .to_string(),
    ));
    s
}
