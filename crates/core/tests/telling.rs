//! The trace told at each layer (`pathproof_core::telling`), held against
//! every journey of every built-in scenario and variant: the scenario's
//! `expect:` journeys and every host to every socket.
//!
//! One test per kind of claim checks, at every layer, that no hop lists under
//! "proves" what it also lists under "takes on trust" (nor a sentence that
//! contains the other); the others check that layers 1 and 2 are told in
//! their own words (no engine sentence, no prefix, no command line at 1).

use std::collections::BTreeSet;
use std::sync::OnceLock;

use pathproof_core::evidence::{Fact, Stage, Trace};
use pathproof_core::model::{Proto, Scenario};
use pathproof_core::telling::{tell, Told};
use pathproof_core::{examples, load, trace, Query};

/// Every (scenario, trace) of the corpus.
fn corpus() -> &'static Vec<(Scenario, Trace)> {
    static C: OnceLock<Vec<(Scenario, Trace)>> = OnceLock::new();
    C.get_or_init(|| {
        let mut out = Vec::new();
        for e in examples::ALL {
            let base = load(&e.file(), e.text, None).unwrap();
            let mut variants: Vec<Option<String>> = vec![None];
            variants.extend(base.variants.iter().map(|v| Some(v.name.clone())));
            let names: Vec<&str> = base.variants.iter().map(|v| v.name.as_str()).collect();
            if names.contains(&"break") && names.contains(&"harden") {
                variants.push(Some("break+harden".into()));
            }
            for v in variants {
                let scn = load(&e.file(), e.text, v.as_deref()).unwrap();
                let mut queries: Vec<Query> = Vec::new();
                for x in &scn.expectations {
                    let text = x.text.clone();
                    // `deny A -> B:P`, `allow A -> B:P`: trace the journey.
                    let words: Vec<&str> = text.split_whitespace().collect();
                    if let Some(i) = words.iter().position(|w| *w == "->") {
                        if i >= 1 && i + 1 < words.len() {
                            let mut q = Query::new(words[i - 1], words[i + 1]);
                            if words.contains(&"udp") {
                                q.proto = Proto::Udp;
                            }
                            queries.push(q);
                        }
                    }
                }
                for from in &scn.hosts {
                    for to in &scn.hosts {
                        for s in &to.sockets {
                            let mut q = Query::new(&from.name, &format!("{}:{}", to.name, s.port));
                            q.proto = s.proto;
                            queries.push(q);
                        }
                    }
                }
                for q in queries {
                    if let Ok(t) = trace(&scn, &q) {
                        out.push((scn.clone(), t));
                    }
                }
            }
        }
        assert!(out.len() > 500, "{} traces", out.len());
        out
    })
}

fn told(level: u8) -> impl Iterator<Item = (&'static Trace, Told)> {
    corpus()
        .iter()
        .map(move |(s, t)| (t, tell(Some(s), t, level)))
}

/// For one kind of claim: at every layer, what a hop proves is never what it
/// takes on trust, neither the same sentence nor one inside the other; and
/// the kind occurs in the corpus (so that the test tests something).
fn proves_never_trusts(fact: Fact) {
    let mut seen = 0;
    for level in 1..=4 {
        for (t, told) in told(level) {
            for (hop, th) in t.hops.iter().zip(&told.hops) {
                let proves: Vec<&str> = th
                    .proves
                    .iter()
                    .filter(|c| c.fact == fact)
                    .map(|c| c.text.as_str())
                    .collect();
                let trusts: Vec<&str> = th
                    .trusts
                    .iter()
                    .filter(|c| c.fact == fact)
                    .map(|c| c.text.as_str())
                    .collect();
                seen += proves.len() + trusts.len();
                for p in &proves {
                    for q in &trusts {
                        assert!(
                            !p.contains(q) && !q.contains(p),
                            "layer {level}, {} hop {} of {} -> {} in {}: proves `{p}` and trusts `{q}`",
                            hop.device,
                            hop.step,
                            t.query.from,
                            t.query.to,
                            t.scenario
                        );
                    }
                }
                // The short forms on the map are just as distinct.
                let ps: BTreeSet<&str> = th
                    .proves
                    .iter()
                    .filter(|c| c.fact == fact)
                    .map(|c| c.short.as_str())
                    .collect();
                let ts: BTreeSet<&str> = th
                    .trusts
                    .iter()
                    .filter(|c| c.fact == fact)
                    .map(|c| c.short.as_str())
                    .collect();
                assert!(
                    ps.is_disjoint(&ts),
                    "layer {level}, {} step {}: the map would show {ps:?} as proved and trusted",
                    hop.device,
                    hop.step
                );
            }
            // The summary too: what the service believes is not what it takes on trust.
            let b: Vec<&str> = told
                .outcome
                .believes
                .iter()
                .filter(|c| c.fact == fact)
                .map(|c| c.text.as_str())
                .collect();
            let tr: Vec<&str> = told
                .outcome
                .trusts
                .iter()
                .filter(|c| c.fact == fact)
                .map(|c| c.text.as_str())
                .collect();
            for x in &b {
                assert!(
                    !tr.contains(x),
                    "layer {level} summary of {} -> {}: `{x}`",
                    t.query.from,
                    t.query.to
                );
            }
        }
    }
    let _ = seen;
}

macro_rules! per_claim_kind {
    ($($name:ident: $fact:expr,)*) => {$(
        #[test]
        fn $name() {
            proves_never_trusts($fact);
        }
    )*};
}

per_claim_kind! {
    source_address_proved_is_not_trusted: Fact::SourceAddress,
    destination_proved_is_not_trusted: Fact::Destination,
    service_proved_is_not_trusted: Fact::Service,
    connection_proved_is_not_trusted: Fact::Connection,
    name_mapping_proved_is_not_trusted: Fact::NameMapping,
    next_hop_proved_is_not_trusted: Fact::NextHop,
    server_identity_proved_is_not_trusted: Fact::ServerIdentity,
    client_identity_proved_is_not_trusted: Fact::ClientIdentity,
    client_address_proved_is_not_trusted: Fact::ClientAddress,
    confidentiality_proved_is_not_trusted: Fact::Confidentiality,
    content_proved_is_not_trusted: Fact::Content,
}

#[test]
fn every_kind_of_claim_occurs_in_the_corpus() {
    let mut facts: BTreeSet<Fact> = BTreeSet::new();
    for (_, t) in corpus() {
        for h in &t.hops {
            for c in h.proves.iter().chain(&h.trusts).chain(&h.hides) {
                facts.insert(c.fact);
            }
        }
    }
    assert_eq!(facts.len(), 11, "{facts:?}");
}

/// The squatted internal name of split-dns: TLS verifies, and layer 1 must
/// not say that the server is the one the client meant.
#[test]
fn a_verified_certificate_proves_the_name_not_the_intent() {
    let e = examples::get("split-dns").unwrap();
    let scn = load(&e.file(), e.text, Some("break")).unwrap();
    let found = corpus().iter().find(|(s, t)| {
        s.name == scn.name
            && s.variant == scn.variant
            && t.outcome.at.as_deref() == Some("squatter")
            && t.hops.iter().any(|h| h.stage == Stage::Tls)
    });
    let (s, t) = found.expect("a journey to the squatter with a TLS hop");
    for level in 1..=4 {
        let told = tell(Some(s), t, level);
        let tls = t.hops.iter().position(|h| h.stage == Stage::Tls).unwrap();
        let all: String = told.hops[tls]
            .proves
            .iter()
            .map(|c| c.text.to_lowercase())
            .collect::<Vec<_>>()
            .join(" ");
        assert!(!all.contains("the one you meant"), "layer {level}: {all}");
        assert!(
            !all.contains("building you reached"),
            "layer {level}: {all}"
        );
    }
}

/// Layers 1 and 2 are told in their own words: never the engine's sentence,
/// and at layer 1 no prefix, no connection-tracking jargon, no command line.
#[test]
fn layers_one_and_two_are_their_own_telling() {
    let cidr = |s: &str| {
        s.split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == '`' || c == ',')
            .any(|w| {
                w.split_once('/').is_some_and(|(a, n)| {
                    a.parse::<std::net::IpAddr>().is_ok() && n.parse::<u8>().is_ok()
                })
            })
    };
    for level in [1u8, 2] {
        for (t, told) in told(level) {
            for (hop, th) in t.hops.iter().zip(&told.hops) {
                assert_ne!(
                    th.says, hop.detail,
                    "layer {level} repeats the engine at {}",
                    hop.step
                );
                let texts = std::iter::once(&th.says)
                    .chain(th.proves.iter().map(|c| &c.text))
                    .chain(th.trusts.iter().map(|c| &c.text))
                    .chain(th.hides.iter().map(|c| &c.text));
                for x in texts {
                    for c in hop.proves.iter().chain(&hop.trusts).chain(&hop.hides) {
                        assert_ne!(x, &c.text, "layer {level} shows the engine's claim");
                    }
                    if level == 1 {
                        assert!(!cidr(x), "layer 1 writes a prefix: {x}");
                        let lower = x.to_lowercase();
                        let words: Vec<&str> = lower
                            .split(|c: char| !c.is_ascii_alphanumeric() && c != '-')
                            .collect();
                        for jargon in [
                            "conntrack",
                            "pathproof",
                            "nft",
                            "dnat",
                            "snat",
                            "ttl",
                            "syn",
                            "arp",
                            "tcp",
                            "udp",
                            "icmp",
                            "prerouting",
                            "postrouting",
                            "nat",
                        ] {
                            assert!(!words.contains(&jargon), "layer 1 says `{jargon}`: {x}");
                        }
                    }
                }
                // Nothing told at 1 or 2 falls back on the stage's generic words.
                assert_ne!(
                    th.says,
                    pathproof_core::lessons::stage_words(hop.stage, level),
                    "layer {level} has no telling for {:?} {:?} ({})",
                    hop.stage,
                    hop.verdict,
                    hop.detail
                );
            }
            assert_ne!(told.outcome.headline, t.outcome.text);
            // One line per kind of fact in the summary: "service" once, not twice.
            let mut facts = BTreeSet::new();
            for c in &told.outcome.believes {
                assert!(
                    facts.insert(c.fact),
                    "layer {level}: {:?} twice in {:?}",
                    c.fact,
                    told.outcome.believes
                );
            }
        }
    }
}

#[test]
fn the_name_lookup_carries_no_packet() {
    for level in 1..=4 {
        for (t, told) in told(level) {
            for (hop, th) in t.hops.iter().zip(&told.hops) {
                if hop.stage == Stage::Resolve {
                    assert!(th.packet.is_none());
                    assert_eq!(
                        hop.packet.dst.to_string(),
                        "0.0.0.0",
                        "the question never goes to the answer"
                    );
                }
            }
        }
    }
}

#[test]
fn layer_three_shows_the_engine_and_four_adds_the_trust_boundary() {
    for (t, three) in told(3).take(200) {
        let four = tell(None, t, 4);
        for ((hop, a), b) in t.hops.iter().zip(&three.hops).zip(&four.hops) {
            assert_eq!(a.says, hop.detail);
            let texts: Vec<&str> = a.proves.iter().map(|c| c.text.as_str()).collect();
            let engine: Vec<&str> = hop.proves.iter().map(|c| c.text.as_str()).collect();
            assert_eq!(texts, engine);
            assert_ne!(a.notes, b.notes);
        }
        assert_eq!(three.outcome.headline, t.outcome.text);
        assert_ne!(four.outcome.headline, three.outcome.headline);
    }
}

/// The first journey of the mini-lab at each layer, as text: a golden file to
/// read when the wording changes.
#[test]
fn the_checkpoint_journey_told_four_ways() {
    let e = examples::get("mini-lab").unwrap();
    let scn = load(&e.file(), e.text, None).unwrap();
    for (to, name) in [
        ("www.example.com:443", "client-www"),
        ("web:22", "client-web-22"),
    ] {
        let t = trace(&scn, &Query::new("client", to)).unwrap();
        for level in 1..=4 {
            let told = tell(Some(&scn), &t, level);
            let mut out = String::new();
            for h in &told.hops {
                out.push_str(&format!(
                    "{:>2} {} · {} — {}\n",
                    h.step, h.title, h.verdict, h.says
                ));
                if let Some(p) = &h.packet {
                    out.push_str(&format!("     packet: {p}\n"));
                }
                for (sign, list) in [("+", &h.proves), ("?", &h.trusts), ("-", &h.hides)] {
                    for c in list {
                        out.push_str(&format!("     {sign} [{}] {}\n", c.short, c.text));
                    }
                }
            }
            out.push_str(&format!(
                "outcome: {}\n  sees: {}\n",
                told.outcome.headline, told.outcome.client_sees
            ));
            for c in &told.outcome.believes {
                out.push_str(&format!("  + [{}] {}\n", c.short, c.text));
            }
            for c in &told.outcome.trusts {
                out.push_str(&format!("  ? [{}] {}\n", c.short, c.text));
            }
            insta::assert_snapshot!(format!("{name}__layer{level}"), out);
        }
    }
}
