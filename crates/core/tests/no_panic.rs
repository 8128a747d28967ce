//! Error or success, never a panic: arbitrary bytes, and valid scenarios
//! mutated line by line and character by character, into the loader; random
//! questions into the tracer.

use pathproof_core::{examples, load, trace, Query};
use proptest::prelude::*;

fn corpus() -> Vec<&'static str> {
    examples::ALL.iter().map(|e| e.text).collect()
}

/// Applies one mutation chosen by `op` at position `at` (both taken modulo what fits).
fn mutate(text: &str, op: u8, at: usize, other: usize, byte: u8) -> String {
    let lines: Vec<&str> = text.lines().collect();
    if lines.is_empty() {
        // An earlier mutation emptied the file: nothing left to mutate by line.
        return format!("{}{}", text, byte as char);
    }
    let n = lines.len();
    let (i, j) = (at % n, other % n);
    match op % 8 {
        0 => lines
            .iter()
            .enumerate()
            .filter(|(k, _)| *k != i)
            .map(|(_, l)| *l)
            .collect::<Vec<_>>()
            .join("\n"),
        1 => {
            let mut v = lines.clone();
            v.insert(j, lines[i]);
            v.join("\n")
        }
        2 => {
            let mut v = lines.clone();
            v.swap(i, j);
            v.join("\n")
        }
        3 => {
            // Shift indentation.
            let mut v: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            v[i] = format!(" {}", v[i]);
            v.join("\n")
        }
        4 => {
            let mut b = text.as_bytes().to_vec();
            if !b.is_empty() {
                let k = at % b.len();
                b[k] = byte;
            }
            String::from_utf8_lossy(&b).into_owned()
        }
        5 => {
            let mut b = text.as_bytes().to_vec();
            if !b.is_empty() {
                b.truncate(at % b.len());
            }
            String::from_utf8_lossy(&b).into_owned()
        }
        6 => {
            // Replace a word with another word from the file (names, keywords, numbers).
            let words: Vec<&str> = text
                .split(|c: char| c.is_whitespace() || ",:[]{}".contains(c))
                .filter(|w| !w.is_empty())
                .collect();
            if words.is_empty() {
                return text.to_string();
            }
            let (a, b) = (words[at % words.len()], words[other % words.len()]);
            text.replacen(a, b, 1)
        }
        _ => {
            let specials = [
                "::",
                "0.0.0.0/0",
                "-",
                "*",
                "&a",
                "*a",
                "!tag",
                "\"",
                "'",
                "{",
                "[",
                "65536",
                "-1",
                "..",
                "->",
                "/",
                "@",
            ];
            let mut v: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            let s = specials[other % specials.len()];
            let pos = at % (v[i].len() + 1);
            if v[i].is_char_boundary(pos) {
                v[i].insert_str(pos, s);
            }
            v.join("\n")
        }
    }
}

fn questions(scn: &pathproof_core::model::Scenario, seed: usize) -> Vec<Query> {
    let mut places: Vec<String> = scn.hosts.iter().map(|h| h.name.clone()).collect();
    places.extend(scn.networks.iter().map(|n| n.name.clone()));
    places.extend(
        scn.dns
            .iter()
            .flat_map(|v| v.records.iter().map(|r| r.name.clone())),
    );
    places.push("10.0.0.1".into());
    places.push("nosuch".into());
    if places.is_empty() {
        return Vec::new();
    }
    let ports = [22u16, 80, 443, 5432, 8080, 0, 65535];
    (0..6)
        .map(|k| {
            let from = &places[(seed + k * 7) % places.len()];
            let to = &places[(seed / 3 + k * 11) % places.len()];
            let mut q = Query::new(from, &format!("{to}:{}", ports[(seed + k) % ports.len()]));
            q.ipv6 = (seed + k).is_multiple_of(3);
            q.established = (seed + k).is_multiple_of(4);
            q.via = (seed + k)
                .is_multiple_of(5)
                .then(|| places[(seed + k) % places.len()].clone());
            q
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = load("fuzz.yaml", &text, None);
        let _ = load("fuzz.yaml", &text, Some("break"));
    }

    #[test]
    fn mutated_scenarios_never_panic(which in 0usize..16, ops in proptest::collection::vec((any::<u8>(), any::<usize>(), any::<usize>(), any::<u8>()), 1..4), seed in any::<usize>()) {
        let corpus = corpus();
        let mut text = corpus[which % corpus.len()].to_string();
        for (op, at, other, byte) in ops {
            text = mutate(&text, op, at, other, byte);
        }
        for variant in [None, Some("break"), Some("harden")] {
            if let Ok(scn) = load("fuzz.yaml", &text, variant) {
                for q in questions(&scn, seed) {
                    let _ = trace(&scn, &q);
                }
            }
        }
    }
}
