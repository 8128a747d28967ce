use pathproof_rulesets::classbench;
use pathproof_rulesets::classifier::{
    generate_headers, FastClassifier, Header, LinearClassifier, Rule5,
};
use proptest::prelude::*;
use std::path::PathBuf;

fn rule_strategy() -> impl Strategy<Value = Rule5> {
    let addr = prop::sample::select(vec![
        0u32,
        0x0A00_0000,
        0x0A00_0001,
        0x0A00_00FF,
        0x0A01_0000,
        0xC0A8_0101,
        0xFFFF_FFFF,
        0x8000_0000,
    ]);
    let len = prop::sample::select(vec![0u8, 1, 8, 16, 24, 31, 32]);
    let port = prop::sample::select(vec![0u16, 1, 79, 80, 81, 1023, 1024, 65534, 65535]);
    let proto = prop::sample::select(vec![
        (6u8, 0xFFu8),
        (17, 0xFF),
        (0, 0),
        (1, 0xFF),
        (4, 0x0C),
    ]);
    (
        addr.clone(),
        len.clone(),
        addr,
        len,
        port.clone(),
        port.clone(),
        port.clone(),
        port,
        proto,
    )
        .prop_map(|(s, sl, d, dl, a, b, c, e, (p, m))| Rule5 {
            src: s,
            src_len: sl,
            dst: d,
            dst_len: dl,
            sport: (a.min(b), a.max(b)),
            dport: (c.min(e), c.max(e)),
            proto: p,
            proto_mask: m,
        })
}

fn header_strategy() -> impl Strategy<Value = Header> {
    let addr = prop_oneof![
        prop::sample::select(vec![
            0u32,
            0x0A00_0000,
            0x0A00_0001,
            0x0A00_00FF,
            0x0A00_0100,
            0x0A01_0000,
            0xC0A8_0101,
            0xFFFF_FFFF,
            0x7FFF_FFFF,
            0x8000_0000
        ]),
        any::<u32>()
    ];
    let port = prop_oneof![
        prop::sample::select(vec![0u16, 1, 79, 80, 81, 1023, 1024, 65534, 65535]),
        any::<u16>()
    ];
    let proto = prop_oneof![
        prop::sample::select(vec![6u8, 17, 1, 0, 4, 8, 12]),
        any::<u8>()
    ];
    (addr.clone(), addr, port.clone(), port, proto).prop_map(|(src, dst, sport, dport, proto)| {
        Header {
            src,
            dst,
            sport,
            dport,
            proto,
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn fast_equals_linear(rules in prop::collection::vec(rule_strategy(), 0..150), hs in prop::collection::vec(header_strategy(), 1..60)) {
        let lin = LinearClassifier::new(&rules);
        let fast = FastClassifier::new(&rules);
        // also headers generated inside the rules' boxes
        let mut all = hs;
        all.extend(generate_headers(&rules, 60, rules.len() as u64));
        for h in &all {
            prop_assert_eq!(lin.classify(h), fast.classify(h), "header {:?}", h);
        }
    }
}

#[test]
fn linear_is_first_match() {
    let any = Rule5 {
        src: 0,
        src_len: 0,
        dst: 0,
        dst_len: 0,
        sport: (0, 65535),
        dport: (0, 65535),
        proto: 0,
        proto_mask: 0,
    };
    let ssh = Rule5 {
        dport: (22, 22),
        proto: 6,
        proto_mask: 0xFF,
        ..any
    };
    let rules = [ssh, any, ssh];
    let h = Header {
        src: 1,
        dst: 2,
        sport: 3,
        dport: 22,
        proto: 6,
    };
    assert_eq!(LinearClassifier::new(&rules).classify(&h), Some(0));
    assert_eq!(FastClassifier::new(&rules).classify(&h), Some(0));
    let h2 = Header { proto: 17, ..h };
    assert_eq!(FastClassifier::new(&rules).classify(&h2), Some(1));
    assert_eq!(FastClassifier::new(&rules[..1]).classify(&h2), None);
    assert_eq!(FastClassifier::new(&[]).classify(&h2), None);
}

#[test]
fn classbench_parser() {
    let text = "@186.11.101.36/32\t20.69.109.43/32\t0 : 65535\t1521 : 1521\t0x06/0xFF\t0x1000/0x1000\n@0.0.0.0/0\t10.0.0.0/8\t0 : 65535\t0 : 65535\t0x00/0x00\n";
    let r = classbench::parse(text).unwrap();
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].src, u32::from_be_bytes([186, 11, 101, 36]));
    assert_eq!(r[0].dport, (1521, 1521));
    assert_eq!((r[0].proto, r[0].proto_mask), (6, 0xFF));
    assert_eq!((r[1].dst_len, r[1].proto_mask), (8, 0));
    let e = classbench::parse("@1.2.3.4/32\t1.2.3.4/40\t0 : 1\t0 : 1\t0x06/0xFF\n").unwrap_err();
    assert_eq!(e.line, 1);
    assert!(classbench::parse("@1.2.3.4/32 1.2.3.4/32 5 : 1 0 : 1 0x06/0xFF").is_err());
}

fn data_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/classbench");
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "CI=true but the ClassBench data folder {} is missing",
            dir.display()
        );
    }
    eprintln!(
        "SKIPPED: ClassBench data folder {} not found",
        dir.display()
    );
    None
}

#[test]
fn classbench_all_files_fast_equals_linear() {
    let Some(dir) = data_dir() else { return };
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with("_1k") || n.ends_with("_10k"))
        .collect();
    names.sort();
    assert_eq!(
        names.len(),
        24,
        "expected 24 ClassBench files, found {names:?}"
    );
    for name in names {
        let text = std::fs::read_to_string(dir.join(&name)).unwrap();
        let rules = classbench::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            rules.len(),
            text.lines().filter(|l| !l.trim().is_empty()).count()
        );
        let lin = LinearClassifier::new(&rules);
        let fast = FastClassifier::new(&rules);
        let hs = generate_headers(&rules, 20_000, 42);
        let mut matched = 0;
        for h in &hs {
            let l = lin.classify(h);
            assert_eq!(l, fast.classify(h), "{name}: header {h:?}");
            matched += usize::from(l.is_some());
        }
        // at least the in-box half must match something
        assert!(matched >= 10_000, "{name}: only {matched} matched");
    }
}
