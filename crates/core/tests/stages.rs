//! One table per stage: small scenarios written inline, each row a journey and
//! the outcome (and evidence) the stage must produce.

use pathproof_core::evidence::{Direction, Fact, OutcomeKind, Stage, Trace, Verdict};
use pathproof_core::model::{Proto, Scenario};
use pathproof_core::{load, trace, Query};

fn scenario(yaml: &str, variant: Option<&str>) -> Scenario {
    load("test.yaml", yaml, variant).unwrap_or_else(|e| panic!("scenario does not load:\n{e}"))
}

fn run(scn: &Scenario, from: &str, to: &str, f: impl FnOnce(&mut Query)) -> Trace {
    let mut q = Query::new(from, to);
    f(&mut q);
    trace(scn, &q).unwrap_or_else(|e| panic!("{from} -> {to}: {e}"))
}

/// Runs rows of (from, to, expected outcome, expected device).
fn table(scn: &Scenario, rows: &[(&str, &str, OutcomeKind, &str)]) {
    for (from, to, kind, at) in rows {
        let t = run(scn, from, to, |_| {});
        assert_eq!(
            (t.outcome.kind, t.outcome.at.as_deref().unwrap_or("")),
            (*kind, *at),
            "{from} -> {to}: {}",
            t.outcome.text
        );
    }
}

const ROUTING: &str = r#"
networks:
  a: { cidr: 10.1.0.0/24, gateway: r1 }
  t1: 10.9.1.0/24
  t2: 10.9.2.0/24
  b: { cidr: 10.2.0.0/16 }
hosts:
  src: { at: a 10.1.0.10 }
  r1:
    router: true
    at: [a 10.1.0.1, t1 10.9.1.1, t2 10.9.2.1]
    routes:
      - 10.2.0.0/16 via r2
      - 10.2.5.0/24 via 10.9.2.3
      - 10.2.66.0/24 blackhole
      - default via 10.9.1.2
  r2: { router: true, at: [t1 10.9.1.2, b 10.2.0.1], routes: ["10.1.0.0/24 via 10.9.1.1"] }
  r3: { router: true, at: [t2 10.9.2.3, b 10.2.0.2], routes: ["10.1.0.0/24 via 10.9.2.1"] }
  wide: { at: b 10.2.1.10, listen: [tcp/80], routes: ["default via r2"] }
  narrow: { at: b 10.2.5.10, listen: [tcp/80], routes: ["default via r3"] }
  hole: { at: b 10.2.66.10, listen: [tcp/80], routes: ["default via r2"] }
"#;

#[test]
fn routing_longest_prefix_default_and_blackhole() {
    let scn = scenario(ROUTING, None);
    table(
        &scn,
        &[
            ("src", "wide:80", OutcomeKind::Reached, "wide"),
            ("src", "narrow:80", OutcomeKind::Reached, "narrow"),
            ("src", "hole:80", OutcomeKind::Dropped, "r1"),
        ],
    );
    // The /24 beats the /16: the packet to narrow goes via r3, the one to wide via r2.
    let via = |to: &str| {
        run(&scn, "src", to, |_| {})
            .hops
            .iter()
            .filter(|h| h.stage == Stage::Link)
            .map(|h| h.detail.clone())
            .collect::<Vec<_>>()
            .join(" | ")
    };
    assert!(via("narrow:80").contains("to r3"), "{}", via("narrow:80"));
    assert!(via("wide:80").contains("to r2"), "{}", via("wide:80"));
    // An address no route covers except the default goes to r2 via the default, and nobody owns it there.
    let t = run(&scn, "src", "192.0.2.1:80", |_| {});
    assert_eq!(t.outcome.kind, OutcomeKind::NoRoute);
    let r = t
        .hops
        .iter()
        .find(|h| h.device == "r1" && h.stage == Stage::Route)
        .unwrap();
    assert_eq!(r.rule.as_ref().unwrap().text, "default via 10.9.1.2");
}

#[test]
fn routing_loop_runs_out_of_ttl() {
    let scn = scenario(
        r#"
networks:
  a: { cidr: 10.1.0.0/24, gateway: r1 }
  t: 10.9.0.0/24
hosts:
  src: { at: a 10.1.0.10 }
  r1: { router: true, at: [a 10.1.0.1, t 10.9.0.1], routes: ["10.7.0.0/16 via r2"] }
  r2: { router: true, at: [t 10.9.0.2], routes: ["10.7.0.0/16 via r1"] }
"#,
        None,
    );
    let t = run(&scn, "src", "10.7.0.1:80", |_| {});
    assert_eq!(t.outcome.kind, OutcomeKind::TtlExceeded);
    assert!(
        t.hops.len() < 400,
        "the loop is cut by the TTL, not hung on"
    );
}

const FILTERS: &str = r#"
networks:
  inside: { cidr: 10.1.0.0/24, gateway: fw }
  outside: { cidr: 10.2.0.0/24, gateway: fw }
hosts:
  user: { at: inside 10.1.0.10, listen: ["tcp/22"] }
  other: { at: inside 10.1.0.11 }
  fw: { router: true, at: [inside 10.1.0.1, outside 10.2.0.1], filter: f }
  srv: { at: outside 10.2.0.10, listen: ["tcp/80", "tcp/443", "tcp/8080", "udp/53"] }
filters:
  f:
    stateful: true
    default: drop
    rules:
      - drop tcp from other to srv port 80
      - allow tcp from inside to srv port 80,443
      - reject tcp to srv port 8080
      - allow udp from inside to srv port 53
variants:
  stateless:
    why: the same rules without conntrack
    filters: { f: { stateful: false } }
  stateless-with-return:
    why: the return rule a stateless list needs
    filters:
      f:
        stateful: false
        append: [allow tcp from srv port 80 to inside]
  allow-all:
    why: default allow
    filters: { f: { default: allow } }
"#;

#[test]
fn filters_first_match_and_default_policy() {
    let scn = scenario(FILTERS, None);
    table(
        &scn,
        &[
            ("user", "srv:80", OutcomeKind::Reached, "srv"),
            // The drop for `other` comes first, so the broader allow never sees it.
            ("other", "srv:80", OutcomeKind::Dropped, "fw"),
            ("user", "srv:8080", OutcomeKind::Rejected, "fw"),
            // No rule: the default policy.
            ("user", "srv:22", OutcomeKind::Dropped, "fw"),
            ("srv", "user:22", OutcomeKind::Dropped, "fw"),
        ],
    );
    let t = run(&scn, "user", "srv:22", |_| {});
    let f = t.hops.iter().find(|h| h.stage == Stage::Filter).unwrap();
    assert_eq!(f.rule.as_ref().unwrap().kind, "default policy");
    assert_eq!(t.outcome.client_sees, "connection timed out (no answer)");
    let t = run(&scn, "user", "srv:8080", |_| {});
    assert_eq!(t.outcome.client_sees, "connection refused");
    let t = run(&scn, "other", "srv:80", |_| {});
    assert_eq!(
        t.hops
            .iter()
            .find(|h| h.stage == Stage::Filter)
            .unwrap()
            .rule
            .as_ref()
            .unwrap()
            .index,
        Some(1)
    );
    let open = scenario(FILTERS, Some("allow-all"));
    table(&open, &[("user", "srv:22", OutcomeKind::Refused, "srv")]);
}

#[test]
fn stateful_replies_pass_and_stateless_replies_need_a_rule() {
    let stateful = scenario(FILTERS, None);
    let t = run(&stateful, "user", "srv:80", |_| {});
    let reply_filter = t
        .hops
        .iter()
        .find(|h| {
            h.stage == Stage::Filter && h.direction == pathproof_core::evidence::Direction::Reply
        })
        .unwrap();
    assert_eq!(reply_filter.rule.as_ref().unwrap().kind, "implicit");
    assert!(reply_filter
        .proves
        .iter()
        .any(|c| c.fact == Fact::Connection));

    let stateless = scenario(FILTERS, Some("stateless"));
    let t = run(&stateless, "user", "srv:80", |_| {});
    assert_eq!(t.outcome.kind, OutcomeKind::ReplyLost, "{}", t.outcome.text);
    assert!(t
        .outcome
        .text
        .contains("stateless filter needs an explicit rule for replies"));

    let with_return = scenario(FILTERS, Some("stateless-with-return"));
    table(
        &with_return,
        &[("user", "srv:80", OutcomeKind::Reached, "srv")],
    );
    // ...and that return rule lets srv open connections from port 80 into the inside.
    let t = run(&with_return, "srv", "user:22", |q| q.sport = Some(80));
    assert_eq!(t.outcome.kind, OutcomeKind::Reached);
}

#[test]
fn udp_replies_and_no_socket() {
    let scn = scenario(FILTERS, None);
    let t = run(&scn, "user", "srv:53", |q| q.proto = Proto::Udp);
    assert_eq!(t.outcome.kind, OutcomeKind::Reached);
    let t = run(&scn, "user", "srv:80", |q| q.proto = Proto::Udp);
    assert_eq!(t.outcome.kind, OutcomeKind::Dropped);
}

#[test]
fn asymmetric_path_is_dropped_by_a_stateful_filter() {
    let scn = scenario(
        r#"
networks:
  a: { cidr: 10.1.0.0/24 }
  b: { cidr: 10.2.0.0/24 }
hosts:
  client: { at: a 10.1.0.10, routes: ["10.2.0.0/24 via r1"] }
  r1: { router: true, at: [a 10.1.0.1, b 10.2.0.1] }
  r2: { router: true, at: [a 10.1.0.2, b 10.2.0.2], filter: fw2 }
  server: { at: b 10.2.0.10, listen: [tcp/80], routes: ["10.1.0.0/24 via r2"] }
filters:
  fw2: { stateful: true, default: drop, rules: ["allow tcp from a to b port 80"] }
"#,
        None,
    );
    let t = run(&scn, "client", "server:80", |_| {});
    assert_eq!(t.outcome.kind, OutcomeKind::ReplyLost);
    assert_eq!(t.outcome.at.as_deref(), Some("r2"));
    assert!(t.outcome.text.contains("asymmetric"), "{}", t.outcome.text);
}

/// Answers (TCP resets, ICMP errors) walk back like replies: the filters,
/// routes and NAT on their way decide whether the client hears the refusal or
/// times out. The real lab holds every row against the kernel
/// (crates/lab/tests/lab_answers.rs has the same cases and more).
#[test]
fn answers_walk_back_through_filters_routes_and_nat() {
    let scn = scenario(
        r#"
networks:
  lan: { cidr: 10.60.1.0/24, gateway: r }
  srv: { cidr: 10.60.2.0/24, gateway: r }
  alt: { cidr: 10.60.3.0/24, gateway: r }
  wan: { cidr: 10.60.9.0/24 }
hosts:
  r:
    router: true
    at: [lan 10.60.1.1, srv 10.60.2.1, alt 10.60.3.1, wan 10.60.9.1]
    filter: rfw
    nat: ["masquerade from lan out wan", "dnat tcp to 10.60.1.1 port 8443 in lan -> s1:9"]
  r2: { router: true, at: [lan 10.60.1.2, alt 10.60.3.2], filter: r2fw }
  c1: { at: lan 10.60.1.10 }
  c2: { at: lan 10.60.1.20, input: c2-in }
  c3: { at: lan 10.60.1.30, input: c3-in }
  s1: { at: srv 10.60.2.10, listen: [tcp/80] }
  s2: { at: alt 10.60.3.10, routes: ["10.60.1.0/24 via 10.60.3.2"] }
filters:
  rfw:
    stateful: false
    default: drop
    rules:
      - allow tcp to s1 port 22
      - allow tcp to s1 port 23
      - allow tcp from s1 port 23
      - allow udp to s1 port 5353
      - allow icmp from srv to lan
      - reject tcp to s1 port 25 with tcp-reset
      - reject tcp to s1 port 9
      - allow from lan to wan
      - allow tcp from lan to s2
  r2fw: { stateful: true, default: drop, rules: [] }
  c2-in: { stateful: false, default: drop, rules: ["allow tcp from s1 port 80"] }
  c3-in: { stateful: true, default: drop, rules: [] }
"#,
        None,
    );
    let rows: &[(&str, &str, Proto, OutcomeKind, &str)] = &[
        // s1's reset has no rule in the stateless rfw...
        ("c1", "s1:22", Proto::Tcp, OutcomeKind::ReplyLost, "r"),
        // ...from port 23 it has; c3's stateful input takes it as established,
        // c2's stateless input has no rule for it.
        ("c1", "s1:23", Proto::Tcp, OutcomeKind::Refused, "s1"),
        ("c3", "s1:23", Proto::Tcp, OutcomeKind::Refused, "s1"),
        ("c2", "s1:23", Proto::Tcp, OutcomeKind::ReplyLost, "c2"),
        // ICMP port unreachable: rfw allows ICMP from srv; c3 takes it as related.
        ("c1", "s1:5353", Proto::Udp, OutcomeKind::Refused, "s1"),
        ("c3", "s1:5353", Proto::Udp, OutcomeKind::Refused, "s1"),
        ("c2", "s1:5353", Proto::Udp, OutcomeKind::ReplyLost, "c2"),
        // r's own reset leaves by r's output hook, not its forward filter.
        ("c1", "s1:25", Proto::Tcp, OutcomeKind::Rejected, "r"),
        ("c2", "s1:25", Proto::Tcp, OutcomeKind::ReplyLost, "c2"),
        // DNAT, then a reject: conntrack gives the ICMP the address c1 asked for.
        (
            "c1",
            "10.60.1.1:8443",
            Proto::Tcp,
            OutcomeKind::Rejected,
            "r",
        ),
        // No neighbour after masquerade: the ICMP goes back to c1 through the NAT.
        ("c1", "10.60.9.99:80", Proto::Tcp, OutcomeKind::NoRoute, "r"),
        (
            "c2",
            "10.60.9.99:80",
            Proto::Tcp,
            OutcomeKind::ReplyLost,
            "c2",
        ),
        ("c1", "10.70.0.1:80", Proto::Tcp, OutcomeKind::NoRoute, "r"),
        // s2 answers by way of r2, whose stateful filter never saw the request.
        ("c1", "s2:22", Proto::Tcp, OutcomeKind::ReplyLost, "r2"),
    ];
    for (from, to, proto, kind, at) in rows {
        let t = run(&scn, from, to, |q| q.proto = *proto);
        assert_eq!(
            (t.outcome.kind, t.outcome.at.as_deref().unwrap_or("")),
            (*kind, *at),
            "{proto} {from} -> {to}: {}",
            t.outcome.text
        );
        let answer = t
            .hops
            .iter()
            .find(|h| {
                h.stage == Stage::Send && h.direction == pathproof_core::evidence::Direction::Reply
            })
            .unwrap_or_else(|| panic!("{from} -> {to}: no answer walks back"));
        assert!(answer.detail.contains("answers with"), "{}", answer.detail);
        if *kind == OutcomeKind::ReplyLost {
            assert_eq!(t.outcome.client_sees, "connection timed out");
            assert!(
                t.outcome
                    .text
                    .contains("that answers it is lost on the way back"),
                "{}",
                t.outcome.text
            );
        } else {
            // The deciding hop stays the outcome's step; the answer is received.
            let last = t.hops.last().unwrap();
            assert_eq!((last.stage, last.verdict), (Stage::Receive, Verdict::Pass));
            assert_eq!(last.device, *from);
        }
    }
    // The ICMP error about the DNATed packet quotes it as r translated it,
    // and leaves r with the address c1 asked for.
    let t = run(&scn, "c1", "10.60.1.1:8443", |_| {});
    let send = t
        .hops
        .iter()
        .find(|h| {
            h.stage == Stage::Send && h.direction == pathproof_core::evidence::Direction::Reply
        })
        .unwrap();
    assert!(
        send.detail
            .contains("quoting tcp 10.60.1.10:49152 -> 10.60.2.10:9"),
        "{}",
        send.detail
    );
    assert!(t.hops.iter().any(|h| h.stage == Stage::Conntrack
        && h.detail
            .contains("the packet it quotes becomes tcp 10.60.1.10:49152 -> 10.60.1.1:8443")));
}

const NAT: &str = r#"
networks:
  lan: { cidr: 192.168.0.0/24, gateway: gw }
  wan: { cidr: 0.0.0.0/0 }
hosts:
  pc: { at: lan 192.168.0.10 }
  nas: { at: lan 192.168.0.20, listen: ["tcp/5000 http"] }
  gw:
    router: true
    at: [lan 192.168.0.1, wan 198.51.100.2]
    nat:
      - dnat tcp to 198.51.100.2 port 8443 in wan -> nas:5000
      - masquerade out wan
  site: { at: wan 203.0.113.5, listen: ["tcp/443"] }
"#;

#[test]
fn nat_rewrites_both_ways() {
    let scn = scenario(NAT, None);
    // Source NAT: the site sees the gateway; the reply finds its way back to pc.
    let t = run(&scn, "pc", "site:443", |_| {});
    assert_eq!(t.outcome.kind, OutcomeKind::Reached);
    let sock = t.hops.iter().find(|h| h.stage == Stage::Socket).unwrap();
    assert_eq!(sock.packet.src.to_string(), "198.51.100.2");
    let snat = t.hops.iter().find(|h| h.stage == Stage::Snat).unwrap();
    assert!(snat.hides.iter().any(|c| c.fact == Fact::SourceAddress));
    let back = t.hops.iter().find(|h| h.stage == Stage::Conntrack).unwrap();
    assert_eq!(back.packet.dst.to_string(), "192.168.0.10");
    // Destination NAT: the site connects to the public port and lands on nas:5000.
    let t = run(&scn, "site", "198.51.100.2:8443", |_| {});
    assert_eq!(t.outcome.kind, OutcomeKind::Reached, "{}", t.outcome.text);
    assert_eq!(t.outcome.at.as_deref(), Some("nas"));
    let sock = t.hops.iter().find(|h| h.stage == Stage::Socket).unwrap();
    assert_eq!(
        (sock.packet.dst.to_string(), sock.packet.dport),
        ("192.168.0.20".to_string(), Some(5000))
    );
    // The reply leaves with the public address and port restored.
    let last_link = t
        .hops
        .iter()
        .rev()
        .find(|h| h.stage == Stage::Link)
        .unwrap();
    assert_eq!(
        (last_link.packet.src.to_string(), last_link.packet.sport),
        ("198.51.100.2".to_string(), Some(8443))
    );
}

const DNS: &str = r#"
networks:
  inside: { cidr: 10.0.0.0/24, dns: internal }
  outside: { cidr: 0.0.0.0/0, dns: public }
hosts:
  a: { at: inside 10.0.0.10 }
  b: { at: outside 203.0.113.9, dns: internal }
  c: { at: outside 203.0.113.10 }
  svc: { at: inside 10.0.0.20, listen: ["tcp/80"] }
dns:
  internal:
    svc.corp: 10.0.0.20
    www.corp: { cname: svc.corp }
    alias.corp: { cname: www.corp }
    loop1.corp: { cname: loop2.corp }
    loop2.corp: { cname: loop1.corp }
    dangling.corp: { cname: nowhere.corp }
    v4only.corp: 10.0.0.20
  public:
    svc.corp: 203.0.113.200
"#;

#[test]
fn dns_views_and_cname_chains() {
    let scn = scenario(DNS, None);
    let resolved = |from: &str, to: &str| {
        let t = run(&scn, from, to, |_| {});
        (
            t.query.destination_address.map(|a| a.to_string()),
            t.outcome.kind,
        )
    };
    assert_eq!(
        resolved("a", "svc.corp:80"),
        (Some("10.0.0.20".into()), OutcomeKind::Reached)
    );
    // Split horizon: the same name, another view, another answer.
    assert_eq!(resolved("c", "svc.corp:80").0, Some("203.0.113.200".into()));
    // A host may pick its own view.
    assert_eq!(resolved("b", "svc.corp:80").0, Some("10.0.0.20".into()));
    assert_eq!(resolved("a", "alias.corp:80").0, Some("10.0.0.20".into()));
    let t = run(&scn, "a", "alias.corp:80", |_| {});
    assert!(
        t.hops[0]
            .detail
            .contains("alias.corp is an alias of www.corp"),
        "{}",
        t.hops[0].detail
    );
    assert!(t.hops[0].trusts.iter().any(|c| c.fact == Fact::NameMapping));
    for (name, kind) in [
        ("loop1.corp:80", "SERVFAIL"),
        ("dangling.corp:80", "NXDOMAIN"),
        ("nothing.corp:80", "NXDOMAIN"),
    ] {
        let t = run(&scn, "a", name, |_| {});
        assert_eq!(t.outcome.kind, OutcomeKind::Unresolved);
        assert!(
            t.outcome.client_sees.contains(kind),
            "{name}: {}",
            t.outcome.client_sees
        );
    }
    let t = run(&scn, "a", "v4only.corp:80", |q| q.ipv6 = true);
    assert_eq!(t.outcome.kind, OutcomeKind::Unresolved);
    assert!(t.outcome.text.contains("no AAAA record"));
}

const SOCKETS: &str = r#"
networks:
  n: { cidr: [10.0.0.0/24, "2001:db8::/64"] }
hosts:
  client: { at: "n 10.0.0.5 2001:db8::5" }
  srv:
    at: "n 10.0.0.10 10.0.0.11 2001:db8::10"
    listen:
      - tcp/80 on 0.0.0.0
      - tcp/5432 on 127.0.0.1
      - tcp/8080 on 10.0.0.11
      - "tcp/443 on ::"
      - udp/514
"#;

#[test]
fn sockets_and_bound_addresses() {
    let scn = scenario(SOCKETS, None);
    table(
        &scn,
        &[
            ("client", "10.0.0.10:80", OutcomeKind::Reached, "srv"),
            ("client", "10.0.0.10:5432", OutcomeKind::Refused, "srv"),
            ("srv", "127.0.0.1:5432", OutcomeKind::Reached, "srv"),
            ("client", "10.0.0.11:8080", OutcomeKind::Reached, "srv"),
            ("client", "10.0.0.10:8080", OutcomeKind::Refused, "srv"),
            // `::` takes IPv4 as well (bindv6only off).
            ("client", "10.0.0.10:443", OutcomeKind::Reached, "srv"),
            ("client", "[2001:db8::10]:443", OutcomeKind::Reached, "srv"),
            // 0.0.0.0 takes IPv4 only.
            ("client", "[2001:db8::10]:80", OutcomeKind::Refused, "srv"),
            ("client", "10.0.0.10:9999", OutcomeKind::Refused, "srv"),
        ],
    );
    let t = run(&scn, "client", "10.0.0.10:5432", |_| {});
    assert!(
        t.outcome.text.contains("listens on 127.0.0.1:5432"),
        "{}",
        t.outcome.text
    );
    assert_eq!(t.outcome.client_sees, "connection refused (TCP reset)");
    let t = run(&scn, "client", "10.0.0.10:9999", |q| q.proto = Proto::Udp);
    assert_eq!(t.outcome.client_sees, "port unreachable (ICMP)");
    let t = run(&scn, "client", "srv:514", |q| q.proto = Proto::Udp);
    assert_eq!(t.outcome.kind, OutcomeKind::Reached);
}

const TLS: &str = r#"
networks:
  n: { cidr: 10.0.0.0/24, dns: d }
hosts:
  strict: { at: n 10.0.0.1, tls: { verify: true, trust: [corp-ca] } }
  lax: { at: n 10.0.0.2, tls: { verify: false } }
  webpki: { at: n 10.0.0.3 }
  workload: { at: n 10.0.0.4, tls: { trust: [corp-ca], identity: "spiffe://corp/ns/a/sa/b", issuer: corp-ca } }
  outsider: { at: n 10.0.0.5, tls: { trust: [corp-ca], identity: "spiffe://other/x", issuer: other-ca } }
  site: { at: n 10.0.0.10, listen: ["tcp/443 https tls site.corp,*.site.corp issuer corp-ca"] }
  vault: { at: n 10.0.0.11, listen: ["tcp/8200 https mtls vault.corp issuer corp-ca client-ca corp-ca"] }
dns:
  d:
    site.corp: 10.0.0.10
    api.site.corp: 10.0.0.10
    deep.api.site.corp: 10.0.0.10
    other.corp: 10.0.0.10
    vault.corp: 10.0.0.11
"#;

#[test]
fn tls_verification_and_mutual_tls() {
    let scn = scenario(TLS, None);
    table(
        &scn,
        &[
            ("strict", "site.corp:443", OutcomeKind::Reached, "site"),
            ("strict", "api.site.corp:443", OutcomeKind::Reached, "site"),
            (
                "strict",
                "deep.api.site.corp:443",
                OutcomeKind::TlsFailed,
                "site",
            ),
            ("strict", "other.corp:443", OutcomeKind::TlsFailed, "site"),
            ("webpki", "site.corp:443", OutcomeKind::TlsFailed, "site"),
            ("lax", "other.corp:443", OutcomeKind::Reached, "site"),
            ("workload", "vault.corp:8200", OutcomeKind::Reached, "vault"),
            ("strict", "vault.corp:8200", OutcomeKind::TlsFailed, "vault"),
            (
                "outsider",
                "vault.corp:8200",
                OutcomeKind::TlsFailed,
                "vault",
            ),
        ],
    );
    let tls_hop = |t: &Trace| {
        t.hops
            .iter()
            .find(|h| h.stage == Stage::Tls)
            .unwrap()
            .clone()
    };
    let verified = tls_hop(&run(&scn, "strict", "site.corp:443", |_| {}));
    assert!(verified
        .proves
        .iter()
        .any(|c| c.fact == Fact::ServerIdentity));
    let unverified = tls_hop(&run(&scn, "lax", "other.corp:443", |_| {}));
    assert!(
        unverified.proves.is_empty(),
        "verification off proves nothing: {:?}",
        unverified.proves
    );
    assert!(unverified
        .trusts
        .iter()
        .any(|c| c.fact == Fact::ServerIdentity));
    let mtls = run(&scn, "workload", "vault.corp:8200", |_| {});
    assert!(tls_hop(&mtls)
        .proves
        .iter()
        .any(|c| c.fact == Fact::ClientIdentity && c.text.contains("spiffe://corp/ns/a/sa/b")));
    assert!(mtls
        .summary
        .believes
        .iter()
        .any(|c| c.fact == Fact::ClientIdentity));
    let failed = run(&scn, "strict", "other.corp:443", |_| {});
    assert!(
        failed
            .outcome
            .text
            .contains("names site.corp, *.site.corp but the client asked for other.corp"),
        "{}",
        failed.outcome.text
    );
}

const PROXY: &str = r#"
networks:
  n: { cidr: 10.0.0.0/24, dns: d }
  m: { cidr: 10.1.0.0/24 }
hosts:
  client: { at: n 10.0.0.5 }
  fwd: { at: [n 10.0.0.2, m 10.1.0.2], listen: ["tcp/3128"], proxy: { port: 3128, allow: ["app:8080", "10.1.0.0/24:443"] } }
  fwd-over: { at: n 10.0.0.3, listen: ["tcp/3128"], proxy: { port: 3128, allow: [any], forwarded_for: overwrite } }
  fwd-pass: { at: n 10.0.0.4, listen: ["tcp/3128"], proxy: { port: 3128, allow: [any], forwarded_for: pass } }
  fwd-strip: { at: n 10.0.0.6, listen: ["tcp/3128"], proxy: { port: 3128, allow: [any], forwarded_for: strip } }
  rev: { at: [n 10.0.0.7, m 10.1.0.7], listen: ["tcp/443 https tls app.corp"], proxy: { port: 443, mode: reverse, upstream: "app:8080" } }
  app: { at: m 10.1.0.10, listen: ["tcp/8080 http", "tcp/9000"], routes: ["default via fwd"] }
  web: { at: n 10.0.0.8, listen: ["tcp/80 http"] }
dns:
  d:
    app.corp: 10.0.0.7
"#;

#[test]
fn proxies_reoriginate_and_carry_the_client_as_a_claim() {
    let scn = scenario(PROXY, None);
    let t = run(&scn, "client", "app:8080", |q| q.via = Some("fwd".into()));
    assert_eq!(t.outcome.kind, OutcomeKind::Reached, "{}", t.outcome.text);
    let sock = t
        .hops
        .iter()
        .rev()
        .find(|h| h.stage == Stage::Socket)
        .unwrap();
    assert_eq!(
        sock.packet.src.to_string(),
        "10.1.0.2",
        "the service sees the proxy"
    );
    let p = t.hops.iter().find(|h| h.stage == Stage::Proxy).unwrap();
    assert_eq!(p.verdict, Verdict::Accept);
    assert!(p
        .trusts
        .iter()
        .any(|c| c.fact == Fact::ClientAddress && c.text.contains("appends 10.0.0.5")));
    assert!(p.hides.iter().any(|c| c.fact == Fact::SourceAddress));
    let denied = run(&scn, "client", "app:9000", |q| q.via = Some("fwd".into()));
    assert_eq!(denied.outcome.kind, OutcomeKind::ProxyDenied);
    assert_eq!(denied.outcome.client_sees, "HTTP 403 from the proxy");
    for (proxy, words) in [
        ("fwd-over", "set by fwd-over"),
        ("fwd-pass", "passes through fwd-pass unchanged"),
        ("fwd-strip", "removes X-Forwarded-For"),
    ] {
        let t = run(&scn, "client", "web:80", |q| q.via = Some(proxy.into()));
        let p = t.hops.iter().find(|h| h.stage == Stage::Proxy).unwrap();
        assert!(
            p.trusts.iter().any(|c| c.text.contains(words)),
            "{proxy}: {:?}",
            p.trusts
        );
        // TLS goes through a forward proxy as a CONNECT tunnel: whatever its
        // mode, the proxy never sees the headers (the lab measured it).
        let t = run(&scn, "client", "10.0.0.7:443", |q| {
            q.via = Some(proxy.into())
        });
        let p = t.hops.iter().find(|h| h.stage == Stage::Proxy).unwrap();
        let xff: Vec<&str> = p
            .trusts
            .iter()
            .filter(|c| c.fact == Fact::ClientAddress)
            .map(|c| c.text.as_str())
            .collect();
        assert_eq!(xff.len(), 1, "{proxy}: {xff:?}");
        assert!(
            xff[0].contains("opaque tunnel (CONNECT)") && !xff[0].contains(words),
            "{proxy}: {xff:?}"
        );
    }
    // A reverse proxy hands every request to its upstream, also when the
    // client reaches it through a forward proxy (the lab found it).
    let t = run(&scn, "client", "app.corp:443", |_| {});
    assert_eq!(t.outcome.at.as_deref(), Some("app"), "{}", t.outcome.text);
    assert_eq!(t.outcome.kind, OutcomeKind::Reached);
    let t = run(&scn, "client", "app.corp:443", |q| {
        q.via = Some("fwd-over".into())
    });
    assert_eq!(t.outcome.at.as_deref(), Some("app"), "{}", t.outcome.text);
    assert_eq!(t.outcome.kind, OutcomeKind::Reached);
    let proxies: Vec<&str> = t
        .hops
        .iter()
        .filter(|h| h.stage == Stage::Proxy)
        .map(|h| h.device.as_str())
        .collect();
    assert_eq!(proxies, ["fwd-over", "rev"], "both proxies on the way");
}

#[test]
fn reverse_path_filter_drops_spoofed_sources() {
    let scn = scenario(
        r#"
networks:
  a: { cidr: 10.1.0.0/24, gateway: r }
  b: { cidr: 10.2.0.0/24, gateway: r }
hosts:
  r: { router: true, at: [a 10.1.0.1, b 10.2.0.1], rp_filter: strict }
  srv: { at: b 10.2.0.10, listen: [tcp/80] }
  ok: { at: a 10.1.0.10 }
"#,
        None,
    );
    // A sender on `a` that claims an address of `b`.
    let t = run(&scn, "a@10.1.0.77", "srv:80", |_| {});
    assert_eq!(t.outcome.kind, OutcomeKind::Reached);
    let rp = t
        .hops
        .iter()
        .find(|h| h.stage == Stage::ReversePath)
        .unwrap();
    assert!(rp.proves.iter().any(|c| c.fact == Fact::SourceAddress));
}

#[test]
fn a_sender_standing_for_a_network_gets_a_free_address() {
    let scn = scenario(FILTERS, None);
    let t = run(&scn, "inside", "srv:80", |_| {});
    assert_eq!(t.query.source, "inside@10.1.0.254");
    assert_eq!(t.outcome.kind, OutcomeKind::Reached);
}

/// `--established`: a packet of a connection opened earlier. Every device
/// already holds its conntrack entry, so a stateful filter lets it through on
/// that entry (whatever its rules say now) and says so; a stateless filter
/// still reads its rules; NAT still rewrites it (the mapping was chosen when
/// the connection opened); a proxy's own connection is an earlier one too.
#[test]
fn an_earlier_connection_rides_on_its_conntrack_entry() {
    let yaml = r#"
networks:
  out: { cidr: 203.0.113.0/24 }
  lan: { cidr: 10.0.0.0/24, gateway: r }
hosts:
  c: { at: out 203.0.113.5, routes: ["10.0.0.0/24 via r"] }
  r:
    router: true
    at: [out 203.0.113.1, lan 10.0.0.1]
    forward: fw
    nat: ["dnat tcp to 203.0.113.1 port 8443 in out -> s:443"]
  s: { at: lan 10.0.0.10, listen: [tcp/443, tcp/22], input: acl }
  p: { at: lan 10.0.0.20, listen: [tcp/3128 http-proxy], proxy: { port: 3128, allow: ["s:443"] } }
filters:
  fw:
    stateful: true
    default: drop
    rules: [ allow tcp to s port 443 ]
  acl:
    stateful: false
    default: drop
    rules: [ allow tcp port 443 ]
"#;
    let scn = scenario(yaml, None);
    let new = run(&scn, "c", "s:22", |_| {});
    assert_eq!(
        new.outcome.kind,
        OutcomeKind::Dropped,
        "{}",
        new.outcome.text
    );
    // The stateful forward filter lets an old connection to port 22 through
    // on its entry; the stateless input list on s still drops it.
    let old = run(&scn, "c", "s:22", |q| q.established = true);
    assert_eq!(
        old.outcome.kind,
        OutcomeKind::Dropped,
        "{}",
        old.outcome.text
    );
    assert_eq!(old.outcome.at.as_deref(), Some("s"));
    assert!(old.query.established);
    let fw = old
        .hops
        .iter()
        .find(|h| h.stage == Stage::Filter && h.device == "r")
        .expect("r's filter hop");
    assert_eq!(fw.verdict, Verdict::Allow);
    assert!(fw
        .rule
        .as_ref()
        .is_some_and(|r| r.text.contains("established")));
    assert!(
        fw.trusts
            .iter()
            .any(|c| c.text.contains("still agrees with fw's rules")),
        "{:?}",
        fw.trusts
    );
    // DNAT still applies to the old connection, and the reply is un-NATed.
    let nat = run(&scn, "c", "203.0.113.1:8443", |q| q.established = true);
    assert_eq!(
        nat.outcome.kind,
        OutcomeKind::Reached,
        "{}",
        nat.outcome.text
    );
    assert_eq!(nat.outcome.at.as_deref(), Some("s"));
    assert!(nat.hops.iter().any(|h| h.stage == Stage::Dnat));
    assert!(nat.hops.iter().any(|h| h.stage == Stage::Conntrack));
    // The JSON names the flag only when it is set.
    let json = pathproof_core::render::trace_json(&nat);
    assert!(json.contains("\"established\": true"), "{json}");
    assert!(!pathproof_core::render::trace_json(&new).contains("\"established\""));
    // Through a forward proxy: r's rules never let c reach p:3128, but the
    // entries do; the proxy's connection to s is an earlier one as well.
    let new = run(&scn, "c", "s:443", |q| q.via = Some("p".into()));
    assert_eq!(
        new.outcome.kind,
        OutcomeKind::Dropped,
        "{}",
        new.outcome.text
    );
    let old = run(&scn, "c", "s:443", |q| {
        q.via = Some("p".into());
        q.established = true;
    });
    assert_eq!(
        old.outcome.kind,
        OutcomeKind::Reached,
        "{}",
        old.outcome.text
    );
    let sends: Vec<_> = old
        .hops
        .iter()
        .filter(|h| {
            h.stage == Stage::Send && h.direction == pathproof_core::evidence::Direction::Request
        })
        .collect();
    assert_eq!(sends.len(), 2, "the client's send and the proxy's");
    assert!(sends.iter().all(|h| h
        .state
        .as_deref()
        .is_some_and(|s| s.contains("opened earlier"))));
}

/// What the client program sees when the stop is on its own output path,
/// for every protocol: its own blackhole route fails connect()/send() with
/// EINVAL at once; its own output filter fails a datagram or a ping with
/// EPERM at once, dropped or rejected, while a TCP SYN it drops is
/// retransmitted until connect() times out (checked on Linux 6.1 in
/// namespaces; the lab's differential holds the model to it). The same stop
/// on a router further on is a silent drop.
#[test]
fn what_the_sender_sees_when_its_own_kernel_stops_the_packet() {
    let yaml = r#"
networks:
  a: { cidr: [10.1.0.0/24, "fd01::/64"], gateway: r1 }
  b: { cidr: [10.2.0.0/24, "fd02::/64"], gateway: r1 }
hosts:
  src:
    at: a 10.1.0.10 fd01::10
    routes: ["10.2.0.66/32 blackhole"]
    output: out
    listen: ["tcp/1", "udp/1"]
  r1: { router: true, at: [a 10.1.0.1 fd01::1, b 10.2.0.1 fd02::1], routes: ["10.2.0.77/32 blackhole"] }
  dst: { at: b 10.2.0.10, listen: ["tcp/80", "udp/80"] }
  gone: { at: b 10.2.0.66, listen: ["tcp/80", "udp/80"] }
  far: { at: b 10.2.0.77, listen: ["tcp/80", "udp/80"] }
  dropped: { at: b 10.2.0.20 fd02::20, listen: ["tcp/80", "udp/80"] }
  rejected: { at: b 10.2.0.21 fd02::21, listen: ["tcp/80", "udp/80"] }
filters:
  out:
    default: allow
    rules:
      - drop to dropped
      - reject to rejected
"#;
    let scn = scenario(yaml, None);
    use pathproof_core::journey::{SEES_EINVAL, SEES_EPERM};
    let rows: &[(&str, Proto, OutcomeKind, &str)] = &[
        ("gone:80", Proto::Tcp, OutcomeKind::Dropped, SEES_EINVAL),
        ("gone:80", Proto::Udp, OutcomeKind::Dropped, SEES_EINVAL),
        ("gone", Proto::Icmp, OutcomeKind::Dropped, SEES_EINVAL),
        (
            "far:80",
            Proto::Tcp,
            OutcomeKind::Dropped,
            "connection timed out",
        ),
        (
            "far:80",
            Proto::Udp,
            OutcomeKind::Dropped,
            "connection timed out",
        ),
        (
            "dropped:80",
            Proto::Tcp,
            OutcomeKind::Dropped,
            "connection timed out (no answer)",
        ),
        ("dropped:80", Proto::Udp, OutcomeKind::Dropped, SEES_EPERM),
        ("dropped", Proto::Icmp, OutcomeKind::Dropped, SEES_EPERM),
        ("rejected:80", Proto::Udp, OutcomeKind::Rejected, SEES_EPERM),
        ("rejected", Proto::Icmp, OutcomeKind::Rejected, SEES_EPERM),
        ("dst:80", Proto::Tcp, OutcomeKind::Reached, "connected"),
    ];
    for (to, proto, kind, sees) in rows {
        let t = run(&scn, "src", to, |q| q.proto = *proto);
        assert_eq!(
            (t.outcome.kind, t.outcome.client_sees.as_str()),
            (*kind, *sees),
            "src -> {to} ({proto:?}): {}",
            t.outcome.text
        );
    }
    // IPv6: a datagram fails with EPERM as over IPv4, but an echo request
    // does not (Linux's ping_v6_sendmsg ignores what sending it returns):
    // dropped, it is lost; rejected, the ICMPv6 error comes back over
    // loopback (measured on Linux 6.18; the lab's differential found it).
    let rows: &[(&str, Proto, OutcomeKind, &str)] = &[
        ("dropped:80", Proto::Udp, OutcomeKind::Dropped, SEES_EPERM),
        ("rejected:80", Proto::Udp, OutcomeKind::Rejected, SEES_EPERM),
        (
            "dropped",
            Proto::Icmp,
            OutcomeKind::Dropped,
            "connection timed out (no answer)",
        ),
        (
            "rejected",
            Proto::Icmp,
            OutcomeKind::Rejected,
            "destination unreachable (ICMP)",
        ),
    ];
    for (to, proto, kind, sees) in rows {
        let t = run(&scn, "src", to, |q| {
            q.proto = *proto;
            q.ipv6 = true;
        });
        assert_eq!(
            (t.outcome.kind, t.outcome.client_sees.as_str()),
            (*kind, *sees),
            "src -> {to} ({proto:?}, IPv6): {}",
            t.outcome.text
        );
    }
}

/// Reverse proxies chain: each hands the request to its upstream until a
/// service that is not a proxy answers; a request that comes back to a proxy
/// it has passed ends there with 508 Loop Detected (each proxy adds itself to
/// `Via`), whether the loop is one proxy to itself, two to each other, or a
/// longer ring entered from the side.
#[test]
fn reverse_proxy_chains_and_loops() {
    let yaml = r#"
networks:
  lan: { cidr: [10.0.0.0/24, "fd00::/64"] }
hosts:
  client: { at: lan 10.0.0.2 }
  a: { at: lan 10.0.0.10, listen: ["tcp/80 http"], proxy: { port: 80, mode: reverse, upstream: "b:80" } }
  b: { at: lan 10.0.0.11, listen: ["tcp/80 http"], proxy: { port: 80, mode: reverse, upstream: "c:8080" } }
  c: { at: lan 10.0.0.12, listen: ["tcp/8080 http"] }
  self: { at: lan 10.0.0.20, listen: ["tcp/80 http"], proxy: { port: 80, mode: reverse, upstream: "self:80" } }
  p: { at: lan 10.0.0.30, listen: ["tcp/80 http"], proxy: { port: 80, mode: reverse, upstream: "q:80" } }
  q: { at: lan 10.0.0.31, listen: ["tcp/80 http"], proxy: { port: 80, mode: reverse, upstream: "p:80" } }
  side: { at: lan 10.0.0.40, listen: ["tcp/80 http"], proxy: { port: 80, mode: reverse, upstream: "r1:80" } }
  r1: { at: lan 10.0.0.41, listen: ["tcp/80 http"], proxy: { port: 80, mode: reverse, upstream: "r2:80" } }
  r2: { at: lan 10.0.0.42, listen: ["tcp/80 http"], proxy: { port: 80, mode: reverse, upstream: "r3:80" } }
  r3: { at: lan 10.0.0.43, listen: ["tcp/80 http"], proxy: { port: 80, mode: reverse, upstream: "r1:80" } }
  v4only: { at: lan 10.0.0.50, listen: ["tcp/80 http"], proxy: { port: 80, mode: reverse, upstream: "v6only:80" } }
  v6only: { at: lan fd00::51, listen: ["tcp/80 http"] }
"#;
    let scn = scenario(yaml, None);
    let rows: &[(&str, OutcomeKind, &str, &[&str])] = &[
        ("a:80", OutcomeKind::Reached, "c", &["a", "b"]),
        ("self:80", OutcomeKind::ProxyLoop, "self", &["self", "self"]),
        ("p:80", OutcomeKind::ProxyLoop, "p", &["p", "q", "p"]),
        (
            "side:80",
            OutcomeKind::ProxyLoop,
            "r1",
            &["side", "r1", "r2", "r3", "r1"],
        ),
        // A proxy with no address of its upstream's family cannot connect
        // (ENETUNREACH), as a client could not (the lab's differential
        // found it: the model called it reached at the proxy).
        ("v4only:80", OutcomeKind::NoRoute, "v4only", &["v4only"]),
    ];
    for (to, kind, at, proxies) in rows {
        let t = run(&scn, "client", to, |_| {});
        assert_eq!(
            (t.outcome.kind, t.outcome.at.as_deref().unwrap_or("")),
            (*kind, *at),
            "client -> {to}: {}",
            t.outcome.text
        );
        let seen: Vec<&str> = t
            .hops
            .iter()
            .filter(|h| h.stage == Stage::Proxy)
            .map(|h| h.device.as_str())
            .collect();
        assert_eq!(&seen, proxies, "client -> {to}");
        if *kind == OutcomeKind::ProxyLoop {
            assert_eq!(
                t.outcome.client_sees,
                format!("HTTP 508 Loop Detected from {at}")
            );
            let last = t.hops.last().unwrap();
            assert_eq!((last.stage, last.verdict), (Stage::Proxy, Verdict::Refuse));
            assert!(last.rule.is_some(), "the loop names the proxy declaration");
        }
    }
}

/// Each connection of a journey has its own conntrack entries: a proxy's
/// upstream connection that a router masquerades to the very tuple of the
/// client's connection (the model gives both the port 49152; in Linux they
/// have their own ephemeral ports, or the NAT picks another) gets its own
/// reply, not the client's. The lab's differential found it: a loop through
/// a masquerading router was `reply_lost` at the client.
#[test]
fn connections_of_one_journey_never_share_a_conntrack_entry() {
    let yaml = r#"
networks:
  inside: { cidr: 10.1.0.0/24, gateway: r }
  outside: { cidr: 10.0.0.0/24, gateway: r }
hosts:
  r: { router: true, at: [inside 10.1.0.1, outside 10.0.0.1], nat: ["masquerade from inside out outside"] }
  client: { at: inside 10.1.0.10 }
  q: { at: inside 10.1.0.20, listen: ["tcp/80 http"], proxy: { port: 80, mode: reverse, upstream: "p:80" } }
  p: { at: outside 10.0.0.30, listen: ["tcp/80 http"], proxy: { port: 80, mode: reverse, upstream: "q:80" } }
"#;
    let scn = scenario(yaml, None);
    let t = run(&scn, "client", "p:80", |_| {});
    assert_eq!(
        (t.outcome.kind, t.outcome.at.as_deref()),
        (OutcomeKind::ProxyLoop, Some("p")),
        "{}",
        t.outcome.text
    );
}

/// A sender standing for a network of both families sends to a host that
/// has only IPv6 addresses from its IPv6 address, as a host of both
/// families does (the lab's differential found it: the model said "no
/// address of the family", the kernel connected).
#[test]
fn a_stand_in_reaches_an_ipv6_only_host_over_ipv6() {
    let yaml = r#"
networks:
  dual: { cidr: [10.2.0.0/24, "fd00:3::/64"], gateway: r }
  six: { cidr: "fd00:2::/64", gateway: r }
hosts:
  r: { router: true, at: [dual 10.2.0.1 fd00:3::1, six fd00:2::1] }
  dualhost: { at: dual 10.2.0.10 fd00:3::10 }
  v6only: { at: six fd00:2::f, listen: ["tcp/8080 http"] }
"#;
    let scn = scenario(yaml, None);
    for from in ["dual", "dualhost"] {
        let t = run(&scn, from, "v6only:8080", |_| {});
        assert_eq!(
            t.outcome.kind,
            OutcomeKind::Reached,
            "{from}: {}",
            t.outcome.text
        );
        assert!(
            t.query.source_address.is_some_and(|a| a.is_ipv6()),
            "{from}: {:?}",
            t.query.source_address
        );
    }
}

/// Where Linux drops a crafted source, as the lab measured it
/// (`crates/lab/tests/lab_martian.rs`, Linux 6.18): martian sources at the
/// router's routing decision (IPv4) or on receipt (IPv6 `::1`, multicast);
/// IPv6 `::` and link-local when forwarded to another interface, but not
/// when delivered on their own link nor when forwarded back out it (a DNAT
/// to a host beside the sender); and with the reverse-path check on, a
/// subnet's directed broadcast and a router's subnet-router anycast.
#[test]
fn crafted_sources_stop_where_linux_stops_them() {
    let yaml = r#"
networks:
  internet: { cidr: ["0.0.0.0/0", "::/0"], gateway: r }
  lan: { cidr: ["10.70.0.0/24", "fd00:70::/64"], gateway: r }
hosts:
  r:
    router: true
    at: ["internet 198.51.100.1 2001:db8:70::1", "lan 10.70.0.1 fd00:70::1"]
    listen: ["tcp/22 ssh"]
    nat: ["dnat tcp to 2001:db8:70::1 port 2222 in internet -> peer:22"]
  peer: { at: internet 198.51.100.20 2001:db8:70::20, listen: ["tcp/22 ssh"] }
  web: { at: lan 10.70.0.10 fd00:70::10, listen: ["tcp/80 http"] }
variants:
  strict:
    why: The router checks sources.
    hosts: { r: { rp_filter: strict } }
"#;
    // (variant, from, to, outcome, the device the request stops at, its stage)
    type Row<'a> = (
        Option<&'a str>,
        &'a str,
        &'a str,
        OutcomeKind,
        &'a str,
        Stage,
    );
    let rows: &[Row] = &[
        (
            None,
            "internet@0.0.0.0",
            "web:80",
            OutcomeKind::Dropped,
            "r",
            Stage::Martian,
        ),
        (
            None,
            "internet@127.0.0.5",
            "r:22",
            OutcomeKind::Dropped,
            "r",
            Stage::Martian,
        ),
        (
            None,
            "internet@0.1.2.3",
            "web:80",
            OutcomeKind::Reached,
            "web",
            Stage::Socket,
        ),
        (
            None,
            "internet@::1",
            "[fd00:70::10]:80",
            OutcomeKind::Dropped,
            "r",
            Stage::Martian,
        ),
        (
            None,
            "internet@fe80::1",
            "[fd00:70::10]:80",
            OutcomeKind::Dropped,
            "r",
            Stage::Martian,
        ),
        (
            None,
            "internet@fe80::1",
            "[2001:db8:70::1]:22",
            OutcomeKind::Reached,
            "r",
            Stage::Socket,
        ),
        // peer answers the sender directly, not through the DNAT: the
        // reply is lost, but the request arrived.
        (
            None,
            "internet@::",
            "[2001:db8:70::1]:2222",
            OutcomeKind::ReplyLost,
            "peer",
            Stage::Socket,
        ),
        (
            None,
            "lan@10.70.0.255",
            "10.70.0.1:22",
            OutcomeKind::Reached,
            "r",
            Stage::Socket,
        ),
        (
            Some("strict"),
            "lan@10.70.0.255",
            "10.70.0.1:22",
            OutcomeKind::Dropped,
            "r",
            Stage::ReversePath,
        ),
        (
            Some("strict"),
            "lan@10.70.0.0",
            "10.70.0.1:22",
            OutcomeKind::Reached,
            "r",
            Stage::Socket,
        ),
        (
            Some("strict"),
            "lan@fd00:70::",
            "[fd00:70::1]:22",
            OutcomeKind::Dropped,
            "r",
            Stage::ReversePath,
        ),
    ];
    for (variant, from, to, kind, at, stage) in rows {
        let scn = scenario(yaml, *variant);
        let t = run(&scn, from, to, |_| {});
        // The reply to a martian source is another matter: where the request went.
        let last = t
            .hops
            .iter()
            .take_while(|h| h.direction == Direction::Request)
            .last()
            .expect("a hop");
        assert_eq!(
            (t.outcome.kind, last.device.as_str(), last.stage),
            (*kind, *at, *stage),
            "{variant:?} {from} -> {to}: {}",
            t.outcome.text
        );
    }
}
