//! `pathproof filter RULESET --pcap FILE` and `filter OLD NEW --pcap FILE`, end to
//! end, on captures recorded in the lab (`crates/lab/tests/filter_pcap.rs` made
//! the fixtures: the edge router's `eth1` as Ethernet, all its interfaces as Linux
//! cooked SLL and SLL2, the web server's packets as raw IP) and on forms made from
//! them here (pcapng, VLAN tags, raw IP, big-endian and nanosecond pcap): every
//! form gives the same decisions. Bad captures exit 2 naming the packet and the
//! byte offset.

mod common;
use common::pathproof;

const FIX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/pcap");
const RULES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../core/tests/rulesets");

fn fixture(name: &str) -> String {
    format!("{FIX}/{name}")
}

fn edge_rules() -> String {
    format!("{RULES}/edge.rules")
}

/// Runs `filter` on a capture; returns (exit code, stdout, stderr).
fn filter(args: &[&str]) -> (i32, String, String) {
    let out = pathproof().arg("filter").args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// The decision lines of IP packets (without the packet numbers, which differ when
/// a form drops non-IP records).
fn decisions(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter(|l| l.starts_with('#') && !l.contains("  skip ") && !l.starts_with("# "))
        .map(|l| {
            l.split_once("  ")
                .map(|x| x.1.to_string())
                .unwrap_or_default()
        })
        .collect()
}

/// A little-endian pcap's link type and records.
fn read_pcap(path: &str) -> (u32, Vec<(u32, u32, Vec<u8>)>) {
    let d = std::fs::read(path).unwrap();
    let lt = u32::from_le_bytes(d[20..24].try_into().unwrap());
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= d.len() {
        let f = |i: usize| u32::from_le_bytes(d[at + i..at + i + 4].try_into().unwrap());
        let cap = f(8) as usize;
        out.push((f(0), f(4), d[at + 16..at + 16 + cap].to_vec()));
        at += 16 + cap;
    }
    (lt, out)
}

fn pcap_bytes(lt: u32, recs: &[(u32, u32, Vec<u8>)], big: bool, nanos: bool) -> Vec<u8> {
    let w32 = |d: &mut Vec<u8>, x: u32| {
        d.extend(if big {
            x.to_be_bytes()
        } else {
            x.to_le_bytes()
        })
    };
    let w16 = |d: &mut Vec<u8>, x: u16| {
        d.extend(if big {
            x.to_be_bytes()
        } else {
            x.to_le_bytes()
        })
    };
    let mut d = Vec::new();
    w32(&mut d, if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 });
    w16(&mut d, 2);
    w16(&mut d, 4);
    w32(&mut d, 0);
    w32(&mut d, 0);
    w32(&mut d, 262_144);
    w32(&mut d, lt);
    for (s, u, p) in recs {
        w32(&mut d, *s);
        w32(&mut d, if nanos { u * 1000 } else { *u });
        w32(&mut d, p.len() as u32);
        w32(&mut d, p.len() as u32);
        d.extend(p);
    }
    d
}

/// The same packets as pcapng: a section header, one interface, enhanced packets.
fn pcapng_bytes(lt: u32, recs: &[(u32, u32, Vec<u8>)]) -> Vec<u8> {
    let mut d = Vec::new();
    let block = |d: &mut Vec<u8>, ty: u32, body: &[u8]| {
        let len = 12 + body.len().div_ceil(4) * 4;
        d.extend(ty.to_le_bytes());
        d.extend((len as u32).to_le_bytes());
        d.extend(body);
        d.extend(vec![0u8; body.len().div_ceil(4) * 4 - body.len()]);
        d.extend((len as u32).to_le_bytes());
    };
    let mut shb = Vec::new();
    shb.extend(0x1a2b_3c4du32.to_le_bytes());
    shb.extend(1u16.to_le_bytes());
    shb.extend(0u16.to_le_bytes());
    shb.extend((-1i64).to_le_bytes());
    block(&mut d, 0x0a0d_0d0a, &shb);
    let mut idb = Vec::new();
    idb.extend((lt as u16).to_le_bytes());
    idb.extend(0u16.to_le_bytes());
    idb.extend(262_144u32.to_le_bytes());
    block(&mut d, 1, &idb);
    for (s, u, p) in recs {
        let ts = u64::from(*s) * 1_000_000 + u64::from(*u);
        let mut epb = Vec::new();
        epb.extend(0u32.to_le_bytes());
        epb.extend(((ts >> 32) as u32).to_le_bytes());
        epb.extend((ts as u32).to_le_bytes());
        epb.extend((p.len() as u32).to_le_bytes());
        epb.extend((p.len() as u32).to_le_bytes());
        epb.extend(p);
        epb.extend(vec![0u8; p.len().div_ceil(4) * 4 - p.len()]);
        block(&mut d, 6, &epb);
    }
    d
}

fn tmp(name: &str, bytes: &[u8]) -> String {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("pp-cli-pcap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.to_string_lossy().into_owned()
}

const FWD: &[&str] = &["--hook", "forward", "--in", "eth1", "--out", "eth0"];

#[test]
fn a_recorded_capture_is_decided_packet_by_packet() {
    let cap = fixture("edge-eth1.pcap");
    let mut args = vec![edge_rules().leak() as &str, "--pcap", cap.as_str()];
    args.extend(FWD);
    let (code, out, err) = filter(&args);
    assert_eq!(code, 0, "{err}");
    // A connection's first SYN is new, its reply and later packets established.
    let syn = out
        .lines()
        .find(|l| l.contains("-> 198.51.100.1:22") && l.contains("state new"))
        .expect("a SYN to the router's ssh");
    assert!(syn.contains("accept  line 23"), "{syn}");
    assert!(out
        .lines()
        .any(|l| l.contains("state established") && l.contains("line 18")));
    // Rejects by the forward chain's last rule; ARP is said, not decided.
    assert!(
        out.contains("reject  line 21: -A FORWARD -j REJECT"),
        "{out}"
    );
    assert!(out.contains("#8  skip    ARP, not IP"), "{out}");
    assert!(
        out.contains("# capture: 71 packets: 61 accept, 2 reject; 8 not evaluated"),
        "{out}"
    );
}

#[test]
fn every_form_of_the_capture_decides_alike() {
    let eth = fixture("edge-eth1.pcap");
    let (lt, recs) = read_pcap(&eth);
    assert_eq!(lt, 1);
    let run = |file: &str| {
        let mut a = vec![edge_rules().leak() as &str, "--pcap", file];
        a.extend(FWD);
        let (code, out, err) = filter(&a);
        assert_eq!(code, 0, "{file}: {err}");
        decisions(&out)
    };
    let want = run(&eth);
    assert!(want.len() > 50);
    // VLAN: an 802.1Q tag after the MAC addresses (and two, QinQ).
    let vlan = |p: &Vec<u8>, tags: &[[u8; 4]]| {
        let mut v = p[..12].to_vec();
        for t in tags {
            v.extend(t);
        }
        v.extend(&p[12..]);
        v
    };
    let one: Vec<_> = recs
        .iter()
        .map(|(s, u, p)| (*s, *u, vlan(p, &[[0x81, 0x00, 0x00, 0x0a]])))
        .collect();
    let two: Vec<_> = recs
        .iter()
        .map(|(s, u, p)| {
            (
                *s,
                *u,
                vlan(p, &[[0x88, 0xa8, 0x00, 0x64], [0x81, 0x00, 0x00, 0x0a]]),
            )
        })
        .collect();
    // Raw IP: the Ethernet header off, the IP packets only (ARP has no raw form).
    let raw: Vec<_> = recs
        .iter()
        .filter(|(_, _, p)| p[12..14] == [0x08, 0x00] || p[12..14] == [0x86, 0xdd])
        .map(|(s, u, p)| (*s, *u, p[14..].to_vec()))
        .collect();
    let forms = [
        ("vlan.pcap", pcap_bytes(1, &one, false, false)),
        ("qinq.pcap", pcap_bytes(1, &two, false, false)),
        ("raw.pcap", pcap_bytes(101, &raw, false, false)),
        (
            "raw228.pcap",
            pcap_bytes(
                228,
                &raw.iter()
                    .filter(|r| r.2[0] >> 4 == 4)
                    .cloned()
                    .collect::<Vec<_>>(),
                false,
                false,
            ),
        ),
        ("big.pcap", pcap_bytes(1, &recs, true, false)),
        ("nanos.pcap", pcap_bytes(1, &recs, false, true)),
        ("eth.pcapng", pcapng_bytes(1, &recs)),
        ("raw.pcapng", pcapng_bytes(101, &raw)),
    ];
    for (name, bytes) in forms {
        let f = tmp(name, &bytes);
        let got = run(&f);
        if name == "raw228.pcap" {
            // IPv4 only: the IPv4 decisions, in order.
            let v4: Vec<&String> = want.iter().filter(|l| !l.contains("icmpv6")).collect();
            assert_eq!(got.iter().collect::<Vec<_>>(), v4, "{name}");
        } else {
            assert_eq!(got, want, "{name}");
        }
    }
}

#[test]
fn cooked_captures_mark_what_the_host_sent() {
    for f in ["edge-any-sll.pcap", "edge-any-sll2.pcap"] {
        let cap = fixture(f);
        let (code, out, err) = filter(&[&edge_rules(), "--pcap", &cap]);
        assert_eq!(code, 0, "{f}: {err}");
        assert!(out.contains("hook output"), "{f}");
        assert!(out.contains("hook input"), "{f}");
        assert!(out.contains("# capture: "), "{f}: {out}");
    }
}

#[test]
fn json_is_one_document_with_every_packet() {
    let cap = fixture("web-raw.pcap");
    let rules = format!("{RULES}/web.nft");
    let (code, out, err) = filter(&[&rules, "--pcap", &cap, "--format", "json", "--in", "eth0"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let results = v["results"].as_array().unwrap();
    assert_eq!(
        results.len() as u64,
        v["summary"]["packets"].as_u64().unwrap()
    );
    assert!(results.iter().any(|r| r["verdict"] == "reject"));
    assert!(results[0]["number"] == 1 && results[0]["offset"] == 24);
}

#[test]
fn a_change_is_reported_by_flows_and_rules() {
    let cap = fixture("edge-eth1.pcap");
    let old = edge_rules();
    // The change: the dmz may no longer reach the internet.
    let text = std::fs::read_to_string(&old).unwrap();
    let changed = text.replace(
        "-A from-dmz -o eth0 -j ACCEPT",
        "-A from-dmz -o eth0 -j DROP",
    );
    let new = tmp("edge-new.rules", changed.as_bytes());
    let mut args = vec![old.as_str(), new.as_str(), "--pcap", cap.as_str()];
    args.extend(FWD);
    let (code, out, err) = filter(&args);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("flows change verdict") || out.contains("flow change verdict"),
        "{out}"
    );
    assert!(out.contains("accept -> drop: 6 flows, 6 packets"), "{out}");
    assert!(
        out.contains("was: line 23: -A from-dmz -o eth0 -j ACCEPT"),
        "{out}"
    );
    assert!(
        out.contains("now: line 23: -A from-dmz -o eth0 -j DROP"),
        "{out}"
    );
    let mut args = vec![
        old.as_str(),
        new.as_str(),
        "--pcap",
        cap.as_str(),
        "--format",
        "json",
    ];
    args.extend(FWD);
    let (code, out, _) = filter(&args);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["changed_flows"], 6);
    // The same rule set twice changes nothing.
    let (code, out, _) = filter(&[&old, &old, "--pcap", &cap]);
    assert_eq!(code, 0);
    assert!(out.contains("; 0 flows change verdict"), "{out}");
}

#[test]
fn bad_captures_exit_2_with_the_packet_and_the_offset() {
    let good = std::fs::read(fixture("edge-eth1.pcap")).unwrap();
    // Cut inside the third record.
    let (_, recs) = read_pcap(&fixture("edge-eth1.pcap"));
    let third = 24 + (16 + recs[0].2.len()) + (16 + recs[1].2.len());
    let cut = tmp("cut.pcap", &good[..third + 20]);
    let (code, _, err) = filter(&[&edge_rules(), "--pcap", &cut]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!("packet 3 (byte offset {third})"))
            && err.contains("ends inside a record"),
        "{err}"
    );
    // Not a capture at all.
    let text = tmp("not.pcap", b"hello, this is text\n");
    let (code, _, err) = filter(&[&edge_rules(), "--pcap", &text]);
    assert_eq!(code, 2);
    assert!(err.contains("not a pcap or pcapng capture"), "{err}");
    // An empty file.
    let empty = tmp("empty.pcap", b"");
    let (code, _, err) = filter(&[&edge_rules(), "--pcap", &empty]);
    assert_eq!(code, 2);
    assert!(err.contains("empty"), "{err}");
    // pcapng: a packet of an interface no description declares.
    let mut ng = pcapng_bytes(1, &recs[..2]);
    let second_epb = ng.len() - (32 + recs[1].2.len().div_ceil(4) * 4);
    ng[second_epb + 8] = 5; // its interface id
    let f = tmp("badif.pcapng", &ng);
    let (code, out, err) = filter(&[&edge_rules(), "--pcap", &f]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains(&format!("packet 2 (byte offset {second_epb})"))
            && err.contains("interface 5"),
        "{err}"
    );
    // A missing file.
    let (code, _, err) = filter(&[&edge_rules(), "--pcap", "/nonexistent.pcap"]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read capture"), "{err}");
}
