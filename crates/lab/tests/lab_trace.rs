//! `lab trace` for real on the mini-lab: the kernel's rule trace (`nft
//! monitor trace`) per namespace beside the model's hops; the upstream leg of
//! a forward proxy is traced too; a kernel that no longer does what the model
//! says is reported as a disagreement (and `lab trace` then exits 1).

mod common;

use pathproof_core::model::Proto;
use pathproof_lab::ktrace;

/// The `[HOST]` section of a `lab trace` report: the lines under it.
fn section<'a>(out: &'a str, host: &str) -> Vec<&'a str> {
    let head = format!("  [{host}]");
    out.lines()
        .skip_while(|l| *l != head)
        .skip(1)
        .take_while(|l| l.starts_with("    "))
        .collect()
}

#[test]
fn lab_trace_shows_the_kernels_rules_beside_the_models_hops() {
    if !common::root_or_skip("lab_trace_shows_the_kernels_rules_beside_the_models_hops") {
        return;
    }
    let l = common::Lab::builtin("ktrace", "mini-lab", None);

    // client -> web:443: edge-fw rule 1 lets it through, on both sides.
    let (out, agree) = ktrace::trace(&l.name, "client", "web:443", Proto::Tcp, None).unwrap();
    assert!(agree, "{out}");
    assert!(out.contains("they agree"), "{out}");
    assert!(out.contains("the model's hops:"), "{out}");
    assert!(
        out.contains("edge     filter       allow"),
        "the model's edge-fw hop: {out}"
    );
    let edge = section(&out, "edge");
    assert!(
        edge.iter()
            .any(|l| l.contains("edge-fw rule 1") && l.contains("accept")),
        "the kernel's edge trace names the rule the model names:\n{out}"
    );
    // The reply passes edge as established, and web's namespace traced too.
    assert!(
        edge.iter().any(|l| l.contains("established")),
        "the reply's established rule on edge:\n{out}"
    );
    assert!(!section(&out, "web").is_empty(), "{out}");
    assert!(!section(&out, "client").is_empty(), "{out}");

    // Via the forward proxy: the upstream leg (proxy -> api:8080, from a port
    // the kernel picks) crosses edge, whose edge-fw rule 2 lets it through.
    let (out, agree) =
        ktrace::trace(&l.name, "web", "api:8080", Proto::Tcp, Some("proxy")).unwrap();
    assert!(agree, "{out}");
    let edge = section(&out, "edge");
    assert!(
        edge.iter().any(|l| l.contains("edge-fw rule 2")),
        "the proxy's upstream leg is traced on edge:\n{out}"
    );
    assert!(!section(&out, "proxy").is_empty(), "{out}");
    assert!(!section(&out, "api").is_empty(), "{out}");

    // A ping is traced too (mini-lab's edge drops it: no rule allows icmp).
    let (out, agree) = ktrace::trace(&l.name, "client", "web", Proto::Icmp, None).unwrap();
    assert!(agree, "{out}");
    assert!(
        section(&out, "edge")
            .iter()
            .any(|l| l.contains("policy drop") || l.contains("drop")),
        "{out}"
    );

    // The kernel stops doing what the model says: edge's rule set is
    // emptied (the table stays, so the lab is still whole: a table that is
    // gone makes `lab trace` refuse the lab instead, see `lab::health`), so
    // client reaches db:5432, which the model drops.
    let edge_ns = l
        .plan()
        .hosts
        .iter()
        .find(|h| h.name == "edge")
        .unwrap()
        .ns
        .clone();
    pathproof_lab::netns::run_in(&edge_ns, || {
        pathproof_lab::netns::run_cmd("nft", &["flush", "table", "inet", "pathproof_edge"], None)
    })
    .unwrap()
    .unwrap();
    let (out, agree) = ktrace::trace(&l.name, "client", "db:5432", Proto::Tcp, None).unwrap();
    assert!(!agree, "{out}");
    assert!(out.contains("THEY DISAGREE"), "{out}");
    assert!(out.contains("kernel: connected"), "{out}");

    // lab probe lists that disagreement with both traces: the model's and
    // the kernel's, the journey made again with tracing on.
    let scn = l.spec.load().unwrap();
    let plan = l.plan();
    let job = pathproof_lab::probe::job_for(&scn, "client", "db:5432", Proto::Tcp, None).unwrap();
    let mut results = pathproof_lab::probe::probe(&scn, &plan, vec![job]).unwrap();
    assert!(!results[0].agree);
    ktrace::explain(&scn, &plan, &mut results, ktrace::EXPLAIN_AT_MOST);
    let text = pathproof_lab::report::text(&l.name, &results, &[]);
    assert!(text.contains("model trace:"), "{text}");
    assert!(
        text.contains("kernel trace (the journey made again"),
        "{text}"
    );
    assert!(!section(&text, "db").is_empty(), "{text}");
}
