//! Golden traces: every built-in scenario, every variant, every journey its
//! `expect:` lines name, in text and JSON. A change in wording or behaviour
//! shows up as a snapshot diff to review.

use pathproof_core::model::{Place, Proto, Scenario};
use pathproof_core::{examples, load, render, trace, Query};

/// The journeys a scenario's expectations talk about, as trace queries.
fn journeys(scn: &Scenario) -> Vec<Query> {
    let mut out = Vec::new();
    let mut push = |from: &Place, to: &Place, proto: Proto, port: Option<u16>| {
        let to_text = match port {
            Some(p) => format!("{}:{p}", to),
            None => to.to_string(),
        };
        let mut q = Query::new(&from.to_string(), &to_text);
        q.proto = proto;
        out.push(q.clone());
        // Where both ends have IPv6, trace that family too.
        let v6 = |p: &Place| match p {
            Place::Host(h) => scn
                .host_by_name(h)
                .and_then(|id| scn.host(id).first_addr(true))
                .is_some(),
            Place::Network(n) => scn
                .network_by_name(n)
                .is_some_and(|id| scn.network(id).prefixes.iter().any(|p| p.addr().is_ipv6())),
            Place::Address(a) => a.is_ipv6(),
            Place::Name(_) => true,
        };
        if v6(from) && v6(to) {
            q.ipv6 = true;
            out.push(q);
        }
    };
    for e in &scn.expectations {
        for (from, to, proto, port) in e.kind.journeys() {
            push(from, to, proto, port);
        }
    }
    out
}

#[test]
fn every_builtin_scenario_and_variant() {
    for ex in examples::ALL {
        let base = load(&ex.file(), ex.text, None).unwrap_or_else(|e| panic!("{}: {e}", ex.name));
        let mut variants: Vec<Option<String>> = vec![None];
        variants.extend(base.variants.iter().map(|v| Some(v.name.clone())));
        for v in variants {
            let scn = load(&ex.file(), ex.text, v.as_deref())
                .unwrap_or_else(|e| panic!("{} {v:?}: {e}", ex.name));
            let mut text = String::new();
            let mut json = String::new();
            for q in journeys(&base) {
                let t = trace(&scn, &q).unwrap_or_else(|e| panic!("{} {v:?} {q:?}: {e}", ex.name));
                text.push_str(&format!(
                    "==== {} -> {} ({}{})\n",
                    q.from,
                    q.to,
                    q.proto,
                    if q.ipv6 { ", IPv6" } else { "" }
                ));
                text.push_str(&render::trace_text(&t));
                text.push('\n');
                json.push_str(&render::trace_json(&t));
            }
            let name = format!("{}__{}", ex.name, v.as_deref().unwrap_or("base"));
            insta::assert_snapshot!(format!("{name}__text"), text);
            insta::assert_snapshot!(format!("{name}__json"), json);
        }
    }
}

#[test]
fn mermaid_view_of_the_mini_lab() {
    let ex = examples::get("mini-lab").unwrap();
    let scn = load(&ex.file(), ex.text, None).unwrap();
    let t = trace(&scn, &Query::new("client", "www.example.com:443")).unwrap();
    insta::assert_snapshot!(render::trace_mermaid(&t));
}
