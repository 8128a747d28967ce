use pathproof_rulesets::{parse_packet, CtState, Hook};
use std::net::IpAddr;

#[test]
fn packet_lines() {
    let p = parse_packet("tcp 10.0.0.1:40000 -> 10.0.0.2:22 in eth0 state new hook input").unwrap();
    assert_eq!(p.protocol, 6);
    assert_eq!(p.src, "10.0.0.1".parse::<IpAddr>().unwrap());
    assert_eq!((p.sport, p.dport), (Some(40000), Some(22)));
    assert_eq!(p.in_iface.as_deref(), Some("eth0"));
    assert_eq!((p.state, p.hook), (CtState::New, Hook::Input));
    let p = parse_packet("tcp [2001:db8::1]:40000 -> [2001:db8::2]:22").unwrap();
    assert!(p.src.is_ipv6());
    assert_eq!(p.dport, Some(22));
    let p = parse_packet("icmpv6 2001:db8::1 -> 2001:db8::2 hook output out eth1 state related")
        .unwrap();
    assert_eq!(
        (p.protocol, p.hook, p.state),
        (58, Hook::Output, CtState::Related)
    );
    assert_eq!(p.out_iface.as_deref(), Some("eth1"));
    let p = parse_packet("47 1.1.1.1 -> 2.2.2.2").unwrap();
    assert_eq!(
        (p.protocol, p.sport, p.state, p.hook),
        (47, None, CtState::New, Hook::Input)
    );
}

#[test]
fn packet_errors_name_column() {
    let cases: &[(&str, usize, &str)] = &[
        ("", 1, "expected a protocol"),
        ("foo 1.1.1.1 -> 2.2.2.2", 1, "expected a protocol"),
        ("tcp 1.1.1.1:1 => 2.2.2.2:2", 15, "expected `->`"),
        ("tcp 1.1.1.1:1 -> 2.2.2.x:2", 18, "expected an IPv4 address"),
        (
            "tcp 1.1.1.1:70000 -> 2.2.2.2:2",
            5,
            "expected a port number",
        ),
        ("icmp 1.1.1.1:1 -> 2.2.2.2", 6, "ports are only allowed"),
        ("tcp 1.1.1.1:1 -> [::1]:2", 18, "same family"),
        (
            "tcp 1.1.1.1:1 -> 2.2.2.2:2 via eth0",
            28,
            "expected `in`, `out`, `state` or `hook`",
        ),
        (
            "tcp 1.1.1.1:1 -> 2.2.2.2:2 hook prerouting",
            33,
            "expected a hook",
        ),
        (
            "tcp 1.1.1.1:1 -> 2.2.2.2:2 state",
            33,
            "expected a value after \"state\"",
        ),
        ("tcp 1.1.1.1:1 -> 2.2.2.2:2 in a in b", 33, "given twice"),
        ("tcp 1.1.1.1:1 ->", 17, "expected a destination address"),
        ("tcp [::1:1 -> [::2]:2", 5, "expected `]`"),
    ];
    for (line, col, msg) in cases {
        let e = parse_packet(line).unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.message.contains(msg), "{line:?}: {e}");
        assert_eq!(e.column, *col, "{line:?}: {e}");
        assert!(e
            .to_string()
            .starts_with(&format!("line 1, column {col}: ")));
    }
}
