//! `pathproof filter --pcap` against the kernel: a lab (the edge router and web
//! server of `crates/core/tests/rulesets`, whose filters are real rule sets) is
//! probed while tcpdump records, and
//!
//! * every host but the router (which translates addresses: its packets show
//!   other addresses before and after) logs each packet it receives or sends with
//!   its conntrack state (nft `log group` with the state as prefix, recorded by
//!   tcpdump from `nflog:`): the state the capture reader derives for each logged
//!   packet, in order, must be the kernel's;
//! * the router's interface (Ethernet), all its interfaces as Linux cooked
//!   captures (SLL2, the default of `-i any`, and SLL), are read whole, what the
//!   router sent is marked as such, and each is decided against its rule set.
//!
//! `PATHPROOF_CAPTURE_OUT=DIR` copies the fresh captures there (the committed
//! fixtures of `crates/cli/tests/fixtures/pcap` were made so).

mod common;

use std::process::{Child, Command, Stdio};

use pathproof_rulesets::capture::{CaptureOptions, CaptureReader};
use pathproof_rulesets::{parse_ruleset, CtState, Hook};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../core/tests/rulesets");

/// The records of a little-endian pcap file (as tcpdump writes it here): link type
/// and (seconds, microseconds, data).
type Records = (u32, Vec<(u32, u32, Vec<u8>)>);

fn read_pcap(path: &std::path::Path) -> Records {
    let d = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&d[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "a little-endian pcap");
    let lt = u32::from_le_bytes(d[20..24].try_into().unwrap());
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= d.len() {
        let f = |i: usize| u32::from_le_bytes(d[at + i..at + i + 4].try_into().unwrap());
        let (s, u, cap) = (f(0), f(4), f(8) as usize);
        out.push((s, u, d[at + 16..at + 16 + cap].to_vec()));
        at += 16 + cap;
    }
    (lt, out)
}

fn write_pcap(path: &std::path::Path, lt: u32, recs: &[(u32, u32, Vec<u8>)]) {
    let mut d = Vec::new();
    d.extend(0xa1b2_c3d4u32.to_le_bytes());
    d.extend(2u16.to_le_bytes());
    d.extend(4u16.to_le_bytes());
    d.extend([0u8; 8]);
    d.extend(262_144u32.to_le_bytes());
    d.extend(lt.to_le_bytes());
    for (s, u, p) in recs {
        d.extend(s.to_le_bytes());
        d.extend(u.to_le_bytes());
        d.extend((p.len() as u32).to_le_bytes());
        d.extend((p.len() as u32).to_le_bytes());
        d.extend(p);
    }
    std::fs::write(path, d).unwrap();
}

/// An NFLOG record's prefix, payload (the IP packet), and input and output device
/// indexes (0: none).
fn nflog(rec: &[u8]) -> Option<(String, Vec<u8>, u32, u32)> {
    let mut i = 4;
    let (mut prefix, mut payload) = (None, None);
    let (mut indev, mut outdev) = (0, 0);
    while i + 4 <= rec.len() {
        let len = u16::from_le_bytes([rec[i], rec[i + 1]]) as usize;
        let ty = u16::from_le_bytes([rec[i + 2], rec[i + 3]]);
        if len < 4 || i + len > rec.len() {
            break;
        }
        let v = &rec[i + 4..i + len];
        match ty {
            10 => {
                prefix = Some(
                    String::from_utf8_lossy(v)
                        .trim_end_matches('\0')
                        .to_string(),
                )
            }
            9 => payload = Some(v.to_vec()),
            4 | 5 if v.len() == 4 => {
                let x = u32::from_be_bytes(v.try_into().unwrap());
                if ty == 4 {
                    indev = x
                } else {
                    outdev = x
                }
            }
            _ => {}
        }
        i += (len + 3) & !3;
    }
    Some((prefix?, payload?, indev, outdev))
}

fn tcpdump(ns: &str, args: &[&str], out: &std::path::Path) -> Child {
    Command::new("ip")
        .args(["netns", "exec", ns, "tcpdump", "-q", "-U", "-Z", "root"])
        .args(args)
        .arg("-w")
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("tcpdump runs")
}

fn stop(mut c: Child) {
    // SIGINT: tcpdump writes what it holds and ends.
    unsafe {
        libc::kill(c.id() as i32, libc::SIGINT);
    }
    let _ = c.wait();
}

#[test]
fn captures_decode_and_their_states_are_the_kernels() {
    if !common::root_or_skip("captures_decode_and_their_states_are_the_kernels") {
        return;
    }
    if Command::new("tcpdump").arg("--version").output().is_err() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("tcpdump is missing (scripts/test.sh installs it)");
        }
        eprintln!("skipping: tcpdump is missing");
        return;
    }
    let text = std::fs::read_to_string(format!("{DIR}/edge.yaml")).unwrap();
    let files: pathproof_core::Files = pathproof_core::referenced_files(&text)
        .into_iter()
        .map(|f| {
            let t = std::fs::read_to_string(format!("{DIR}/{f}")).unwrap();
            (f, t)
        })
        .collect();
    let rules = parse_ruleset(&files["edge.rules"]).unwrap();
    let web_rules = files["web.nft"].clone();
    let l = common::Lab::up_with_files("pcap", "edge.yaml", &text, None, files);
    let plan = l.plan();
    let ns = |h: &str| {
        plan.hosts
            .iter()
            .find(|p| p.name == h)
            .map(|p| p.ns.clone())
            .expect("a host")
    };
    let tmp = std::env::temp_dir().join(format!("pp-pcap-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let oracle_hosts = ["client", "admin", "intern", "web", "db"];
    let mut dumps = Vec::new();
    for (g, h) in oracle_hosts.iter().enumerate() {
        let g = g + 1;
        let table = format!(
            "table inet ppcap {{\n\tchain pre {{ type filter hook prerouting priority -150; policy accept;\n{0}\t}}\n\tchain out {{ type filter hook output priority -150; policy accept;\n{0}\t}}\n}}\n",
            ["new", "established", "related", "invalid", "untracked"]
                .iter()
                .map(|s| format!("\t\tct state {s} log group {g} prefix \"HOOK{s}\"\n"))
                .collect::<String>()
        );
        // The hook in the prefix: `in:` at prerouting, `out:` at output.
        let mut parts = table.splitn(2, "chain out");
        let (pre, out) = (parts.next().unwrap(), parts.next().unwrap());
        let table = format!(
            "{}chain out{}",
            pre.replace("HOOK", "in:"),
            out.replace("HOOK", "out:")
        );
        let out = Command::new("ip")
            .args(["netns", "exec", &ns(h), "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(table.as_bytes())?;
                c.wait()
            })
            .expect("nft runs");
        assert!(out.success(), "nft table in {h}");
        let file = tmp.join(format!("nflog-{h}.pcap"));
        dumps.push(tcpdump(&ns(h), &["-i", &format!("nflog:{g}")], &file));
    }
    let edge = ns("edge");
    let eth = tmp.join("edge-eth1.pcap");
    let sll2 = tmp.join("edge-any-sll2.pcap");
    let sll = tmp.join("edge-any-sll.pcap");
    dumps.push(tcpdump(&edge, &["-i", "eth1"], &eth));
    dumps.push(tcpdump(&edge, &["-i", "any"], &sll2));
    dumps.push(tcpdump(&edge, &["-i", "any", "-y", "LINUX_SLL"], &sll));
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let results = l.probe_all();
    std::thread::sleep(std::time::Duration::from_millis(500));
    for d in dumps {
        stop(d);
    }
    drop(l);
    assert!(
        results.iter().all(|r| r.agree),
        "the lab agrees with the model"
    );

    // The oracle: each logged packet, in order, as a raw IP capture.
    let (mut compared, mut seen) = (0, std::collections::BTreeSet::new());
    for h in oracle_hosts {
        let (lt, recs) = read_pcap(&tmp.join(format!("nflog-{h}.pcap")));
        assert_eq!(lt, 239, "NFLOG");
        let mut states = Vec::new();
        let mut raw = Vec::new();
        for (s, u, r) in &recs {
            let Some((prefix, payload, indev, outdev)) = nflog(r) else {
                continue;
            };
            states.push((prefix, indev, outdev));
            raw.push((*s, *u, payload));
        }
        let rawfile = tmp.join(format!("raw-{h}.pcap"));
        write_pcap(&rawfile, 101, &raw);
        let f = std::fs::File::open(&rawfile).unwrap();
        let mut reader = CaptureReader::new(f, CaptureOptions::default()).unwrap();
        // The host's own rule set (web's), whose refusals shape its conntrack.
        let own = (h == "web").then(|| parse_ruleset(&web_rules).unwrap());
        let mut i = 0;
        while let Some(c) = reader.next() {
            let c = c.unwrap_or_else(|e| panic!("{h}: {e}"));
            let (prefix, indev, outdev) = &states[i];
            let (hook, want) = prefix.split_once(':').expect("hook:state");
            let mut p = c
                .packet
                .clone()
                .unwrap_or_else(|why| panic!("{h}: packet {}: {why}", i + 1));
            p.hook = if hook == "in" {
                Hook::Input
            } else {
                Hook::Output
            };
            // The host's one interface is `eth0` in its rule set; device 1 is `lo`.
            let dev = |x: u32| match x {
                0 => None,
                1 => Some("lo".to_string()),
                _ => Some("eth0".to_string()),
            };
            p.in_iface = dev(*indev);
            p.out_iface = dev(*outdev);
            if let Some(rs) = &own {
                if rs.evaluate(&p).verdict != pathproof_rulesets::Verdict::Accept {
                    reader.refused(&c);
                }
            }
            let got = match p.state {
                CtState::New => "new",
                CtState::Established => "established",
                CtState::Related => "related",
                CtState::Invalid => "invalid",
                CtState::Untracked => "untracked",
            };
            assert_eq!(got, want, "{h}: logged packet {}: {p}", i + 1);
            seen.insert(got);
            compared += 1;
            i += 1;
        }
    }
    eprintln!(
        "conntrack states: {compared} logged packets, derived states all the kernel's ({seen:?})"
    );
    assert!(compared >= 100, "{compared} packets compared");
    for s in ["new", "established", "related"] {
        assert!(seen.contains(s), "no {s} packet was logged");
    }

    // The router's captures: read whole, decided against its rule set.
    for (file, lt) in [(&eth, 1), (&sll2, 276), (&sll, 113)] {
        assert_eq!(read_pcap(file).0, lt, "{}", file.display());
        let reader = CaptureReader::new(
            std::fs::File::open(file).unwrap(),
            CaptureOptions::default(),
        )
        .unwrap();
        let (mut ip, mut out, mut decided) = (0, 0, std::collections::BTreeSet::new());
        for c in reader {
            let c = c.unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            if let Ok(p) = c.packet {
                ip += 1;
                out += usize::from(p.hook == Hook::Output);
                decided.insert(rules.evaluate(&p).verdict.to_string());
            }
        }
        assert!(ip >= 20, "{}: {ip} IP packets", file.display());
        if lt != 1 {
            assert!(
                out > 0,
                "{}: what the router sent is marked",
                file.display()
            );
        }
        eprintln!(
            "{}: {ip} IP packets ({out} sent by the router), verdicts {decided:?}",
            file.display()
        );
    }
    if let Ok(dir) = std::env::var("PATHPROOF_CAPTURE_OUT") {
        std::fs::create_dir_all(&dir).unwrap();
        for f in [&eth, &sll2, &sll] {
            std::fs::copy(f, std::path::Path::new(&dir).join(f.file_name().unwrap())).unwrap();
        }
        std::fs::copy(
            tmp.join("raw-web.pcap"),
            std::path::Path::new(&dir).join("web-raw.pcap"),
        )
        .unwrap();
    }
    let _ = std::fs::remove_dir_all(&tmp);
}
