//! Parsers and the evaluator must never panic: arbitrary input gives Ok or Err.
use pathproof_rulesets::{parse_packet, parse_ruleset, Packet};
use proptest::prelude::*;

const NFT_TOKENS: &[&str] = &[
    "table",
    "inet",
    "ip",
    "ip6",
    "filter",
    "{",
    "}",
    "chain",
    "c",
    "d",
    "type",
    "hook",
    "input",
    "forward",
    "priority",
    "0",
    "-5",
    "+",
    ";",
    "policy",
    "drop",
    "accept",
    "\n",
    "saddr",
    "daddr",
    "10.0.0.0/8",
    "1.2.3.4-1.2.3.9",
    "2001:db8::/32",
    "@s",
    "set",
    "s",
    "elements",
    "=",
    "tcp",
    "udp",
    "th",
    "dport",
    "sport",
    "22",
    "80-90",
    "!=",
    ",",
    "jump",
    "goto",
    "return",
    "reject",
    "with",
    "icmp",
    "ct",
    "state",
    "new",
    "established",
    "iifname",
    "\"eth*\"",
    "oifname",
    "meta",
    "l4proto",
    "counter",
    "packets",
    "bytes",
    "log",
    "prefix",
    "\"x\"",
    "comment",
    "flags",
    "interval",
    "ipv4_addr",
    "inet_service",
    "# handle 3",
    "<",
    ">=",
    "\"",
    "nat",
    "prerouting",
    "vmap",
    "map",
    "m",
    "@m",
    ":",
    ".",
    "*",
    "|",
    "verdict",
    "typeof",
    "continue",
    "timeout",
    "1h",
    "expires",
    "ct_state",
    "ipv4_addr . inet_service",
    "10.0.0.0/8 . 22-25",
    "\"eth0\"",
    "invalid",
    "related",
    "nfproto",
    "ipv4",
    "@",
    "a b",
    "!",
    "established|related",
];

const IPT_TOKENS: &[&str] = &[
    "*filter",
    "*nat",
    "COMMIT",
    "\n",
    ":INPUT",
    ":U",
    "ACCEPT",
    "DROP",
    "-",
    "[0:0]",
    "-A",
    "INPUT",
    "U",
    "-s",
    "-d",
    "!",
    "10.0.0.0/8",
    "1.2.3.4",
    "-p",
    "tcp",
    "udp",
    "icmp",
    "-m",
    "multiport",
    "--dports",
    "22,80:90",
    "--dport",
    "1:2",
    "--sport",
    "conntrack",
    "--ctstate",
    "NEW,ESTABLISHED",
    "iprange",
    "--src-range",
    "1.1.1.1-1.1.1.9",
    "-j",
    "-g",
    "RETURN",
    "LOG",
    "--log-prefix",
    "\"a b\"",
    "REJECT",
    "--reject-with",
    "-i",
    "eth+",
    "-o",
    "comment",
    "--comment",
    "\"",
    "state",
    "--state",
];

fn soup(tokens: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(tokens), 0..80).prop_map(|v| v.join(" "))
}

fn packets() -> Vec<Packet> {
    [
        "tcp 10.0.0.1:1 -> 10.0.0.2:22",
        "udp 1.2.3.5:53 -> 10.0.0.2:85 in eth0 state established",
        "icmp 1.1.1.1 -> 2.2.2.2 hook forward in eth1 out eth2",
        "tcp [2001:db8::1]:1 -> [2001:db8::2]:80 hook output out lo",
        "tcp 10.0.0.1:1 -> 10.0.0.2:22 in eth0 state invalid",
        "udp 10.1.2.3:9 -> 10.0.0.2:25 state related",
    ]
    .iter()
    .map(|p| parse_packet(p).unwrap())
    .collect()
}

fn exercise(text: &str) {
    if let Ok(rs) = parse_ruleset(text) {
        for p in packets() {
            let d = rs.evaluate(&p);
            let _ = d.render_line();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn arbitrary_text_never_panics(s in ".{0,300}") {
        exercise(&s);
        let _ = parse_packet(&s);
    }

    #[test]
    fn nft_token_soup_never_panics(s in soup(NFT_TOKENS)) {
        exercise(&s);
        exercise(&format!("table inet t {{\n chain c {{\n type filter hook input priority 0; policy drop;\n {s}\n }}\n}}\n"));
    }

    #[test]
    fn nft_map_soup_never_panics(s in soup(NFT_TOKENS)) {
        // Elements of a named and an anonymous map, a map declaration's body, and a key.
        exercise(&format!("table inet t {{\n map m {{\n type inet_service : verdict\n elements = {{ {s} }}\n }}\n chain d {{\n }}\n chain c {{\n type filter hook input priority 0; policy drop;\n tcp dport vmap @m\n tcp dport vmap {{ {s} }}\n }}\n}}\n"));
        exercise(&format!("table ip t {{\n map m {{\n {s}\n }}\n chain d {{\n }}\n chain c {{\n type filter hook input priority 0; policy drop;\n ip saddr . tcp dport vmap @m\n ct state vmap @m\n }}\n}}\n"));
        exercise(&format!("table inet t {{\n chain d {{\n }}\n chain c {{\n type filter hook input priority 0; policy drop;\n {s} vmap {{ 22 : jump d, * : continue }}\n }}\n}}\n"));
    }

    #[test]
    fn iptables_token_soup_never_panics(s in soup(IPT_TOKENS)) {
        exercise(&s);
        exercise(&format!("*filter\n:INPUT DROP [0:0]\n:U - [0:0]\n-A INPUT {s}\nCOMMIT\n"));
    }

    #[test]
    fn packet_soup_never_panics(v in prop::collection::vec(prop::sample::select(vec!["tcp", "udp", "icmp", "6", "->", "1.2.3.4:5", "[::1]:7", "::1", "in", "out", "eth0", "state", "new", "hook", "input", "[", "]:", ":", "99999"]), 0..12)) {
        let _ = parse_packet(&v.join(" "));
    }
}
