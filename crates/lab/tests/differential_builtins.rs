//! Differential test against the kernel: every built-in scenario and variant
//! is built for real and every journey probed; model and kernel must agree on
//! every probe.

mod common;

#[test]
fn every_builtin_and_variant_agrees_with_the_kernel() {
    if !common::root_or_skip("every_builtin_and_variant_agrees_with_the_kernel") {
        return;
    }
    let mut cases = Vec::new();
    for e in pathproof_core::examples::ALL {
        let scn = pathproof_core::load(&e.file(), e.text, None).unwrap();
        cases.push((e.name, None));
        for v in scn.variants {
            cases.push((e.name, Some(v.name)));
        }
    }
    // Several labs at once: each has its own namespaces.
    let handles: Vec<_> = cases
        .into_iter()
        .enumerate()
        .map(|(i, (name, variant))| {
            std::thread::spawn(move || {
                let l = common::Lab::builtin(&format!("b{i}"), name, variant.as_deref());
                let r = l.probe_all();
                (name, variant, r)
            })
        })
        .collect();
    let (mut total, mut agree) = (0, 0);
    let (mut tls_ok, mut tls_failed) = (0, 0);
    // Expectations whose source is a network, probed from stand-ins.
    let (mut stand_in, mut stand_in_connected) = (0, 0);
    let (mut xff_compared, mut xff_by_proxy) = (0, 0);
    // Every header the service got, compared with what the client sent,
    // and how many of those journeys crossed a proxy.
    let (mut headers_compared, mut headers_via_proxy) = (0, 0);
    // Reached TCP/UDP journeys whose service reported the peer it saw and
    // who it is (the rest would be unverified: they must not exist), TLS
    // sessions whose server reported itself, and mutual-TLS client
    // identities compared with the model's.
    let (mut peer_verified, mut unverified) = (0, 0);
    let (mut tls_reported, mut mtls_ids) = (0, 0);
    let mut report = Vec::new();
    for h in handles {
        let (name, variant, results) = h.join().expect("lab thread");
        total += results.len();
        tls_ok += results
            .iter()
            .filter(|r| r.agree && r.kernel.detail.contains("TLS ok"))
            .count();
        tls_failed += results
            .iter()
            .filter(|r| r.agree && r.kernel.class == pathproof_lab::probe::Class::TlsFailed)
            .count();
        agree += results.iter().filter(|r| r.agree).count();
        // X-Forwarded-For compared where a proxy changed it on the way.
        for r in results
            .iter()
            .filter(|r| r.kernel.head_seen && r.model == "reached")
        {
            xff_compared += 1;
            xff_by_proxy +=
                (r.model_xff.as_deref() != Some(pathproof_lab::services::CLIENT_XFF)) as usize;
        }
        for r in results
            .iter()
            .filter(|r| r.kernel.headers_seen.is_some() && r.model == "reached")
        {
            headers_compared += 1;
            let proxied = r.trace.as_ref().is_some_and(|t| {
                t.hops
                    .iter()
                    .any(|h| h.stage == pathproof_core::evidence::Stage::Proxy)
            });
            headers_via_proxy += proxied as usize;
            let got = r.kernel.headers_seen.as_ref().unwrap();
            assert!(
                got.iter().any(|h| h == "X-Pathproof-Probe: end-to-end"),
                "{name}: {} -> {}: the service got {got:?}",
                r.from,
                r.to
            );
        }
        for r in results
            .iter()
            .filter(|r| r.model == "reached" && r.proto != pathproof_core::model::Proto::Icmp)
        {
            if r.kernel.peer_seen.is_some() && r.kernel.answered_by.is_some() {
                peer_verified += 1;
            } else {
                unverified += 1;
            }
            if r.agree && r.model_tls_at.is_some() {
                assert_eq!(
                    r.kernel.tls.as_ref().map(|t| &t.host),
                    r.model_tls_at.as_ref(),
                    "{name}: {} -> {}",
                    r.from,
                    r.to
                );
                tls_reported += 1;
                if let Some(id) = &r.model_client_id {
                    assert_eq!(
                        r.kernel.tls.as_ref().and_then(|t| t.client_id.as_ref()),
                        Some(id)
                    );
                    mtls_ids += 1;
                }
            }
        }
        for r in results.iter().filter(|r| r.stand_in.is_some()) {
            stand_in += 1;
            stand_in_connected +=
                (r.kernel.class == pathproof_lab::probe::Class::Connected) as usize;
        }
        for r in results.iter().filter(|r| !r.agree) {
            report.push(format!(
                "{name}{}: {} {} -> {}{}: {}",
                variant
                    .as_deref()
                    .map(|v| format!("@{v}"))
                    .unwrap_or_default(),
                r.proto,
                r.from,
                r.to,
                r.via
                    .as_deref()
                    .map(|v| format!(" via {v}"))
                    .unwrap_or_default(),
                r.disagreement.as_deref().unwrap_or("")
            ));
        }
    }
    eprintln!("built-ins: {agree}/{total} probes agree ({tls_ok} real TLS sessions, {tls_failed} real TLS failures among them; {stand_in} from network stand-ins, {stand_in_connected} of them connected)");
    eprintln!("X-Forwarded-For compared on {xff_compared} connected journeys ({xff_by_proxy} changed by a proxy)");
    eprintln!("every header compared on {headers_compared} connected journeys ({headers_via_proxy} through a proxy)");
    eprintln!("peer and answering host reported and compared on {peer_verified} reached TCP/UDP journeys, {unverified} unverified; {tls_reported} TLS servers reported themselves, {mtls_ids} of them a verified client identity, compared with the model's");
    assert_eq!(
        unverified, 0,
        "reached journeys whose service reported no peer"
    );
    assert!(
        tls_reported > 10 && mtls_ids >= 4,
        "TLS reports: {tls_reported}, client identities: {mtls_ids}"
    );
    assert!(
        headers_compared > 100 && headers_via_proxy > 10,
        "headers compared on {headers_compared} journeys, {headers_via_proxy} through a proxy"
    );
    assert!(
        xff_by_proxy > 0,
        "no X-Forwarded-For set by a proxy was compared"
    );
    assert!(
        stand_in >= 10 && stand_in_connected > 0 && stand_in_connected < stand_in,
        "stand-in probes: {stand_in}, {stand_in_connected} connected"
    );
    // TLS is exercised for real: verified and mutual sessions, and refusals.
    assert!(
        tls_ok > 10 && tls_failed > 10,
        "TLS: {tls_ok} ok, {tls_failed} failed"
    );
    assert!(total > 300, "only {total} probes");
    assert!(
        report.is_empty(),
        "{} disagreements:\n{}",
        report.len(),
        report.join("\n")
    );
}
