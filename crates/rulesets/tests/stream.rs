//! The packet stream (`stream::run`, behind `pathproof filter --packets`): its output
//! is byte for byte what deciding each line alone gives (with the rule-by-rule
//! reference evaluation), whatever the chunk size (one byte up), the number of
//! workers and the queues; it stops at the first bad line with the lines before it
//! written; `Mode::Validate` finds every bad line.
mod common;
use common::parse_ok;
use pathproof_rulesets::classifier::SplitMix64;
use pathproof_rulesets::stream::{self, BadLine, Line, Mode, StreamOptions};
use pathproof_rulesets::{parse_packet, Decision, Ruleset};
use proptest::prelude::*;
use std::fmt::Write as _;
use std::sync::OnceLock;

/// A long chain (accelerated: 300 five-tuple rules) jumped to from a short one with
/// conntrack and interface matches, as iptables-save.
fn iptables() -> &'static Ruleset {
    static R: OnceLock<Ruleset> = OnceLock::new();
    R.get_or_init(|| {
        let mut g = SplitMix64(11);
        let mut t = String::from(
            "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:BIG - [0:0]\n\
             -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n\
             -A INPUT -i lo -j ACCEPT\n-A INPUT -j BIG\n-A FORWARD -o eth1 -j REJECT\n",
        );
        for i in 0..300 {
            let net = |g: &mut SplitMix64| {
                let l = [8u8, 16, 24, 32][g.range(0, 3) as usize];
                let a = [10u32 << 24, 192 << 24 | 168 << 16, 172 << 24 | 16 << 16][g.range(0, 2) as usize]
                    | (g.range(0, 3) as u32) << 8
                    | g.range(0, 3) as u32;
                let a = if l == 32 { a } else { a & (u32::MAX << (32 - l)) };
                format!("{}/{l}", std::net::Ipv4Addr::from(a))
            };
            let _ = write!(t, "-A BIG -s {} -d {}", net(&mut g), net(&mut g));
            match g.range(0, 3) {
                0 => {
                    let lo = g.range(0, 1024);
                    let _ = write!(t, " -p tcp -m tcp --dport {lo}:{}", lo + g.range(0, 100));
                }
                1 => {
                    let _ = write!(t, " -p udp -m udp --sport 0:{}", g.range(0, 2000));
                }
                2 => t.push_str(" -p icmp"),
                _ => {}
            }
            t.push_str([" -j ACCEPT\n", " -j DROP\n", " -j REJECT\n"][i % 3]);
        }
        t.push_str("COMMIT\n");
        let r = parse_ok(&t);
        assert_eq!(r.accelerated_chains(), 1);
        r
    })
}

/// Verdict maps and a tie between two tables' base chains, as nft.
fn nft() -> &'static Ruleset {
    static R: OnceLock<Ruleset> = OnceLock::new();
    R.get_or_init(|| {
        parse_ok(
            "table ip a {\n  map ports {\n    type inet_service : verdict\n    elements = { 22 : accept, 443 : drop }\n  }\n  chain input {\n    type filter hook input priority 0; policy accept;\n    tcp dport vmap @ports\n  }\n}\ntable inet b {\n  chain input {\n    type filter hook input priority 0; policy accept;\n    tcp dport vmap { 443 : jump no }\n    ip6 saddr 2001:db8::/32 drop\n  }\n  chain no {\n    reject\n  }\n}\n",
        )
    })
}

/// One decision as `pathproof filter` writes it (text).
fn text(d: &Decision, line: &str, out: &mut String) {
    let _ = writeln!(out, "{}\t{line}", d.render_line());
    if let Some(t) = d.render_tie() {
        let _ = writeln!(out, "  {t}");
    }
}

/// The reference: every line alone, trimmed, skipped when blank or a comment, parsed
/// and decided rule by rule; up to the first bad line.
fn reference(rules: &Ruleset, input: &str) -> (String, Option<usize>) {
    let mut out = String::new();
    for (i, l) in input.lines().enumerate() {
        let l = l.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        match parse_packet(l) {
            Ok(p) => text(&rules.evaluate_reference(&p), l, &mut out),
            Err(_) => return (out, Some(i + 1)),
        }
    }
    (out, None)
}

fn streamed(rules: &Ruleset, input: &str, options: &StreamOptions) -> (String, stream::Outcome) {
    let emit = |l: &Line<'_>, out: &mut Vec<u8>| {
        let mut s = String::new();
        text(&rules.evaluate_verdict(&l.packet), l.text, &mut s);
        out.extend_from_slice(s.as_bytes());
    };
    let mut out = Vec::new();
    let o = stream::run(input.as_bytes(), &mut out, options, Mode::Decide, &emit).expect("runs");
    (String::from_utf8(out).expect("text"), o)
}

/// A random packet line (sometimes with clauses, IPv6, odd spacing), a blank line, a
/// comment, or (when `bad`) a line that is not a packet.
fn line(g: &mut SplitMix64, bad: bool) -> String {
    let ip = |g: &mut SplitMix64| {
        format!(
            "{}.{}.{}.{}",
            [10, 192, 172, 8][g.range(0, 3) as usize],
            [0, 168, 16, 1][g.range(0, 3) as usize],
            g.range(0, 3),
            g.range(0, 5)
        )
    };
    let port = |g: &mut SplitMix64| [0u64, 22, 53, 80, 443, 1023, 65535][g.range(0, 6) as usize];
    if bad {
        return match g.range(0, 4) {
            0 => format!("tcp {} => {}", ip(g), ip(g)),
            1 => format!("tcp {}:99999 -> {}", ip(g), ip(g)),
            2 => format!("icmp {}:1 -> {}", ip(g), ip(g)),
            3 => "bogus".to_string(),
            _ => format!("udp {} -> {} state sideways", ip(g), ip(g)),
        };
    }
    let mut l = match g.range(0, 9) {
        0 => String::new(),
        1 => "# a comment".to_string(),
        2 => format!("icmp {} -> {}", ip(g), ip(g)),
        3 => format!("tcp {} -> {}", ip(g), ip(g)),
        4 => format!("tcp [2001:db8::{}]:{} -> [::1]:443", g.range(1, 9), port(g)),
        5 => format!("47 {} -> {}", ip(g), ip(g)),
        _ => format!(
            "{} {}:{} -> {}:{}",
            ["tcp", "udp", "TCP"][g.range(0, 2) as usize],
            ip(g),
            port(g),
            ip(g),
            port(g)
        ),
    };
    if !l.is_empty() && !l.starts_with('#') {
        for (kw, vals) in [
            ("state", &["new", "established", "related", "invalid"][..]),
            ("in", &["lo", "eth0"][..]),
            ("out", &["eth1", "eth0"][..]),
            ("hook", &["input", "forward", "output"][..]),
        ] {
            if g.range(0, 4) == 0 {
                let _ = write!(
                    l,
                    " {kw} {}",
                    vals[g.range(0, vals.len() as u64 - 1) as usize]
                );
            }
        }
    }
    let pad = ["", " ", "\t", "  "];
    format!(
        "{}{l}{}",
        pad[g.range(0, 3) as usize],
        pad[g.range(0, 3) as usize]
    )
}

/// A file of `n` lines, line endings `\n` or `\r\n`, with or without a last newline;
/// with a bad line at `bad` (1-based), if given.
fn file(seed: u64, n: usize, bad: Option<usize>) -> String {
    let mut g = SplitMix64(seed);
    let crlf = g.range(0, 1) == 1;
    let mut s = String::new();
    for i in 1..=n {
        s.push_str(&line(&mut g, bad == Some(i)));
        if i < n || g.range(0, 1) == 1 {
            s.push_str(if crlf { "\r\n" } else { "\n" });
        }
    }
    s
}

fn options(chunk_bytes: usize, workers: usize, queue: usize) -> StreamOptions {
    StreamOptions {
        chunk_bytes,
        workers,
        queue,
        ..StreamOptions::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Valid input: the stream writes exactly the reference, whatever the chunk
    /// size (from one byte: every line its own chunk), workers and queues.
    #[test]
    fn the_stream_is_each_packet_decided_alone(
        seed in any::<u64>(),
        n in 0usize..400,
        chunk_bytes in prop_oneof![1usize..64, 64usize..4096],
        workers in 1usize..5,
        queue in 1usize..4,
        use_nft in any::<bool>(),
    ) {
        let rules = if use_nft { nft() } else { iptables() };
        let input = file(seed, n, None);
        let (want, bad) = reference(rules, &input);
        prop_assert_eq!(bad, None);
        let (got, o) = streamed(rules, &input, &options(chunk_bytes, workers, queue));
        prop_assert_eq!(&got, &want);
        prop_assert_eq!(o.bad_lines, 0);
        prop_assert_eq!(o.packets as usize, want.lines().filter(|l| !l.starts_with("  ")).count());
    }

    /// A bad line: the lines before it are written, exactly as the reference, and
    /// nothing after; the bad line's number is reported.
    #[test]
    fn the_stream_stops_at_the_first_bad_line(
        seed in any::<u64>(),
        n in 1usize..300,
        at in any::<prop::sample::Index>(),
        chunk_bytes in prop_oneof![1usize..64, 64usize..4096],
        workers in 1usize..5,
    ) {
        let bad_at = at.index(n) + 1;
        let input = file(seed, n, Some(bad_at));
        let (want, bad) = reference(iptables(), &input);
        prop_assert_eq!(bad, Some(bad_at));
        let (got, o) = streamed(iptables(), &input, &options(chunk_bytes, workers, 2));
        prop_assert_eq!(&got, &want);
        prop_assert_eq!(o.bad_lines, 1);
        prop_assert_eq!(o.bad[0].line, bad_at);
    }
}

/// Every bad line is found by `Mode::Validate` (the first `max_reported` listed),
/// nothing is written, and the column counts from the start of the line as written.
#[test]
fn validate_finds_every_bad_line() {
    let input = "tcp 10.0.0.1:1 -> 10.0.0.2:2\n  tcp 10.0.0.1 => 10.0.0.2\n\n# x\nicmp 1.2.3.4:5 -> 1.2.3.4\nudp 1.1.1.1:1 -> 2.2.2.2:2\nnope\n";
    for chunk_bytes in [1, 7, 30, 4096] {
        let mut out = Vec::new();
        let o = stream::run(
            input.as_bytes(),
            &mut out,
            &options(chunk_bytes, 2, 1),
            Mode::Validate { max_reported: 2 },
            &|_: &Line<'_>, o: &mut Vec<u8>| o.push(b'!'),
        )
        .unwrap();
        assert!(out.is_empty());
        assert_eq!(o.bad_lines, 3);
        assert_eq!(o.packets, 2);
        assert_eq!(
            o.bad[0],
            BadLine {
                line: 2,
                column: 16,
                message: "expected `->`, got \"=>\"".into()
            }
        );
        assert_eq!(o.bad[1].line, 5);
        assert_eq!(o.bad.len(), 2);
    }
}

/// A line that is not UTF-8 or longer than `max_line` is a bad line, with its number.
#[test]
fn not_utf8_and_too_long_lines_are_bad_lines() {
    let mut input = b"tcp 10.0.0.1:1 -> 10.0.0.2:2\ntcp 10.0.0.1:1 -> 10.\xff0.0.2:2\n".to_vec();
    let mut out = Vec::new();
    let emit = |_: &Line<'_>, o: &mut Vec<u8>| o.extend_from_slice(b"ok\n");
    let o = stream::run(&input[..], &mut out, &options(5, 2, 1), Mode::Decide, &emit).unwrap();
    assert_eq!(out, b"ok\n");
    assert_eq!(
        o.bad,
        vec![BadLine {
            line: 2,
            column: 22,
            message: "expected UTF-8 text, got the byte 0xff".into()
        }]
    );
    input = format!(
        "tcp 10.0.0.1:1 -> 10.0.0.2:2\n{}\ntcp 10.0.0.1:1 -> 10.0.0.2:2\n",
        " ".repeat(100)
    )
    .into_bytes();
    let opts = StreamOptions {
        max_line: 99,
        ..options(10, 1, 1)
    };
    let mut out = Vec::new();
    let o = stream::run(&input[..], &mut out, &opts, Mode::Decide, &emit).unwrap();
    assert_eq!(out, b"ok\n");
    assert_eq!(o.bad[0].line, 2);
    assert!(o.bad[0].message.contains("longer than 99 bytes"));
    // Validation goes on after it, with the right line numbers.
    input.extend_from_slice(b"x\n");
    let o = stream::run(
        &input[..],
        &mut Vec::new(),
        &opts,
        Mode::Validate { max_reported: 9 },
        &emit,
    )
    .unwrap();
    assert_eq!(o.bad.iter().map(|b| b.line).collect::<Vec<_>>(), vec![2, 4]);
    // Exactly `max_line` bytes is not too long.
    let ok = format!("{:<99}\n", "tcp 10.0.0.1:1 -> 10.0.0.2:2");
    let mut out = Vec::new();
    let o = stream::run(ok.as_bytes(), &mut out, &opts, Mode::Decide, &emit).unwrap();
    assert_eq!((o.packets, o.bad_lines), (1, 0));
}

/// A reader that went away ends the stream quietly, however much is left.
#[test]
fn a_closed_output_ends_the_stream() {
    struct Closed;
    impl std::io::Write for Closed {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let input = "tcp 10.0.0.1:1 -> 10.0.0.2:2\n".repeat(100_000);
    let emit = |_: &Line<'_>, o: &mut Vec<u8>| o.extend_from_slice(b"ok\n");
    let o = stream::run(
        input.as_bytes(),
        &mut Closed,
        &options(1000, 2, 1),
        Mode::Decide,
        &emit,
    )
    .unwrap();
    assert!(o.closed);
    assert!(o.packets < 100_000);
}
