//! The YAML tree built from the parser's events (`yaml::parse`'s fast way) is
//! the tree serde-saphyr's visitor builds (`yaml::parse_reference`), spans
//! included, and a rejected document reads the same error at the same place.
//!
//! Checked on every YAML file in the repository, on the upstream manifests in
//! `../shared` (a missing folder fails under `CI=true`), on random documents of
//! every style with random damage, and on random scalars spelled like numbers.

use pathproof_core::load::yaml::{self, Node, NodeKind};
use pathproof_core::synth::SplitMix64;
use std::path::{Path, PathBuf};

/// `parse` and the reference agree on `text`; whether the fast way took it.
fn agree(text: &str, what: &str) -> bool {
    let got = yaml::parse(text);
    let want = yaml::parse_reference(text);
    match (&got, &want) {
        (Ok(a), Ok(b)) => assert!(a == b, "{what}: trees differ\n{text}\n{a:?}\n{b:?}"),
        (Err(a), Err(b)) => {
            assert_eq!(a.message, b.message, "{what}: messages differ\n{text}");
            assert_eq!(a.span, b.span, "{what}: spans differ\n{text}");
        }
        _ => panic!(
            "{what}: one way failed\n{text}\nfast: {:?}\nreference: {:?}",
            got.as_ref().map(|_| "tree").map_err(|e| &e.message),
            want.as_ref().map(|_| "tree").map_err(|e| &e.message)
        ),
    }
    let fast = yaml::parse_fast(text);
    if let (Some(f), Ok(w)) = (&fast, &want) {
        assert!(f == w, "{what}: the fast tree differs");
    }
    fast.is_some()
}

/// How many random cases: more under `CI=true`.
fn cases(here: usize, in_ci: usize) -> usize {
    if std::env::var("CI").as_deref() == Ok("true") {
        in_ci
    } else {
        here
    }
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if p.is_dir() {
            if !matches!(name, "target" | "node_modules" | ".git") {
                yaml_files(&p, out);
            }
        } else if name.ends_with(".yaml") || name.ends_with(".yml") {
            out.push(p);
        }
    }
}

#[test]
fn every_yaml_file_of_the_repository_parses_alike() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    yaml_files(&root, &mut files);
    assert!(files.len() > 30, "only {} YAML files found", files.len());
    let mut fast = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        if agree(&text, &f.display().to_string()) {
            fast += 1;
        }
    }
    // The scenarios, variants and lessons are plain YAML: nearly all go the
    // fast way (the rest hold anchors, tags or several documents).
    assert!(
        fast * 10 >= files.len() * 9,
        "only {fast} of {} files took the fast way",
        files.len()
    );
}

#[test]
fn upstream_manifests_parse_alike() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    if !dir.is_dir() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{} is missing under CI",
            dir.display()
        );
        eprintln!("skipped: {} is missing", dir.display());
        return;
    }
    let mut files = Vec::new();
    yaml_files(&dir, &mut files);
    assert!(!files.is_empty());
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        agree(&text, &f.display().to_string());
        // Each document of a multi-document file, as `import k8s` reads them.
        for doc in text.split("\n---") {
            agree(doc, &f.display().to_string());
        }
    }
}

/// Scalars that look like numbers, booleans or nulls, and some that only nearly do.
fn numberish(rng: &mut SplitMix64) -> String {
    const WORDS: &[&str] = &[
        "0",
        "1",
        "-",
        "+",
        ".",
        "_",
        "e",
        "E",
        "x",
        "o",
        "b",
        "0x",
        "0o",
        "0b",
        "inf",
        ".inf",
        ".nan",
        "nan",
        "9",
        "00",
        "12",
        "1e9",
        "e-3",
        "true",
        "False",
        "NULL",
        "~",
        "y",
        "no",
        "on",
        "a",
        "f",
        "9223372036854775807",
        "18446744073709551615",
        "1e999",
        ":",
        "/",
    ];
    let n = 1 + rng.next_u64() % 4;
    (0..n)
        .map(|_| WORDS[(rng.next_u64() % WORDS.len() as u64) as usize])
        .collect()
}

#[test]
fn scalars_spelled_like_numbers_resolve_alike() {
    let cases = cases(10_000, 40_000);
    let mut rng = SplitMix64::new(7);
    let (mut fast, mut numbers) = (0, 0);
    for _ in 0..cases {
        let s = numberish(&mut rng);
        let text = format!("k: {s}\nl: [{s}, x]\n");
        if agree(&text, &s) {
            fast += 1;
            let root = yaml::parse(&text).unwrap();
            if matches!(
                root.as_map().unwrap()[0].1.kind,
                NodeKind::Int(_) | NodeKind::Float(_)
            ) {
                numbers += 1;
            }
        }
    }
    assert!(fast * 2 > cases, "only {fast} of {cases} went the fast way");
    assert!(numbers * 20 > cases, "only {numbers} numbers among {cases}");
}

/// A random tree's scalar, written in a random style.
fn scalar(rng: &mut SplitMix64) -> String {
    match rng.next_u64() % 10 {
        0..=3 => numberish(rng),
        4 => format!("'{}'", numberish(rng).replace('\'', "''")),
        5 => format!("\"{}\\t{}\"", numberish(rng), numberish(rng)),
        6 => [
            "web",
            "dmz 10.0.1.10",
            "tcp/443",
            "a b c",
            "<<",
            "héllo",
            "x#y",
        ][(rng.next_u64() % 7) as usize]
            .to_string(),
        7 => ["&a x", "*a", "!!str 5", "!!int 7", "!foo bar", "? q"][(rng.next_u64() % 6) as usize]
            .to_string(),
        8 => String::new(),
        _ => format!("w{}", rng.next_u64() % 100),
    }
}

fn flow(rng: &mut SplitMix64, depth: u32, out: &mut String) {
    match if depth == 0 { 0 } else { rng.next_u64() % 4 } {
        0 | 1 => out.push_str(&scalar(rng)),
        2 => {
            out.push('[');
            for i in 0..rng.next_u64() % 4 {
                if i > 0 {
                    out.push_str(", ");
                }
                flow(rng, depth - 1, out);
            }
            out.push(']');
        }
        _ => {
            out.push('{');
            for i in 0..rng.next_u64() % 4 {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&scalar(rng));
                out.push_str(": ");
                flow(rng, depth - 1, out);
            }
            out.push('}');
        }
    }
}

fn block(rng: &mut SplitMix64, depth: u32, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    let items = 1 + rng.next_u64() % 4;
    let seq = rng.next_u64().is_multiple_of(3);
    for _ in 0..items {
        out.push_str(&pad);
        if seq {
            out.push_str("- ");
        } else {
            out.push_str(&scalar(rng));
            out.push(':');
        }
        match if depth == 0 { 0 } else { rng.next_u64() % 5 } {
            0 | 1 => {
                out.push(' ');
                out.push_str(&scalar(rng));
                if rng.next_u64().is_multiple_of(6) {
                    out.push_str("  # a comment");
                }
                out.push('\n');
            }
            2 => {
                out.push(' ');
                flow(rng, depth - 1, out);
                out.push('\n');
            }
            3 => {
                out.push_str(" |\n");
                out.push_str(&format!("{pad}  line one\n{pad}  line two\n"));
            }
            _ => {
                out.push('\n');
                block(rng, depth - 1, indent + 2, out);
            }
        }
    }
}

/// A document, sometimes damaged by a byte taken out, put in or doubled.
fn document(rng: &mut SplitMix64) -> String {
    let mut text = String::new();
    if rng.next_u64().is_multiple_of(8) {
        text.push_str("---\n");
    }
    if rng.next_u64().is_multiple_of(4) {
        flow(rng, 3, &mut text);
        text.push('\n');
    } else {
        block(rng, 3, 0, &mut text);
    }
    if rng.next_u64().is_multiple_of(16) {
        text.push_str("---\nsecond: document\n");
    }
    if rng.next_u64().is_multiple_of(3) && !text.is_empty() {
        let mut bytes = text.into_bytes();
        let at = (rng.next_u64() % bytes.len() as u64) as usize;
        match rng.next_u64() % 3 {
            0 => {
                bytes.remove(at);
            }
            1 => bytes.insert(at, b" :-[]{}\t#&*\n'\""[(rng.next_u64() % 14) as usize]),
            _ => bytes.insert(at, bytes[at]),
        }
        text = String::from_utf8_lossy(&bytes).into_owned();
    }
    text
}

#[test]
fn random_documents_parse_alike() {
    let cases = cases(5_000, 20_000);
    let mut rng = SplitMix64::new(11);
    let mut fast = 0;
    for i in 0..cases {
        let text = document(&mut rng);
        if agree(&text, &format!("document {i}")) {
            fast += 1;
        }
    }
    assert!(fast * 5 > cases, "only {fast} of {cases} went the fast way");
}

#[test]
fn a_deep_or_large_document_goes_the_serde_way() {
    // Deeper than the budget's 64 levels: the serde way's error.
    let deep = format!("{}{}", "[".repeat(70), "]".repeat(70));
    assert!(yaml::parse_fast(&deep).is_none());
    // serde's visitors recurse to the budget's depth: more stack than a test
    // thread of a debug build has.
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(move || agree(&deep, "deep"))
        .unwrap()
        .join()
        .unwrap();
    // Spans of a plain document point at the text.
    let text = "a: {b: [1, -2.5, x]}\n";
    let root = yaml::parse_fast(text).expect("a plain document goes the fast way");
    let (k, v) = &root.as_map().unwrap()[0];
    assert_eq!(&text[k.span.range()], "a");
    let Node {
        kind: NodeKind::Map(inner),
        ..
    } = v
    else {
        panic!("a mapping")
    };
    let NodeKind::Seq(items) = &inner[0].1.kind else {
        panic!("a list")
    };
    assert_eq!(items[1].kind, NodeKind::Float(-2.5));
    assert_eq!(&text[items[2].span.range()], "x");
}
