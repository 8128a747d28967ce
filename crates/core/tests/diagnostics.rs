//! Bad scenarios: every problem is reported with its line and column, what
//! was expected, and a suggestion for a misspelt name; several at once.

use pathproof_core::{examples, load, LoadError};

fn problems(yaml: &str) -> LoadError {
    match load("bad.yaml", yaml, None) {
        Ok(_) => panic!("expected problems in:\n{yaml}"),
        Err(e) => e,
    }
}

/// The (line, column, message) of every problem, for compact assertions.
fn lines(e: &LoadError) -> Vec<(u32, u32, String)> {
    e.problems
        .iter()
        .map(|p| (p.line, p.column, p.message.clone()))
        .collect()
}

#[test]
fn misspelt_host_in_a_rule_points_at_it_and_suggests() {
    let e = problems(
        "networks:\n  a: 10.0.0.0/24\nhosts:\n  web: { at: a 10.0.0.10 }\nfilters:\n  f:\n    rules:\n      - allow tcp from wbe to any port 80\n",
    );
    assert_eq!(
        lines(&e),
        vec![(8, 24, "unknown host or network `wbe`".to_string())]
    );
    assert_eq!(e.problems[0].help.as_deref(), Some("did you mean `web`?"));
    assert_eq!(&e.source_text[e.problems[0].span.range()], "wbe");
}

#[test]
fn several_problems_are_reported_in_one_run() {
    let e = problems(
        r#"networks:
  a: 10.0.0.0/24
  b: 10.0.0.128/25
  c: 10.0.0.0/33
hosts:
  one: { at: a 10.0.0.10 }
  two: { at: a 10.0.0.10 }
  three: { at: a 10.9.9.9 }
  four: { at: z 10.0.0.4 }
  five: { at: a 10.0.0.5, routes: ["default via 10.7.7.7"] }
  six: { at: a 10.0.0.6, listen: [tcp/99999] }
  seven: { at: a 10.0.0.7, lisen: [tcp/80] }
"#,
    );
    let msgs: Vec<String> = e
        .problems
        .iter()
        .map(|p| format!("{}:{} {}", p.line, p.column, p.message))
        .collect();
    let want = [
        "network `b` (10.0.0.128/25) overlaps network `a` (10.0.0.0/24)",
        "`10.0.0.0/33` is not a prefix",
        "10.0.0.10 is used by more than one interface: one, two",
        "10.9.9.9 is outside network `a`",
        "unknown network `z`",
        "route via unreachable gateway 10.7.7.7",
        "is not a port number",
        "unknown key `lisen` in host `seven`",
    ];
    for w in want {
        assert!(
            msgs.iter().any(|m| m.contains(w)),
            "missing `{w}` in {msgs:#?}"
        );
    }
    let lisen = e
        .problems
        .iter()
        .find(|p| p.message.contains("lisen"))
        .unwrap();
    assert_eq!(lisen.help.as_deref(), Some("did you mean `listen`?"));
    assert_eq!(lisen.line, 12);
    // Sorted by position in the file.
    let offsets: Vec<u32> = e.problems.iter().map(|p| p.span.start).collect();
    let mut sorted = offsets.clone();
    sorted.sort();
    assert_eq!(offsets, sorted);
}

#[test]
fn names_are_unique_across_hosts_and_networks() {
    let e = problems("networks:\n  web: 10.0.0.0/24\nhosts:\n  web: { at: web 10.0.0.1 }\n");
    assert!(
        e.problems[0]
            .message
            .contains("already the name of a network"),
        "{e}"
    );
    assert_eq!(e.problems[0].line, 4);
    let e = problems("networks:\n  a: 10.0.0.0/24\n  a: 10.1.0.0/24\n");
    assert!(
        e.problems.iter().any(
            |p| p.message.contains("`a` is already the name of a network")
                && p.label.contains("line 2")
        ),
        "{e}"
    );
}

#[test]
fn yaml_syntax_errors_have_a_location() {
    let e = problems("networks:\n  a: [10.0.0.0/24\nhosts: {}\n");
    assert_eq!(e.problems.len(), 1);
    assert!(
        e.problems[0]
            .message
            .starts_with("the file is not valid YAML"),
        "{e}"
    );
    assert!(e.problems[0].line >= 2, "{e}");
}

#[test]
fn wrong_shapes_say_what_was_expected() {
    let e = problems("networks: [a, b]\n");
    assert!(
        e.problems[0]
            .message
            .contains("networks must be a mapping, not a list"),
        "{e}"
    );
    let e = problems("- just\n- a list\n");
    assert!(
        e.problems[0]
            .message
            .contains("a scenario must be a mapping"),
        "{e}"
    );
    let e =
        problems("networks:\n  a: 10.0.0.0/24\nhosts:\n  h: { at: a 10.0.0.1, router: maybe }\n");
    assert!(
        e.problems[0]
            .message
            .contains("router must be true or false"),
        "{e}"
    );
}

#[test]
fn rule_grammar_errors_point_at_the_word() {
    let e = problems("networks:\n  a: 10.0.0.0/24\nfilters:\n  f:\n    rules:\n      - alow tcp from a\n      - allow tcp from a port 70000\n      - { action: allow, form: a }\n      - allow tcp from a state neww\n");
    let m = lines(&e);
    assert!(
        m.iter()
            .any(|(l, c, s)| *l == 6 && *c == 9 && s.contains("unknown action `alow`")),
        "{m:?}"
    );
    assert!(
        m.iter()
            .any(|(l, _, s)| *l == 7 && s.contains("`70000` is not a port number")),
        "{m:?}"
    );
    assert!(
        m.iter()
            .any(|(l, _, s)| *l == 8 && s.contains("unknown rule key `form`")),
        "{m:?}"
    );
    assert!(
        m.iter()
            .any(|(l, _, s)| *l == 9 && s.contains("unknown connection state `neww`")),
        "{m:?}"
    );
    let alow = e
        .problems
        .iter()
        .find(|p| p.message.contains("alow"))
        .unwrap();
    assert_eq!(alow.help.as_deref(), Some("did you mean `allow`?"));
}

#[test]
fn stateless_filters_cannot_match_state() {
    let e = problems("networks:\n  a: 10.0.0.0/24\nfilters:\n  f:\n    stateful: false\n    rules: [allow from a state established]\n");
    assert!(
        e.problems[0]
            .message
            .contains("stateless, so it cannot match connection state"),
        "{e}"
    );
}

#[test]
fn filter_on_a_host_that_does_not_forward() {
    let e = problems("networks:\n  a: 10.0.0.0/24\nhosts:\n  h: { at: a 10.0.0.1, filter: f }\nfilters:\n  f: { rules: [] }\n");
    assert!(e.problems[0].message.contains("not a router"), "{e}");
    assert!(
        e.problems[0]
            .help
            .as_deref()
            .unwrap_or("")
            .contains("input:"),
        "{e}"
    );
}

#[test]
fn ipv6_socket_written_without_quotes() {
    let e = problems("networks:\n  a: \"2001:db8::/64\"\nhosts:\n  h: { at: \"a 2001:db8::1\", listen: [tcp/443 on ::] }\n");
    assert!(e.problems[0].message.contains("read as a mapping"), "{e}");
}

#[test]
fn variant_errors() {
    let mini = examples::get("mini-lab").unwrap().text;
    let e = load("mini-lab.yaml", mini, Some("brake")).unwrap_err();
    assert!(
        e.problems[0].message.contains("unknown variant `brake`"),
        "{e}"
    );
    assert_eq!(e.problems[0].help.as_deref(), Some("did you mean `break`?"));
    let bad = format!("{mini}\n  typo:\n    why: x\n    filters:\n      edge-fw:\n        remove: [allow tcp from internet to web port 444]\n");
    let e = load("mini-lab.yaml", &bad, Some("typo")).unwrap_err();
    assert!(
        e.problems[0]
            .message
            .contains("no rule `allow tcp from internet to web port 444` to remove"),
        "{e}"
    );
    assert_eq!(
        e.problems[0].help.as_deref(),
        Some("did you mean `allow tcp from internet to web port 443`?")
    );
    let no_why = format!("{mini}\n  silent:\n    filters: {{}}\n");
    let e = load("mini-lab.yaml", &no_why, None).unwrap_err();
    assert!(
        e.problems[0]
            .message
            .contains("variant `silent` has no `why:`"),
        "{e}"
    );
}

#[test]
fn expectations_name_real_places() {
    let e = problems("networks:\n  a: 10.0.0.0/24\nhosts:\n  web: { at: a 10.0.0.1 }\nexpect:\n  - deny wbe -> web:22\n  - allow web -> a\n  - permit web -> web:1\n");
    let m = lines(&e);
    assert!(
        m.iter()
            .any(|(l, _, s)| *l == 6 && s.contains("unknown place `wbe`")),
        "{m:?}"
    );
    assert!(
        m.iter()
            .any(|(l, _, s)| *l == 8 && s.contains("unknown expectation `permit`")),
        "{m:?}"
    );
}

#[test]
fn every_builtin_scenario_and_variant_loads() {
    for ex in examples::ALL {
        let scn = load(&ex.file(), ex.text, None).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            !scn.variants.is_empty(),
            "{} has break/harden variants",
            ex.name
        );
        for v in &scn.variants {
            load(&ex.file(), ex.text, Some(&v.name))
                .unwrap_or_else(|e| panic!("{} {}: {e}", ex.name, v.name));
        }
    }
}

#[test]
fn gateways_must_forward_and_nat_interfaces_must_exist_at_that_stage() {
    let e = problems(
        "networks:\n  a: { cidr: 10.0.0.0/24, gateway: g }\nhosts:\n  g: { at: a 10.0.0.1 }\n",
    );
    assert!(e.problems[0].message.contains("does not forward"), "{e}");
    let e = problems("networks:\n  a: 10.0.0.0/24\n  b: 10.1.0.0/24\nhosts:\n  g: { router: true, at: [a 10.0.0.1, b 10.1.0.1], nat: [\"dnat tcp port 80 out b -> 10.0.0.9\", \"masquerade in a\"] }\n");
    let m = lines(&e);
    assert!(
        m.iter()
            .any(|(_, _, s)| s.contains("DNAT rule cannot match the outgoing interface")),
        "{m:?}"
    );
    assert!(
        m.iter()
            .any(|(_, _, s)| s.contains("masquerade rule cannot match the incoming interface")),
        "{m:?}"
    );
}

mod ipv6_ports {
    use pathproof_core::{examples, load, trace, Query};
    use proptest::prelude::*;
    use std::net::Ipv6Addr;

    proptest! {
        /// An IPv6 address followed by `:PORT` without brackets, however the
        /// address is written, gets help naming the bracket form, and the
        /// form it names is accepted; the help never suggests a bare
        /// `ADDRESS:PORT` again (it once looped on "write ADDR:PORT").
        #[test]
        fn a_bare_ipv6_address_with_a_port_is_pointed_at_its_bracket_form(
            groups in proptest::array::uniform8(prop_oneof![Just(0u16), 1u16..16, any::<u16>()]),
            port in 1u16..,
        ) {
            let ex = examples::get("dual-stack").unwrap();
            let scn = load(&ex.file(), ex.text, None).unwrap();
            let addr = Ipv6Addr::from(groups);
            let bare = format!("{addr}:{port}");
            let e = trace(&scn, &Query::new("client", &bare)).expect_err("a bare address with a port is not understood");
            let help = e.help.clone().unwrap_or_default();
            let want = format!("[{addr}]:{port}");
            prop_assert!(help.contains(&want), "{bare}: {} / {help}", e.message);
            prop_assert!(!help.contains(&format!("write {bare}")), "{help}");
            // The suggestion is understood (it may not connect, but it has its port).
            if let Err(e2) = trace(&scn, &Query::new("client", &want)) {
                prop_assert!(!e2.message.contains("has no port") && !e2.message.contains("unknown destination"), "{want}: {}", e2.message);
            }
        }
    }
}

#[test]
fn variants_stack() {
    // `break+harden` is `harden` applied on top of `break`: both of break's
    // rule and harden's filters are there, harden's insertion first.
    let mini = examples::get("mini-lab").unwrap().text;
    let both = load("mini-lab.yaml", mini, Some("break+harden")).unwrap();
    assert_eq!(both.variant.as_deref(), Some("break+harden"));
    let fw = both.filters.iter().find(|f| f.name == "edge-fw").unwrap();
    let texts: Vec<String> = fw.rules.iter().map(|r| r.text.clone()).collect();
    assert_eq!(texts[0], "drop from any to link-local", "{texts:?}");
    assert_eq!(texts[1], "allow from dmz to any", "{texts:?}");
    assert!(both.filters.iter().any(|f| f.name == "web-egress"));
    // A misspelt part is named.
    let e = load("mini-lab.yaml", mini, Some("break+hardne")).unwrap_err();
    assert!(
        e.problems[0].message.contains("unknown variant `hardne`"),
        "{e}"
    );
}

#[test]
fn a_bad_prefix_is_one_problem_not_two() {
    // The address is not also reported as outside a network that has no
    // prefix left (the page once showed "(`app` is )").
    let text =
        "name: x\nnetworks:\n  app: { cidr: 10.0.2.0/33 }\nhosts:\n  a: { at: app 10.0.2.1 }\n";
    let e = load("x.yaml", text, None).unwrap_err();
    assert_eq!(e.problems.len(), 1, "{e}");
    assert!(e.problems[0].message.contains("is not a prefix"), "{e}");
    assert!(!e.to_string().contains("is )"), "{e}");
}

#[test]
fn a_via_gateway_network_needs_a_gateway_with_every_family_and_is_not_a_catch_all() {
    let e = problems(
        r#"networks:
  pods: { cidr: [10.0.0.0/24, "fd00::/64"], gateway: node, via-gateway: true }
  lan: { cidr: 10.1.0.0/24, via-gateway: true }
  internet: { cidr: 0.0.0.0/0, gateway: node, via-gateway: yes }
  dmz: { cidr: 10.2.0.0/24, gateway: node, via-gateway: maybe }
hosts:
  node: { router: true, at: [pods 10.0.0.1, internet 192.0.2.1, dmz 10.2.0.1] }
  a: { at: pods 10.0.0.5 fd00::5 }
  b: { at: lan 10.1.0.5 }
"#,
    );
    let got: Vec<(u32, u32, &str)> = e
        .problems
        .iter()
        .map(|p| (p.line, p.column, p.message.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                2,
                60,
                "network `pods` is `via-gateway`, but its gateway `node` has no IPv6 address on it for `a` (fd00::5) to send through"
            ),
            (3, 29, "network `lan` is `via-gateway` but has no `gateway:`"),
            (4, 47, "catch-all network `internet` cannot be `via-gateway`"),
            (5, 57, "via-gateway must be true or false"),
        ],
        "{:#?}",
        e.problems
    );
    assert_eq!(
        e.problems[0].help.as_deref(),
        Some("give `node` an IPv6 address on `pods`")
    );
    assert_eq!(e.problems[1].help.as_deref(), Some("add `gateway: ROUTER`"));
}
