//! A wildcard certificate for real: the lab's CA issues `*.example.com` as a
//! DNS name, and the kernel's TLS (rustls, webpki) and the model agree on
//! what it covers: one whole leftmost label (`www.example.com`), not two
//! (`a.b.example.com`), not the bare domain; a client that names the host
//! asks for `HOST.example.com`. A name no TLS client can ask for (a
//! partial wildcard, `w*.example.com`, which the model compares literally)
//! ends that one probe with the reason, not the whole run.

mod common;

use pathproof_lab::probe::Class;

const SCENARIO: &str = r#"
name: wildcard
networks:
  lan: { cidr: 10.61.0.0/24, dns: v }
hosts:
  client: { at: lan 10.61.0.10 }
  web:
    at: lan 10.61.0.20
    listen: ["tcp/443 https tls *.example.com"]
  odd:
    at: lan 10.61.0.30
    listen: ["tcp/443 https tls w*.example.com"]
dns:
  v:
    www.example.com: 10.61.0.20
    a.b.example.com: 10.61.0.20
    example.com: 10.61.0.20
expect:
  - allow client -> www.example.com:443
  - deny client -> a.b.example.com:443
  - deny client -> example.com:443
"#;

#[test]
fn a_wildcard_certificate_covers_one_label_in_model_and_kernel() {
    if !common::root_or_skip("a_wildcard_certificate_covers_one_label_in_model_and_kernel") {
        return;
    }
    let l = common::Lab::up("wild", "wildcard.yaml", SCENARIO, None);
    let results = l.probe_all();
    let report: Vec<String> = results
        .iter()
        .map(|r| {
            format!(
                "{} {} -> {}: model {}, kernel {} ({}){}",
                if r.agree { "ok" } else { "DIFF" },
                r.from,
                r.to,
                r.model,
                r.kernel.class.name(),
                r.kernel.detail,
                r.disagreement
                    .as_deref()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            )
        })
        .collect();
    eprintln!("{}", report.join("\n"));
    let find = |from: &str, to: &str| {
        results
            .iter()
            .find(|r| r.from == from && r.to == to)
            .unwrap_or_else(|| panic!("no probe {from} -> {to}:\n{}", report.join("\n")))
    };
    // One label under the wildcard: a real TLS session with web.
    let www = find("client", "www.example.com:443");
    assert_eq!(www.model, "reached", "{www:#?}");
    assert_eq!(www.kernel.class, Class::Connected, "{www:#?}");
    assert_eq!(
        www.kernel.tls.as_ref().map(|t| t.host.as_str()),
        Some("web"),
        "{www:#?}"
    );
    // Two labels, and the bare domain: the handshake fails on both sides.
    for to in ["a.b.example.com:443", "example.com:443"] {
        let r = find("client", to);
        assert_eq!(r.model, "tls failed", "{r:#?}");
        assert_eq!(r.kernel.class, Class::TlsFailed, "{r:#?}");
    }
    // By host name: the client asks for web.example.com, which the
    // wildcard covers.
    let by_host = find("client", "web:443");
    assert_eq!(by_host.model, "reached", "{by_host:#?}");
    assert_eq!(by_host.kernel.class, Class::Connected, "{by_host:#?}");
    // odd's certificate names `w*.example.com`; a client naming odd would
    // ask for exactly that, which is no DNS name a TLS client can send: the
    // probe says so, and the run goes on.
    for r in results.iter().filter(|r| r.to == "odd:443") {
        assert!(
            r.agree || r.kernel.detail.contains("cannot start TLS"),
            "{r:#?}"
        );
    }
    assert!(
        results
            .iter()
            .filter(|r| r.to != "odd:443")
            .all(|r| r.agree),
        "model and kernel disagree:\n{}",
        report.join("\n")
    );
}
