//! Proxies for real in both address families: a forward proxy (plain
//! requests passed on with its X-Forwarded-For, TLS through a CONNECT
//! tunnel) and a reverse proxy, probed over IPv4 and IPv6; the
//! X-Forwarded-For the echo service gets is compared with the model's.

mod common;

const SCENARIO: &str = r#"
name: proxy-v6
networks:
  lan: { cidr: [10.9.1.0/24, "2001:db8:9:1::/64"], gateway: gw }
  srv: { cidr: [10.9.2.0/24, "2001:db8:9:2::/64"], gateway: gw }
hosts:
  client: { at: lan 10.9.1.10 2001:db8:9:1::10 }
  gw:
    router: true
    at: [lan 10.9.1.1 2001:db8:9:1::1, srv 10.9.2.1 2001:db8:9:2::1]
  fwd:
    at: lan 10.9.1.20 2001:db8:9:1::20
    listen: ["tcp/3128 http-proxy"]
    proxy: { port: 3128, allow: ["app:8080", "app:443"], forwarded_for: append }
  rev:
    at: srv 10.9.2.30 2001:db8:9:2::30
    listen: ["tcp/80 http"]
    proxy: { port: 80, mode: reverse, upstream: "app:8080", forwarded_for: overwrite }
  app:
    at: srv 10.9.2.40 2001:db8:9:2::40
    listen: ["tcp/8080 http", "tcp/443 tls app.example.com"]
"#;

#[test]
fn proxies_in_both_families_pass_on_the_forwarded_for_the_model_says() {
    if !common::root_or_skip("proxies_in_both_families_pass_on_the_forwarded_for_the_model_says") {
        return;
    }
    let l = common::Lab::up("pxy6", "proxy-v6.yaml", SCENARIO, None);
    let results = l.probe_all();
    let via: Vec<_> = results.iter().filter(|r| r.via.is_some()).collect();
    let via6: Vec<_> = via
        .iter()
        .filter(|r| r.kernel.peer_seen.is_some_and(|a| a.is_ipv6()))
        .collect();
    let report: Vec<String> = results
        .iter()
        .filter(|r| !r.agree)
        .map(|r| {
            format!(
                "{} {} -> {} via {:?}: {}",
                r.proto,
                r.from,
                r.to,
                r.via,
                r.disagreement.as_deref().unwrap_or("")
            )
        })
        .collect();
    eprintln!(
        "proxy-v6: {} probes, {} via the forward proxy ({} over IPv6), {} disagree",
        results.len(),
        via.len(),
        via6.len(),
        report.len()
    );
    for line in &report {
        eprintln!("  {line}");
    }
    // Plain journeys via the forward proxy over IPv6 reach app and the
    // reverse proxy, from the proxy's IPv6 address.
    let fwd6: std::net::IpAddr = "2001:db8:9:1::20".parse().unwrap();
    assert!(
        via6.iter()
            .any(|r| r.kernel.answered_by.as_deref() == Some("app")
                && r.kernel.peer_seen == Some(fwd6)),
        "{via6:#?}"
    );
    // Direct to rev (overwrite) in both families: app gets the client's
    // address as rev saw it, in that family.
    for (v6, want) in [(false, "10.9.1.10"), (true, "2001:db8:9:1::10")] {
        let r = results
            .iter()
            .find(|r| {
                r.via.is_none()
                    && r.from == "client"
                    && r.to == "rev:80"
                    && r.kernel.peer_seen.is_some_and(|a| a.is_ipv6() == v6)
            })
            .expect("client -> rev:80");
        assert_eq!(r.kernel.answered_by.as_deref(), Some("app"), "{r:#?}");
        assert_eq!(r.kernel.xff_seen.as_deref(), Some(want), "{r:#?}");
    }
    // The forward proxy's allow list has no entry for rev: 403.
    assert!(results.iter().any(|r| r.via.is_some()
        && r.to == "rev:80"
        && r.agree
        && r.kernel.class == pathproof_lab::probe::Class::ProxyDenied));
    // Via fwd (append) to app over IPv4: the client's forged value, then the client.
    let appended = results
        .iter()
        .find(|r| {
            r.via.is_some() && r.to == "app:8080" && r.kernel.peer_seen.is_some_and(|a| a.is_ipv4())
        })
        .expect("client -> app:8080 via fwd over IPv4");
    assert_eq!(
        appended.kernel.xff_seen.as_deref(),
        Some("192.0.2.99, 10.9.1.10"),
        "{appended:#?}"
    );
    // Every probe agrees, TLS through the forward proxy's CONNECT tunnel
    // included: the model no longer lets the proxy touch those headers (the
    // lab found it: formerly limit L2).
    assert!(results.iter().all(|r| r.agree), "{}", report.join("\n"));
    let tunnelled: Vec<_> = results
        .iter()
        .filter(|r| r.via.is_some() && r.kernel.detail.contains("TLS ok") && r.kernel.head_seen)
        .collect();
    assert!(
        !tunnelled.is_empty()
            && tunnelled
                .iter()
                .all(|r| r.kernel.xff_seen.as_deref() == Some(pathproof_lab::services::CLIENT_XFF)),
        "TLS via the forward proxy: the service gets the client's own X-Forwarded-For:\n{}",
        report.join("\n")
    );
}
