mod common;
use common::*;
use pathproof_rulesets::{parse_ruleset, DecidedBy, Format, Hook, Step, Verdict, Via};

const RS: &str = r#"table inet filter {
	set blocked {
		type ipv4_addr
		flags interval
		elements = { 203.0.113.0/24, 198.51.100.7,
			     192.0.2.1-192.0.2.9 }
	}

	set webports {
		type inet_service
		elements = { 80, 443 }
	}

	chain input {
		type filter hook input priority filter; policy drop;
		ct state established,related accept # handle 4
		ct state invalid counter packets 3 bytes 120 drop
		iifname "lo" accept
		ip saddr @blocked log prefix "blocked " level warn drop
		tcp dport 22 ip saddr 10.0.0.0/8 accept
		tcp dport @webports jump web
		udp dport { 53, 5353-5360 } accept
		meta l4proto icmp reject with icmp type port-unreachable
		ip6 saddr 2001:db8::/32 tcp dport 22 accept
		iifname "wg*" goto vpn
		tcp dport != { 1-1023 } ip saddr != 10.0.0.0/8 counter accept comment "high ports"
		ct state { untracked } th dport 7 accept
		meta l4proto { tcp, udp } iifname { "eth9", "eth8" } accept
	}

	chain web {
		ip saddr 192.168.0.0/16 return
		accept comment "web ok"
	}

	chain vpn {
		tcp dport 3389 accept
	}
}
table ip extra {
	chain early {
		type filter hook input priority -10; policy accept;
		tcp dport 23 drop
		tcp dport 8443 accept
	}

	chain late {
		type filter hook input priority filter + 10; policy accept;
		tcp dport 8443 drop
	}
}
table ip6 v6only {
	chain input6 {
		type filter hook input priority 5; policy accept;
		tcp dport 2222 drop
	}
}
table ip fwd {
	chain fw {
		type filter hook forward priority 0; policy drop;
		iifname "eth0" oifname != "eth0" accept
		oifname "wan*" ip daddr 8.8.8.0-8.8.8.255 accept
	}
	chain out {
		type filter hook output priority 0; policy accept;
		iifname "lo" drop
		oifname "lo" reject
	}
}
"#;

#[test]
fn nft_table() {
    run_table(
        RS,
        &[
            (
                "tcp 8.8.8.8:5000 -> 10.0.0.1:9 state established",
                "accept",
                "rule:ct state established,related accept",
            ),
            (
                "tcp 8.8.8.8:5000 -> 10.0.0.1:9 state invalid",
                "drop",
                "rule:ct state invalid counter",
            ),
            (
                "tcp 8.8.8.8:5000 -> 10.0.0.1:9 in lo",
                "accept",
                "rule:iifname \"lo\" accept",
            ),
            // named interval set (prefix, single, range)
            (
                "tcp 192.0.2.5:5000 -> 10.0.0.1:80",
                "drop",
                "rule:ip saddr @blocked",
            ),
            (
                "tcp 203.0.113.200:5000 -> 10.0.0.1:80",
                "drop",
                "rule:ip saddr @blocked",
            ),
            (
                "tcp 198.51.100.7:5000 -> 10.0.0.1:80",
                "drop",
                "rule:ip saddr @blocked",
            ),
            // 198.51.100.8 not blocked: named port set -> jump web -> accept there
            (
                "tcp 198.51.100.8:5000 -> 10.0.0.1:80",
                "accept",
                "rule:web ok",
            ),
            // return from web back to input; nothing else matches -> policy drop
            (
                "tcp 192.168.1.1:5000 -> 10.0.0.1:443",
                "drop",
                "policy:chain input {",
            ),
            (
                "tcp 10.1.1.1:5000 -> 10.0.0.1:22",
                "accept",
                "rule:tcp dport 22 ip saddr 10.0.0.0/8",
            ),
            (
                "tcp 11.1.1.1:5000 -> 10.0.0.1:22",
                "drop",
                "policy:chain input {",
            ),
            // anonymous port set with range
            (
                "udp 8.8.8.8:1 -> 10.0.0.1:5355",
                "accept",
                "rule:udp dport { 53, 5353-5360 }",
            ),
            (
                "udp 8.8.8.8:1 -> 10.0.0.1:53",
                "accept",
                "rule:udp dport { 53, 5353-5360 }",
            ),
            (
                "udp 8.8.8.8:1 -> 10.0.0.1:54",
                "drop",
                "policy:chain input {",
            ),
            (
                "icmp 8.8.8.8 -> 10.0.0.1",
                "reject",
                "rule:meta l4proto icmp reject",
            ),
            // goto: falls off vpn -> base chain policy
            (
                "tcp 10.1.1.1:5000 -> 10.0.0.1:3389 in wg0",
                "accept",
                "rule:tcp dport 3389 accept",
            ),
            (
                "tcp 10.1.1.1:5000 -> 10.0.0.1:3390 in wg0",
                "drop",
                "policy:chain input {",
            ),
            (
                "tcp 10.1.1.1:5000 -> 10.0.0.1:3390 in eth9",
                "accept",
                "rule:meta l4proto { tcp, udp } iifname",
            ),
            (
                "udp 10.1.1.1:5000 -> 10.0.0.1:3390 in eth7",
                "drop",
                "policy:chain input {",
            ),
            // != on a set and on a prefix
            (
                "tcp 8.8.8.8:5000 -> 10.0.0.1:3390",
                "accept",
                "rule:high ports",
            ),
            (
                "tcp 8.8.8.8:5000 -> 10.0.0.1:999",
                "drop",
                "policy:chain input {",
            ),
            (
                "udp 8.8.8.8:5000 -> 10.0.0.1:7 state untracked",
                "accept",
                "rule:ct state { untracked } th dport 7",
            ),
            // multiple base chains on the input hook: early (-10) accept continues, late (+10) drops
            (
                "tcp 1.2.3.4:5000 -> 10.0.0.1:23 state established",
                "drop",
                "rule:tcp dport 23 drop",
            ),
            (
                "tcp 8.8.8.8:5000 -> 10.0.0.1:8443",
                "drop",
                "rule:tcp dport 8443 drop",
            ),
            // ip table ignores IPv6; ip6 table ignores IPv4
            (
                "tcp [2001:db8::1]:5000 -> [2001:db8::2]:22",
                "accept",
                "rule:ip6 saddr 2001:db8::/32",
            ),
            (
                "tcp [2001:db8::1]:5000 -> [2001:db8::2]:23 state established",
                "accept",
                "rule:ct state established,related accept",
            ),
            (
                "tcp [2001:db8::1]:5000 -> [2001:db8::2]:2222 state established",
                "drop",
                "rule:tcp dport 2222 drop",
            ),
            (
                "tcp 8.8.8.8:5000 -> 10.0.0.1:2222 state established",
                "accept",
                "rule:ct state established,related accept",
            ),
            // ip saddr != ... never matches an IPv6 packet: falls to policy
            (
                "tcp [2001:db9::1]:5000 -> [2001:db8::2]:3000",
                "drop",
                "policy:chain input {",
            ),
            // forward hook: interface names, != on oifname, address range
            (
                "tcp 10.0.0.5:1 -> 1.1.1.1:2 in eth0 out wan0 hook forward",
                "accept",
                "rule:iifname \"eth0\" oifname != \"eth0\"",
            ),
            (
                "tcp 10.0.0.5:1 -> 1.1.1.1:2 in eth0 out eth0 hook forward",
                "drop",
                "policy:chain fw {",
            ),
            (
                "tcp 10.0.0.5:1 -> 8.8.8.77:2 in eth1 out wan3 hook forward",
                "accept",
                "rule:8.8.8.0-8.8.8.255",
            ),
            (
                "tcp 10.0.0.5:1 -> 8.8.9.1:2 in eth1 out wan3 hook forward",
                "drop",
                "policy:chain fw {",
            ),
            // output hook: iifname does not exist there -> never matches; oifname does
            (
                "udp 10.0.0.1:1 -> 10.0.0.1:2 in lo out lo hook output",
                "reject",
                "rule:oifname \"lo\" reject",
            ),
            (
                "udp 10.0.0.1:1 -> 10.0.0.9:2 out eth0 hook output",
                "accept",
                "policy:chain out {",
            ),
            // IPv6 forward: no ip6/inet base chain on forward -> accepted
            (
                "udp [2001:db8::1]:1 -> [2001:db8::2]:2 hook forward",
                "accept",
                "none",
            ),
        ],
    );
}

#[test]
fn nft_paths() {
    let rs = parse_ok(RS);
    assert_eq!(rs.format(), Format::Nft);
    let d = eval(&rs, "tcp 192.0.2.5:5000 -> 10.0.0.1:80");
    let l = line_of(RS, "ip saddr @blocked");
    assert!(d.path.contains(&Step::Log { line: l }), "{:?}", d.path);
    // base chains visited in priority order: early accepted before filter/input
    let names: Vec<String> = d
        .path
        .iter()
        .filter_map(|s| match s {
            Step::Enter { chain, .. } => Some(chain.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(names, vec!["early", "input"]);
    assert!(d.path.contains(&Step::Accepted {
        table: "extra".into(),
        chain: "early".into()
    }));
    let d = eval(&rs, "tcp 192.168.1.1:5000 -> 10.0.0.1:443");
    let jl = line_of(RS, "tcp dport @webports jump web");
    assert!(d.path.iter().any(
        |s| matches!(s, Step::Enter { chain, via: Via::Jump(x), .. } if chain == "web" && *x == jl)
    ));
    assert!(d
        .path
        .iter()
        .any(|s| matches!(s, Step::Return { chain, line: Some(_) } if chain == "web")));
    let d = eval(&rs, "tcp 8.8.8.8:5000 -> 10.0.0.1:8443");
    assert!(d.path.contains(&Step::Counter {
        line: line_of(RS, "high ports")
    }));
    let d = eval(&rs, "tcp 8.8.8.8:5000 -> 10.0.0.1:9 state established");
    match &d.decided_by {
        DecidedBy::Rule { text, .. } => {
            assert_eq!(text, "ct state established,related accept # handle 4")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(d.verdict, Verdict::Accept);
}

#[test]
fn nft_accept_in_one_table_then_policy_drop_in_next() {
    let text = "table ip a {\n\tchain c1 {\n\t\ttype filter hook input priority 0; policy accept;\n\t\taccept\n\t}\n}\ntable ip b {\n\tchain c2 {\n\t\ttype filter hook input priority 1; policy drop;\n\t}\n}\n";
    run_table(
        text,
        &[("udp 1.1.1.1:1 -> 2.2.2.2:2", "drop", "policy:chain c2")],
    );
    // equal priorities: the chain listed later runs first (as after `nft -f`), and
    // the verdict depends on the tie (see `nft_equal_priorities_*`)
    let text2 = "table ip a {\n\tchain c {\n\t\ttype filter hook input priority 0; policy accept;\n\t\tudp dport 1 drop\n\t}\n}\ntable ip b {\n\tchain c {\n\t\ttype filter hook input priority 0; policy accept;\n\t\tudp dport 1 reject\n\t}\n}\n";
    run_table(
        text2,
        &[(
            "udp 1.1.1.1:1 -> 2.2.2.2:1",
            "reject",
            "rule:udp dport 1 reject",
        )],
    );
    // a nat chain is noted and not evaluated
    let text3 = "table ip n {\n\tchain pre {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\t\ttcp dport 80 drop\n\t}\n}\n";
    let rs = parse_ok(text3);
    assert!(
        rs.notes().iter().any(|n| n.contains("nat chain")),
        "{:?}",
        rs.notes()
    );
    run_table(text3, &[("tcp 1.1.1.1:1 -> 2.2.2.2:80", "accept", "none")]);
    // a filter chain on prerouting is evaluated before input
    // no input device at the output hook: iifname is "" (as the kernel stores it), so != matches
    let text5 = "table ip o {\n\tchain out {\n\t\ttype filter hook output priority 0; policy accept;\n\t\tiifname != \"lo\" oifname \"eth0\" drop\n\t}\n}\n";
    run_table(
        text5,
        &[
            (
                "udp 1.1.1.1:1 -> 2.2.2.2:2 hook output out eth0",
                "drop",
                "rule:iifname != \"lo\"",
            ),
            (
                "udp 1.1.1.1:1 -> 2.2.2.2:2 hook output out eth1",
                "accept",
                "policy:chain out {",
            ),
        ],
    );
    let text4 = "table ip n {\n\tchain pre {\n\t\ttype filter hook prerouting priority 0; policy accept;\n\t\ttcp dport 80 drop\n\t}\n}\n";
    run_table(
        text4,
        &[
            (
                "tcp 1.1.1.1:1 -> 2.2.2.2:80",
                "drop",
                "rule:tcp dport 80 drop",
            ),
            ("tcp 1.1.1.1:1 -> 2.2.2.2:81 hook output", "accept", "none"),
        ],
    );
}

fn errors(text: &str) -> Vec<String> {
    match parse_ruleset(text) {
        Ok(_) => panic!("expected errors for {text}"),
        Err(e) => e.iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn nft_unknown_constructs_are_errors() {
    let wrap = |rule: &str| {
        format!("table inet t {{\n\tchain c {{\n\t\ttype filter hook input priority 0; policy accept;\n\t\t{rule}\n\t}}\n}}\n")
    };
    let cases: &[(&str, &str)] = &[
        (
            "tcp flags syn accept",
            "line 4, column 7: unsupported expression \"tcp flags\"",
        ),
        (
            "limit rate 10/second accept",
            "line 4, column 3: unsupported expression or statement \"limit\"",
        ),
        ("ip saddr @nosuch drop", "unknown set @nosuch"),
        ("jump nowhere", "jump to unknown chain \"nowhere\""),
        (
            "ip saddr 10.0.0.999 drop",
            "expected an IPv4 address, prefix or range",
        ),
        ("ct mark 1 accept", "unsupported expression \"ct mark\""),
        ("accept drop", "unsupported \"drop\" after the verdict"),
        ("meta mark 3 accept", "unsupported expression \"meta mark\""),
        (
            "tcp dport < { } accept",
            "line 4, column 15: `<` needs a single value",
        ),
        ("tcp dport >= { 1, 2 } accept", "`>=` needs a single value"),
        (
            "ip saddr map { 10.0.0.1 : 10.0.0.2 } accept",
            "line 4, column 12: unsupported map lookup",
        ),
        (
            "ip saddr . tcp dport { 10.0.0.1 . 22 } accept",
            "line 4, column 24: unsupported concatenation",
        ),
        (
            "tcp dport != vmap { 22 : accept }",
            "line 4, column 16: a verdict map lookup cannot be negated",
        ),
        ("ct state < new accept", "`<` on ct state is not supported"),
    ];
    for (rule, want) in cases {
        let errs = errors(&wrap(rule));
        assert!(
            errs.iter().any(|e| e.contains(want)),
            "rule {rule:?}: want {want:?}, got {errs:?}"
        );
    }
    // several errors at once, one per bad line
    let errs = errors("table ip t {\n\tchain c {\n\t\tfoo bar\n\t\taccept\n\t\tbaz\n\t}\n}\n");
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(
        errs[0].starts_with("line 3,") && errs[1].starts_with("line 5,"),
        "{errs:?}"
    );
    // structure
    let errs = errors("table ip t {\n\tchain c {\n\t\taccept\n");
    assert!(errs[0].contains("missing `}`"), "{errs:?}");
    let errs =
        errors("table ip t {\n\tchain a {\n\t\tjump b\n\t}\n\tchain b {\n\t\tgoto a\n\t}\n}\n");
    assert!(errs[0].contains("jump loop"), "{errs:?}");
    let errs = errors("table ip t {\n\tstuff m {\n\t}\n}\n");
    assert!(
        errs[0].contains("unsupported table statement \"stuff\""),
        "{errs:?}"
    );
    let errs = errors("table ip t {\n\tset s {\n\t\ttype ipv4_addr . inet_service\n\t}\n}\n");
    assert!(errs[0].contains("concatenations"), "{errs:?}");
    let errs = errors("table ip t {\n\tset s {\n\t\ttype inet_service\n\t\telements = { 22 }\n\t}\n\tchain c {\n\t\tip saddr @s drop\n\t}\n}\n");
    assert!(
        errs[0].contains("has type inet_service, expected ipv4_addr"),
        "{errs:?}"
    );
    let errs = errors("table ip t {\n\tchain c {\n\t\tpolicy drop;\n\t}\n}\n");
    assert!(
        errs[0].starts_with("line 3, column 3: `policy` in chain c, which is not a base chain"),
        "{errs:?}"
    );
    let errs = errors("table ip t {\n\tchain c {\n\t}\n\tchain c {\n\t}\n}\n");
    assert!(
        errs[0].starts_with("line 4, column 8: chain \"c\" defined twice"),
        "{errs:?}"
    );
    let errs = errors("hello\n");
    assert!(errs[0].contains("cannot tell the format"), "{errs:?}");
}

#[test]
fn nft_skips_other_families_with_note_and_typeof_sets() {
    let text = "table bridge br {\n\tchain cb {\n\t\ttype filter hook input priority 0; policy drop;\n\t}\n}\ntable ip t {\n\tset s {\n\t\ttypeof ip saddr\n\t\telements = { 1.2.3.4 }\n\t}\n\tchain c {\n\t\ttype filter hook input priority 0; policy accept;\n\t\tip saddr != @s drop\n\t}\n}\n";
    let rs = parse_ok(text);
    assert!(
        rs.notes()
            .iter()
            .any(|n| n.contains("bridge br") && n.contains("lines 1-5")),
        "{:?}",
        rs.notes()
    );
    run_table(
        text,
        &[
            ("udp 1.2.3.4:1 -> 5.5.5.5:2", "accept", "policy:chain c {"),
            (
                "udp 1.2.3.5:1 -> 5.5.5.5:2",
                "drop",
                "rule:ip saddr != @s drop",
            ),
        ],
    );
}

#[test]
fn nft_file_with_shebang_and_flush() {
    let text = "#!/usr/sbin/nft -f\nflush ruleset\n\ntable inet f {\n\tchain i {\n\t\ttype filter hook input priority 0; policy drop;\n\t\ttcp dport 22 accept\n\t}\n}\n";
    run_table(
        text,
        &[
            (
                "tcp 1.1.1.1:1 -> 2.2.2.2:22",
                "accept",
                "rule:tcp dport 22 accept",
            ),
            ("tcp 1.1.1.1:1 -> 2.2.2.2:23", "drop", "policy:chain i {"),
        ],
    );
    let errs = errors("flush table ip t\n");
    assert!(
        errs[0].contains("unsupported command \"flush table\""),
        "{errs:?}"
    );
}

/// Found by the lab's filter differential against the kernel: nft gives a
/// reject statement an implicit dependency on what its answer needs.
/// `reject with icmp type ...` in an `inet` table applies to IPv4 packets
/// only (`meta nfproto ipv4`), `reject with icmpv6 type ...` to IPv6 only,
/// and `reject with tcp reset` to TCP only (`meta l4proto tcp`), although
/// `nft list ruleset` prints none of these; other packets go on to the next
/// rule.
#[test]
fn nft_reject_kinds_carry_their_implicit_dependencies() {
    let text = r#"table inet f {
	chain input {
		type filter hook input priority filter; policy accept;
		reject with icmp type host-unreachable
		reject with icmpv6 type admin-prohibited
		reject with tcp reset
		udp dport 9 drop
	}
}
table ip g {
	chain output {
		type filter hook output priority filter; policy accept;
		reject with tcp reset comment "out"
		udp dport 7 drop
	}
}
"#;
    run_table(
        text,
        &[
            (
                "udp 10.0.0.1:5 -> 10.0.0.2:9",
                "reject",
                "rule:icmp type host",
            ),
            (
                "udp [2001:db8::1]:5 -> [2001:db8::2]:9",
                "reject",
                "rule:icmpv6 type",
            ),
            (
                "tcp [2001:db8::1]:5 -> [2001:db8::2]:9",
                "reject",
                "rule:icmpv6 type",
            ),
            (
                "tcp 10.0.0.1:5 -> 10.0.0.2:9",
                "reject",
                "rule:icmp type host",
            ),
            (
                "udp 10.0.0.1:5 -> 10.0.0.2:7 hook output",
                "drop",
                "rule:udp dport 7",
            ),
            (
                "tcp 10.0.0.1:5 -> 10.0.0.2:7 hook output",
                "reject",
                "rule:comment \"out\"",
            ),
        ],
    );
}

/// Verdict maps on every key the parser reads, named and anonymous, with every verdict
/// nft allows in them (accept, drop, continue, return, jump, goto) and a catch-all.
const VMAPS: &str = r#"table inet f {
	map ports {
		type inet_service : verdict
		elements = { 22 : accept, 80 : jump web, 443 : drop,
			     8000-8080 : goto alt }
	}

	map nets {
		type ipv4_addr : verdict
		flags interval
		elements = { 10.0.0.0/8 counter packets 0 bytes 0 : accept, 172.16.0.1 comment "one host" : continue,
			     192.168.1.1-192.168.1.20 : drop }
	}

	map states {
		typeof ct state : verdict
		elements = { established : accept, related : accept, invalid : drop }
	}

	map pairs {
		type ipv4_addr . inet_service : verdict
		flags interval
		elements = { 11.9.0.0/16 . 22-25 : accept, 1.2.3.4 . 53 : drop }
	}

	chain web {
		ip saddr 192.168.0.0/16 return
		tcp dport 80 accept
	}

	chain alt {
		udp sport vmap { 1 : return }
		tcp dport 8080 accept
	}

	chain input {
		type filter hook input priority filter; policy drop;
		ct state vmap @states
		iifname vmap { "lo" : accept, "eth*" : continue, "wg0" : drop }
		ip saddr . tcp dport vmap @pairs
		meta l4proto vmap { icmp : accept, ipv6-icmp : drop }
		tcp dport vmap @ports
		udp dport vmap { 53 : accept, 1000-2000 : drop, * : continue }
		ip saddr vmap @nets counter
		ip6 saddr vmap { 2001:db8::/32 : accept }
		th dport vmap { 7 : accept }
		ct state vmap { new | established : accept }
		meta nfproto vmap { ipv4 : continue, ipv6 : drop }
		udp sport 5 accept
	}
}
"#;

#[test]
fn nft_verdict_maps_decide() {
    run_table(
        VMAPS,
        &[
            // ct state map: established decides, new finds no element
            (
                "tcp 9.9.9.9:1 -> 10.0.0.1:9 state established",
                "accept",
                "rule:ct state vmap @states",
            ),
            (
                "tcp 9.9.9.9:1 -> 10.0.0.1:9 state invalid",
                "drop",
                "rule:ct state vmap @states",
            ),
            // interfaces, wildcard, continue
            (
                "tcp 9.9.9.9:1 -> 10.0.0.1:22 in lo",
                "accept",
                "rule:iifname vmap",
            ),
            (
                "tcp 9.9.9.9:1 -> 10.0.0.1:443 in eth3",
                "drop",
                "rule:tcp dport vmap @ports",
            ),
            (
                "tcp 9.9.9.9:1 -> 10.0.0.1:22 in wg0",
                "drop",
                "rule:iifname vmap",
            ),
            // concatenation
            (
                "tcp 11.9.1.1:1 -> 10.0.0.1:24",
                "accept",
                "rule:ip saddr . tcp dport vmap @pairs",
            ),
            (
                "tcp 11.9.1.1:1 -> 10.0.0.1:26",
                "drop",
                "policy:chain input {",
            ),
            (
                "udp 1.2.3.4:1 -> 10.0.0.1:53",
                "accept",
                "rule:udp dport vmap",
            ),
            // protocols
            (
                "icmp 9.9.9.9 -> 10.0.0.1",
                "accept",
                "rule:meta l4proto vmap",
            ),
            (
                "icmpv6 2001:db8::1 -> 2001:db8::2",
                "drop",
                "rule:meta l4proto vmap",
            ),
            // jump, return, fall through
            (
                "tcp 9.9.9.9:1 -> 10.0.0.1:80",
                "accept",
                "rule:tcp dport 80 accept",
            ),
            (
                "tcp 192.168.1.1:1 -> 10.0.0.1:80",
                "drop",
                "rule:ip saddr vmap @nets counter",
            ),
            (
                "tcp 192.168.5.5:1 -> 10.0.0.1:80",
                "drop",
                "policy:chain input {",
            ),
            // goto, then return from a goto'd chain: back to the base chain's caller (none): policy
            (
                "tcp 9.9.9.9:1 -> 10.0.0.1:8080",
                "accept",
                "rule:tcp dport 8080 accept",
            ),
            (
                "tcp 9.9.9.9:1 -> 10.0.0.1:8001",
                "drop",
                "policy:chain input {",
            ),
            // the catch-all goes on; a UDP key does not match TCP, nor TCP's UDP
            (
                "udp 9.9.9.9:5 -> 10.0.0.1:1500",
                "drop",
                "rule:udp dport vmap",
            ),
            (
                "udp 9.9.9.9:5 -> 10.0.0.1:99",
                "accept",
                "rule:udp sport 5 accept",
            ),
            // continue element, then the statement after the map runs (counter); the
            // rule does not decide
            (
                "udp 172.16.0.1:5 -> 10.0.0.1:99",
                "accept",
                "rule:udp sport 5 accept",
            ),
            (
                "tcp 10.1.1.1:5 -> 10.0.0.1:99",
                "accept",
                "rule:ip saddr vmap @nets counter",
            ),
            // IPv6 address map; `new | established` is one value no packet has
            (
                "tcp [2001:db8::1]:5 -> [2001:db8::2]:99",
                "accept",
                "rule:ip6 saddr vmap",
            ),
            (
                "tcp [2001:db9::1]:5 -> [2001:db8::2]:99",
                "drop",
                "rule:meta nfproto vmap",
            ),
            (
                "tcp 9.9.9.9:5 -> 10.0.0.1:7",
                "accept",
                "rule:th dport vmap",
            ),
            (
                "tcp 9.9.9.9:5 -> 10.0.0.1:99",
                "drop",
                "policy:chain input {",
            ),
        ],
    );
}

#[test]
fn nft_verdict_map_elements_are_in_the_decision_and_the_path() {
    let rs = parse_ok(VMAPS);
    let d = eval(&rs, "tcp 9.9.9.9:1 -> 10.0.0.1:443");
    assert_eq!(d.verdict, Verdict::Drop);
    assert_eq!(
        d.decided_by,
        DecidedBy::MapElement {
            line: line_of(VMAPS, "tcp dport vmap @ports"),
            text: "tcp dport vmap @ports".into(),
            map: Some("ports".into()),
            element_line: line_of(VMAPS, "elements = { 22 : accept"),
            element: "443 : drop".into(),
        }
    );
    assert_eq!(
        d.render_line(),
        format!(
            "drop    line {}: tcp dport vmap @ports (element `443 : drop`, line {} of map ports)",
            line_of(VMAPS, "tcp dport vmap @ports"),
            line_of(VMAPS, "elements = { 22 : accept")
        )
    );
    assert!(d.path.contains(&Step::MapElement {
        line: line_of(VMAPS, "tcp dport vmap @ports"),
        map: Some("ports".into()),
        element_line: line_of(VMAPS, "elements = { 22 : accept"),
        element: "443 : drop".into(),
        key: "443".into(),
    }));
    // A jump through a map: the element, then the chain entered from the rule's line.
    let d = eval(&rs, "tcp 9.9.9.9:1 -> 10.0.0.1:80");
    let rule = line_of(VMAPS, "tcp dport vmap @ports");
    let at = d
        .path
        .iter()
        .position(|s| matches!(s, Step::MapElement { element, .. } if element == "80 : jump web"))
        .expect("the element is in the path");
    assert!(
        matches!(&d.path[at + 1], Step::Enter { chain, via: Via::Jump(l), .. } if chain == "web" && *l == rule),
        "{:?}",
        d.path
    );
    // A continue element and the catch-all are in the path too; an anonymous map's
    // element names no map.
    let d = eval(&rs, "udp 172.16.0.1:5 -> 10.0.0.1:99");
    let els: Vec<(&Option<String>, &str, &str)> = d
        .path
        .iter()
        .filter_map(|s| match s {
            Step::MapElement {
                map, element, key, ..
            } => Some((map, element.as_str(), key.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(
        els,
        vec![
            (&None, "* : continue", "99"),
            (
                &Some("nets".to_string()),
                "172.16.0.1 : continue",
                "172.16.0.1"
            ),
            (&None, "ipv4 : continue", "ipv4"),
        ],
        "{:?}",
        d.path
    );
    assert!(d.path.contains(&Step::Counter {
        line: line_of(VMAPS, "ip saddr vmap @nets counter")
    }));
    // A concatenated key in words.
    let d = eval(&rs, "tcp 11.9.1.1:1 -> 10.0.0.1:24");
    assert!(d
        .path
        .iter()
        .any(|s| matches!(s, Step::MapElement { element, key, .. }
        if element == "11.9.0.0/16 . 22-25 : accept" && key == "11.9.1.1 . 24")));
    // An anonymous map over several lines names the element's own line.
    let text = "table ip t {\n\tchain c {\n\t\ttype filter hook input priority 0; policy accept;\n\t\ttcp dport vmap { 22 : accept,\n\t\t\t443 : drop }\n\t}\n}\n";
    let d = eval(&parse_ok(text), "tcp 1.1.1.1:1 -> 2.2.2.2:443");
    assert_eq!(
        d.render_line(),
        "drop    line 4: tcp dport vmap { 22 : accept, 443 : drop } (element `443 : drop`, line 5)"
    );
}

#[test]
fn nft_verdict_map_errors_name_line_and_column() {
    let wrap = |decl: &str, rule: &str| {
        format!("table inet t {{\n{decl}\n\tchain w {{\n\t}}\n\tchain c {{\n\t\ttype filter hook input priority 0; policy accept;\n\t\t{rule}\n\t}}\n}}\n")
    };
    let cases: &[(&str, &str, &str)] = &[
        (
            "",
            "tcp dport vmap { 22 : reject }",
            "line 7, column 25: unsupported verdict \"reject\" in a verdict map",
        ),
        (
            "",
            "tcp dport vmap { 22 : accept, 20-30 : drop }",
            "line 7, column 33: map element `20-30` overlaps `22` (line 7)",
        ),
        (
            "",
            "ip saddr vmap { 10.0.0.0/8 : accept, 10.1.0.0/16 : drop }",
            "map element `10.1.0.0/16` overlaps `10.0.0.0/8`",
        ),
        (
            "",
            "iifname vmap { \"eth*\" : accept, \"eth0\" : drop }",
            "map element `\"eth0\"` overlaps `\"eth*\"`",
        ),
        (
            "",
            "tcp dport vmap { * : accept, * : drop }",
            "map element `*` overlaps `*`",
        ),
        (
            "",
            "tcp dport vmap { 22 : accept, 99999 : drop }",
            "line 7, column 33: expected a port, range or service name, got \"99999\"",
        ),
        (
            "",
            "ip saddr vmap { 2001:db8::1 : accept }",
            "expected an IPv4 address, prefix or range",
        ),
        ("", "tcp dport vmap { 22 accept }", "expected ` : ` and a verdict"),
        ("", "tcp dport vmap @nope", "unknown map @nope"),
        ("", "tcp dport vmap { 22 : jump nowhere }", "jump to unknown chain \"nowhere\""),
        ("", "tcp dport vmap { 22 : jump c }", "cannot jump to base chain \"c\""),
        (
            "\tmap m {\n\t\ttype ipv4_addr : verdict\n\t}",
            "tcp dport vmap @m",
            "map @m has key type ipv4_addr, expected inet_service",
        ),
        (
            "\tmap m {\n\t\ttype ipv4_addr . inet_service : verdict\n\t\telements = { 1.2.3.4 : accept }\n\t}",
            "ip saddr . tcp dport vmap @m",
            "line 4, column 24: expected `.` and the next part of the key (inet_service), got \":\"",
        ),
        (
            "\tmap m {\n\t\ttype ipv4_addr : verdict\n\t\telements = { 1.2.3.4 : queue }\n\t}",
            "ip saddr vmap @m",
            "line 4, column 26: unsupported verdict \"queue\"",
        ),
        (
            "\tmap m {\n\t\ttype mark : verdict\n\t}",
            "ip saddr vmap @m",
            "unsupported map key type \"mark\"",
        ),
        ("", "ct state vmap { new : accept, bogus : drop }", "unsupported ct state \"bogus\""),
        ("", "tcp dport vmap", "line 7, column 17: expected `{` or `@MAP` after `vmap`, got end of line"),
        ("", "tcp dport vmap { 22 : accept", "missing `}`"),
    ];
    for (decl, rule, want) in cases {
        let text = wrap(decl, rule);
        let errs = errors(&text);
        assert!(
            errs.iter().any(|e| e.contains(want)),
            "{rule:?}: want {want:?}, got {errs:?}\n{text}"
        );
    }
    // Jump loops through maps are refused, as nft refuses them.
    let errs = errors("table ip t {\n\tchain a {\n\t\ttcp dport vmap { 1 : jump b }\n\t}\n\tchain b {\n\t\tudp dport vmap { 2 : goto a }\n\t}\n}\n");
    assert!(errs[0].contains("jump loop"), "{errs:?}");
    let errs = errors("table ip t {\n\tmap m {\n\t\ttype inet_service : verdict\n\t\telements = { 1 : jump a }\n\t}\n\tchain a {\n\t\ttcp dport vmap @m\n\t}\n}\n");
    assert!(errs[0].contains("jump loop through chain a"), "{errs:?}");
    // A map to something else than verdicts is noted; looking it up is an error.
    let rs = parse_ok("table ip t {\n\tmap m {\n\t\ttype ipv4_addr : ipv4_addr\n\t\telements = { 1.2.3.4 : 5.6.7.8 }\n\t}\n}\n");
    assert!(
        rs.notes()
            .iter()
            .any(|n| n.contains("map m (line 2) maps to ipv4_addr")),
        "{:?}",
        rs.notes()
    );
}

/// Two base chains in one table on one hook and priority: the one listed later runs
/// first (measured: `nft -f` registers them in order, and the kernel puts a new hook
/// before hooks of equal priority). Within a table that order is fixed, so there is
/// no tie note.
#[test]
fn nft_equal_priorities_in_one_table_run_the_later_chain_first() {
    let text = "table ip t {\n\tchain a {\n\t\ttype filter hook input priority 0; policy accept;\n\t\tudp dport 1 drop\n\t}\n\tchain b {\n\t\ttype filter hook input priority 0; policy accept;\n\t\tudp dport 1 reject\n\t}\n}\n";
    let rs = parse_ok(text);
    let d = eval(&rs, "udp 1.1.1.1:1 -> 2.2.2.2:1");
    assert_eq!((d.verdict, by(&d)), (Verdict::Reject, By::Rule(8)));
    assert_eq!(d.tie, None);
    assert_eq!(d.render_tie(), None);
}

#[test]
fn nft_equal_priorities_across_tables_carry_a_tie_note() {
    let text = "table ip a {\n\tchain c {\n\t\ttype filter hook input priority 0; policy accept;\n\t\tudp dport 1 drop\n\t\tudp dport 2 drop\n\t}\n}\ntable inet b {\n\tchain c {\n\t\ttype filter hook input priority 0; policy accept;\n\t\tudp dport 1 reject\n\t\tudp dport 2 drop\n\t\tudp dport 3 reject\n\t}\n\tchain d {\n\t\ttype filter hook input priority 0; policy accept;\n\t}\n}\ntable ip6 z {\n\tchain c {\n\t\ttype filter hook input priority 0; policy accept;\n\t\tudp dport 1 drop\n\t}\n}\n";
    let rs = parse_ok(text);
    let d = eval(&rs, "udp 1.1.1.1:1 -> 2.2.2.2:1");
    // b.d, b.c, a.c: b.c rejects first; registered before b, a.c would drop first.
    assert_eq!((d.verdict, by(&d)), (Verdict::Reject, By::Rule(11)));
    let t = d.tie.clone().expect("a tie note");
    assert_eq!(t.hook, Hook::Input);
    assert_eq!(t.priority, 0);
    assert_eq!(t.alternative, Verdict::Drop);
    assert_eq!(
        t.alternative_by,
        DecidedBy::Rule {
            line: 4,
            text: "udp dport 1 drop".into()
        }
    );
    let names: Vec<(&str, &str)> = t
        .chains
        .iter()
        .map(|c| (c.table.as_str(), c.chain.as_str()))
        .collect();
    assert_eq!(names, vec![("b", "d"), ("b", "c"), ("a", "c")]);
    assert_eq!(
        d.render_tie().unwrap(),
        "tie: base chains d (table b, line 15), c (table b, line 9), c (table a, line 2) share hook input priority 0; evaluated in the order nft -f gives them (the chain listed later first); registered in another order: drop line 4: udp dport 1 drop"
    );
    // The same verdict either way: no note.
    let d = eval(&rs, "udp 1.1.1.1:1 -> 2.2.2.2:2");
    assert_eq!(
        (d.verdict, by(&d), d.tie),
        (Verdict::Drop, By::Rule(12), None)
    );
    // Only one table decides; the other accepts: the verdict does not depend on the order.
    let d = eval(&rs, "udp 1.1.1.1:1 -> 2.2.2.2:3");
    assert_eq!((d.verdict, d.tie), (Verdict::Reject, None));
    // IPv6: table a (ip) does not see it; b and z tie.
    let d = eval(&rs, "udp [2001:db8::1]:1 -> [2001:db8::2]:1");
    assert_eq!((d.verdict, by(&d)), (Verdict::Drop, By::Rule(22)));
    let t = d.tie.expect("b and z tie for IPv6");
    assert_eq!(
        (t.alternative, by_of(&t.alternative_by)),
        (Verdict::Reject, By::Rule(11))
    );
    // Chains of another priority never tie.
    let text = "table ip a {\n\tchain c {\n\t\ttype filter hook input priority 0; policy drop;\n\t}\n}\ntable ip b {\n\tchain c {\n\t\ttype filter hook input priority 1; policy accept;\n\t\treject\n\t}\n}\n";
    let d = eval(&parse_ok(text), "udp 1.1.1.1:1 -> 2.2.2.2:1");
    assert_eq!((d.verdict, d.tie), (Verdict::Drop, None));
}

fn by_of(d: &DecidedBy) -> By {
    match d {
        DecidedBy::Rule { line, .. } | DecidedBy::MapElement { line, .. } => By::Rule(*line),
        DecidedBy::Policy { line, .. } => By::Policy(*line),
        DecidedBy::NoBaseChain => By::NoChain,
    }
}

/// `ct state` as nft 1.0.6 reads and prints it (measured: `nft --debug=netlink`, and
/// the kernel's verdicts in `differential_nft`): `a,b` tests the bits (any of them),
/// `! a,b` none of them, `a | b` and `!= a | b` compare one value exactly, and nft
/// reads `!= a,b` as `!= a | b`.
#[test]
fn nft_ct_state_as_nft_reads_it() {
    let text = "table ip t {\n\tchain c {\n\t\ttype filter hook input priority 0; policy accept;\n\t\tudp dport 1 ct state established,related drop\n\t\tudp dport 2 ct state ! established,related drop\n\t\tudp dport 3 ct state established | related drop\n\t\tudp dport 4 ct state != established | related drop\n\t\tudp dport 5 ct state != established,related drop\n\t\tudp dport 6 ct state != established drop\n\t\tudp dport 7 ct state != { established, related } drop\n\t\tudp dport 8 ct state { established, new } drop\n\t}\n}\n";
    let rs = parse_ok(text);
    let verdict = |dport: u16, state: &str| {
        eval(
            &rs,
            &format!("udp 1.1.1.1:9 -> 2.2.2.2:{dport} state {state}"),
        )
        .verdict
    };
    let d = Verdict::Drop;
    let a = Verdict::Accept;
    for (dport, est, new) in [
        (1, d, a),
        (2, a, d),
        (3, a, a),
        (4, d, d),
        (5, d, d),
        (6, a, d),
        (7, a, d),
        (8, d, d),
    ] {
        assert_eq!(
            (verdict(dport, "established"), verdict(dport, "new")),
            (est, new),
            "udp dport {dport}"
        );
    }
    assert!(
        rs.notes()
            .iter()
            .any(|n| n.starts_with("line 8: nft reads `ct state != a,b`")),
        "{:?}",
        rs.notes()
    );
    // `!` is for flags only.
    let errs = errors("table ip t {\n\tchain c {\n\t\ttcp dport ! 22 drop\n\t}\n}\n");
    assert!(
        errs[0].contains("line 3, column 13: `!` (none of the flags) applies to ct state only"),
        "{errs:?}"
    );
    let errs =
        errors("table ip t {\n\tchain c {\n\t\tct state new | established, invalid drop\n\t}\n}\n");
    assert!(errs[0].contains("`,` and `|` mixed"), "{errs:?}");
}

/// At postrouting a forwarded packet still has the device it came in on (the kernel's
/// `ip_output` passes `skb->dev` to the hook); a local packet has none. Found by the
/// nft differential.
#[test]
fn nft_postrouting_sees_a_forwarded_packets_input_device() {
    let text = "table inet t {\n\tchain post {\n\t\ttype filter hook postrouting priority 0; policy accept;\n\t\tiifname \"b*\" drop\n\t\tiifname \"\" reject\n\t}\n}\n";
    run_table(
        text,
        &[
            (
                "tcp 1.1.1.1:1 -> 2.2.2.2:3 in b0 out b1 hook forward",
                "drop",
                "rule:iifname \"b*\" drop",
            ),
            (
                "tcp 1.1.1.1:1 -> 2.2.2.2:3 in eth0 out b1 hook forward",
                "accept",
                "policy:chain post",
            ),
            (
                "tcp 1.1.1.1:1 -> 2.2.2.2:3 in b0 out b1 hook output",
                "reject",
                "rule:iifname \"\" reject",
            ),
        ],
    );
}

/// A table named twice (as an `nft -f` file may, to add to it) is one table: its sets,
/// maps and chains are shared, and its chains are registered in the order read, so a
/// base chain added after another table's runs first among equal priorities (what a
/// dump lists with its table, out of that order, and marks with a tie note).
#[test]
fn nft_a_table_in_two_blocks_is_one_table() {
    let loaded = "table inet a {\n\tset p {\n\t\ttype inet_service\n\t\telements = { 1 }\n\t}\n\tchain r {\n\t\treject\n\t}\n}\ntable inet b {\n\tchain c {\n\t\ttype filter hook input priority 0; policy accept;\n\t\tudp dport 1 drop\n\t}\n}\ntable inet a {\n\tchain c {\n\t\ttype filter hook input priority 0; policy accept;\n\t\tudp dport @p jump r\n\t}\n}\n";
    let rs = parse_ok(loaded);
    let d = eval(&rs, "udp 1.1.1.1:9 -> 2.2.2.2:1");
    // a.c was read last: it runs first, jumps to a.r, rejects; b.c would drop.
    assert_eq!((d.verdict, by(&d)), (Verdict::Reject, By::Rule(7)));
    let t = d.tie.expect("tables a and b tie");
    assert_eq!(
        (t.alternative, by_of(&t.alternative_by)),
        (Verdict::Drop, By::Rule(13))
    );
    // The dump of that load lists a.c with its table: b.c then runs first there.
    let dump = "table inet a {\n\tset p {\n\t\ttype inet_service\n\t\telements = { 1 }\n\t}\n\tchain r {\n\t\treject\n\t}\n\tchain c {\n\t\ttype filter hook input priority 0; policy accept;\n\t\tudp dport @p jump r\n\t}\n}\ntable inet b {\n\tchain c {\n\t\ttype filter hook input priority 0; policy accept;\n\t\tudp dport 1 drop\n\t}\n}\n";
    let d = eval(&parse_ok(dump), "udp 1.1.1.1:9 -> 2.2.2.2:1");
    assert_eq!((d.verdict, by(&d)), (Verdict::Drop, By::Rule(17)));
    assert_eq!(d.tie.map(|t| t.alternative), Some(Verdict::Reject));
    // `ip` and `inet` tables of one name are two tables; a jump across them fails.
    let errs = errors(
        "table ip a {\n\tchain r {\n\t}\n}\ntable inet a {\n\tchain c {\n\t\tjump r\n\t}\n}\n",
    );
    assert!(
        errs[0].contains("jump to unknown chain \"r\" in table a"),
        "{errs:?}"
    );
}
