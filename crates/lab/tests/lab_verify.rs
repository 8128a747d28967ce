//! A probe agrees only when it verified something: a connection to a socket
//! whose lab service reports the peer it saw (every TCP and UDP service)
//! but that reported nothing is a disagreement, an empty answer after a TLS
//! handshake is not a TLS failure, and the client identity a mutual-TLS
//! server verified is compared with the one the model's trace proves.
//!
//! The first test needs no root (it holds `compare` against made-up kernel
//! results); the others build labs, then replace the lab's services with
//! silent ones or swap a client's certificate, and check that the probes
//! notice.

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pathproof_core::model::Proto;
use pathproof_lab::probe::{self, Class, KernelResult, ProbeResult, TlsSeen};
use pathproof_lab::services::{head_headers, CLIENT_XFF};
use pathproof_lab::{lab, netns};

fn scenario(name: &str, variant: Option<&str>) -> pathproof_core::model::Scenario {
    let e = pathproof_core::examples::get(name).expect("built-in");
    pathproof_core::load(&e.file(), e.text, variant).expect("loads")
}

/// A kernel result that connected and, unless the test fills it in, heard
/// nothing from the service.
fn connected(detail: &str) -> KernelResult {
    KernelResult::heard_nothing(Class::Connected, detail, 1)
}

/// What the lab's echo reports for a direct journey (no proxy) that reached
/// it: the peer, itself, the client's X-Forwarded-For and every header.
fn full_report(peer: &str, by: &str, host: &str) -> KernelResult {
    let head = probe::client_head(host);
    let mut k = connected("pathproof-echo ...");
    k.peer_seen = Some(peer.parse().unwrap());
    k.answered_by = Some(by.into());
    k.head_seen = true;
    k.xff_seen = Some(CLIENT_XFF.into());
    k.headers_seen = Some(head_headers(&head));
    k.headers_sent = head_headers(&head);
    k
}

fn judge(
    scn: &pathproof_core::model::Scenario,
    from: &str,
    to: &str,
    k: KernelResult,
) -> ProbeResult {
    let job = probe::job_for(scn, from, to, Proto::Tcp, None).unwrap();
    let t = pathproof_core::trace(scn, &job.query).unwrap();
    probe::compare(scn, &job, t, k)
}

#[test]
fn a_connection_that_verifies_nothing_does_not_agree() {
    // api -> db:5432 in the mini-lab: the model says reached, db's echo
    // always reports.
    let scn = scenario("mini-lab", None);
    let silent = judge(
        &scn,
        "api",
        "db:5432",
        connected("the service said nothing"),
    );
    assert_eq!(silent.model, "reached");
    assert!(!silent.agree, "a silent connection agreed");
    assert!(
        silent
            .disagreement
            .as_deref()
            .unwrap()
            .contains("reported neither the peer"),
        "{:?}",
        silent.disagreement
    );
    // The peer and host but no report of the request head.
    let mut k = full_report("10.0.2.10", "db", "db");
    k.head_seen = false;
    k.headers_seen = None;
    let no_head = judge(&scn, "api", "db:5432", k);
    assert!(
        no_head
            .disagreement
            .as_deref()
            .is_some_and(|d| d.contains("did not report the request head")),
        "{:?}",
        no_head.disagreement
    );
    // Calibration: the full report agrees, a wrong peer does not.
    let ok = judge(&scn, "api", "db:5432", full_report("10.0.2.10", "db", "db"));
    assert!(ok.agree, "{:?}", ok.disagreement);
    let wrong = judge(&scn, "api", "db:5432", full_report("10.0.2.99", "db", "db"));
    assert!(!wrong.agree);

    // mTLS: payments must report the client identity it verified, and it
    // must be the one the model's trace proves.
    let scn = scenario("tls-identity", None);
    let want = "spiffe://lab/ns/shop/sa/frontend";
    let report = |tls: Option<TlsSeen>| {
        let mut k = full_report("10.50.0.10", "payments", "payments.mesh");
        k.tls = tls;
        judge(&scn, "frontend", "payments.mesh:8443", k)
    };
    let seen = |host: &str, id: Option<&str>| {
        Some(TlsSeen {
            host: host.into(),
            client_id: id.map(str::to_string),
        })
    };
    let ok = report(seen("payments", Some(want)));
    assert_eq!(ok.model_tls_at.as_deref(), Some("payments"));
    assert_eq!(ok.model_client_id.as_deref(), Some(want));
    assert!(ok.agree, "{:?}", ok.disagreement);
    for (tls, says) in [
        (None, "no TLS server reported"),
        (seen("payments", None), "verified the client identity none"),
        (
            seen("payments", Some("spiffe://lab/ns/batch/sa/legacy")),
            "verified the client identity spiffe://lab/ns/batch/sa/legacy, the model says spiffe://lab/ns/shop/sa/frontend",
        ),
        (seen("impostor", Some(want)), "impostor ended TLS"),
    ] {
        let r = report(tls.clone());
        assert!(
            r.disagreement.as_deref().is_some_and(|d| d.contains(says)),
            "{tls:?}: {:?}",
            r.disagreement
        );
    }
    // The model's claim names the identity it compares.
    let t = ok.trace.as_ref().unwrap();
    let claim = t
        .hops
        .iter()
        .flat_map(|h| h.proves.iter())
        .find(|c| c.fact == pathproof_core::evidence::Fact::ClientIdentity)
        .expect("the model proves the client identity");
    assert!(claim.text.contains(want), "{}", claim.text);
}

/// A client that does not verify, and no identity; a server whose socket
/// requires a client certificate, a plain TCP socket and a UDP one.
const SILENT: &str = r#"
name: silent
networks:
  n: { cidr: 10.77.0.0/24 }
hosts:
  c:
    at: n 10.77.0.10
    tls: { verify: false }
  s:
    at: n 10.77.0.20
    listen: ["tcp/8443 https mtls s.lab issuer lab-ca client-ca lab-ca", "tcp/5432", "udp/5353"]
"#;

fn supervisor_pid(lab: &str) -> i32 {
    std::fs::read_to_string(lab::run_dir(lab).join("supervisor.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Kills the lab's supervisor (which this test started, by its pid) and
/// waits until every thread of it is gone (the leader turns zombie before
/// the others have closed the sockets they share).
fn kill_supervisor(lab: &str) {
    let pid = supervisor_pid(lab);
    // SAFETY: a signal to the supervisor this test's lab started.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    for _ in 0..250 {
        let live = std::fs::read_dir(format!("/proc/{pid}/task"))
            .map(|d| {
                d.flatten()
                    .filter(|t| {
                        let stat =
                            std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
                        !stat.is_empty() && stat.split_whitespace().nth(2) != Some("Z")
                    })
                    .count()
            })
            .unwrap_or(0);
        if live == 0 {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("supervisor {pid} did not die");
}

/// `bind` again until the dead supervisor's socket is really gone.
fn bind_retry<T>(what: &str, f: impl Fn() -> std::io::Result<T>) -> T {
    for _ in 0..100 {
        match f() {
            Ok(t) => return t,
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => panic!("bind {what}: {e}"),
        }
    }
    panic!("bind {what}: still in use");
}

/// Services in namespace `ns` that never report: TCP 5432 accepts and stays
/// silent, TLS 8443 completes a handshake (no client certificate asked
/// for) and closes the session cleanly, UDP 5353 answers a word that is no
/// greeting. They run until `stop`.
fn silent_services(ns: &str, stop: Arc<AtomicBool>) -> Vec<std::thread::JoinHandle<()>> {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["s.lab".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![rustls::pki_types::CertificateDer::from(cert.der().to_vec())],
                rustls::pki_types::PrivateKeyDer::Pkcs8(
                    rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der()),
                ),
            )
            .unwrap(),
    );
    let mut v = Vec::new();
    for port in [5432u16, 8443] {
        let (ns, stop, cfg) = (ns.to_string(), stop.clone(), cfg.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        v.push(std::thread::spawn(move || {
            netns::enter(&ns).unwrap();
            let l = bind_retry("tcp", || {
                TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], port)))
            });
            l.set_nonblocking(true).unwrap();
            tx.send(()).unwrap();
            let mut held = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let Ok((mut s, _)) = l.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                s.set_nonblocking(false).unwrap();
                if port == 8443 {
                    let mut conn = rustls::ServerConnection::new(cfg.clone()).unwrap();
                    if pathproof_lab::tls::handshake(&mut conn, &mut s).is_ok() {
                        conn.send_close_notify();
                        let _ = conn.write_tls(&mut s);
                    }
                    let _ = s.flush();
                } else {
                    // Silent, and open until the client gives up.
                    held.push(s);
                }
            }
        }));
        rx.recv().unwrap();
    }
    let (ns, stop2) = (ns.to_string(), stop.clone());
    let (tx, rx) = std::sync::mpsc::channel();
    v.push(std::thread::spawn(move || {
        netns::enter(&ns).unwrap();
        let u = bind_retry("udp", || {
            UdpSocket::bind(SocketAddr::from(([0, 0, 0, 0], 5353)))
        });
        u.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        tx.send(()).unwrap();
        let mut buf = [0u8; 1500];
        while !stop2.load(Ordering::SeqCst) {
            if let Ok((_, peer)) = u.recv_from(&mut buf) {
                let _ = u.send_to(b"hello\n", peer);
            }
        }
    }));
    rx.recv().unwrap();
    v
}

fn from_c(results: &[ProbeResult], to: &str, proto: Proto) -> ProbeResult {
    results
        .iter()
        .find(|r| r.from == "c" && r.to == to && r.proto == proto)
        .unwrap_or_else(|| panic!("no probe c -> {to}"))
        .clone()
}

#[test]
fn silent_services_and_an_empty_tls_answer_are_disagreements() {
    if !common::root_or_skip("silent_services_and_an_empty_tls_answer_are_disagreements") {
        return;
    }
    let l = common::Lab::up("silent", "silent.yaml", SILENT, None);
    // With the lab's own services every probe agrees, and the refused
    // client certificate is a real TLS failure (an alert after the client's
    // side of the handshake, TLS 1.3).
    let before = l.probe_all();
    let bad: Vec<_> = before.iter().filter(|r| !r.agree).collect();
    assert!(bad.is_empty(), "{bad:#?}");
    let tls = from_c(&before, "s:8443", Proto::Tcp);
    assert_eq!(tls.model, "tls failed");
    assert_eq!(tls.kernel.class, Class::TlsFailed, "{:?}", tls.kernel);
    let tcp = from_c(&before, "s:5432", Proto::Tcp);
    assert_eq!(tcp.kernel.answered_by.as_deref(), Some("s"));
    assert!(tcp.kernel.head_seen);
    let udp = from_c(&before, "s:5353", Proto::Udp);
    assert_eq!(udp.kernel.peer_seen, Some("10.77.0.10".parse().unwrap()));

    // The same sockets, answered by services that report nothing.
    kill_supervisor(&l.name);
    let stop = Arc::new(AtomicBool::new(false));
    let threads = silent_services(&format!("pp-{}.s", l.name), stop.clone());
    let after = l.probe_all();
    stop.store(true, Ordering::SeqCst);
    for t in threads {
        t.join().unwrap();
    }
    let tls = from_c(&after, "s:8443", Proto::Tcp);
    // A session that ends without a word after the handshake is no TLS
    // failure: the handshake worked, the model said it would not.
    assert_eq!(tls.kernel.class, Class::Connected, "{:?}", tls.kernel);
    assert!(
        tls.kernel.detail.contains("without a word"),
        "{:?}",
        tls.kernel
    );
    assert!(!tls.agree, "an empty TLS answer agreed with `tls failed`");
    let tcp = from_c(&after, "s:5432", Proto::Tcp);
    assert_eq!(tcp.kernel.class, Class::Connected, "{:?}", tcp.kernel);
    assert!(!tcp.agree, "a silent TCP service agreed: {:?}", tcp.kernel);
    let udp = from_c(&after, "s:5353", Proto::Udp);
    assert_eq!(udp.kernel.class, Class::Connected, "{:?}", udp.kernel);
    assert!(!udp.agree, "a UDP answer without a report agreed");
    for r in [&tcp, &udp] {
        assert!(
            r.disagreement
                .as_deref()
                .is_some_and(|d| d.contains("nothing was verified")),
            "{:?}",
            r.disagreement
        );
    }
    eprintln!(
        "silent services: c -> s:8443 {} ({}), c -> s:5432 {}, c -> s:5353 {}: all three disagree",
        tls.kernel.class.name(),
        tls.kernel.detail,
        tcp.kernel.class.name(),
        udp.kernel.class.name()
    );
}

fn probe_one(l: &common::Lab, from: &str, to: &str) -> ProbeResult {
    let scn = l.spec.load().unwrap();
    let job = probe::job_for(&scn, from, to, Proto::Tcp, None).unwrap();
    probe::probe(&scn, &l.plan(), vec![job]).unwrap().remove(0)
}

#[test]
fn mtls_servers_report_the_client_identity_they_verified() {
    if !common::root_or_skip("mtls_servers_report_the_client_identity_they_verified") {
        return;
    }
    let frontend = "spiffe://lab/ns/shop/sa/frontend";
    let legacy = "spiffe://lab/ns/batch/sa/legacy";
    let base = common::Lab::builtin("mtls", "tls-identity", None);
    let r = probe_one(&base, "frontend", "payments.mesh:8443");
    assert!(r.agree, "{:?}", r.disagreement);
    assert_eq!(
        r.kernel.tls,
        Some(TlsSeen {
            host: "payments".into(),
            client_id: Some(frontend.into())
        }),
        "{:?}",
        r.kernel
    );
    assert_eq!(r.model_client_id.as_deref(), Some(frontend));
    // legacy has no certificate: refused.
    let r = probe_one(&base, "legacy", "payments.mesh:8443");
    assert!(r.agree && r.kernel.class == Class::TlsFailed, "{r:?}");
    // Every probe of the scenario agrees, the expectation
    // `frontend -> payments.mesh:8443 must be authenticated by mtls` with
    // the identity compared.
    let all = base.probe_all();
    assert!(all.iter().all(|r| r.agree));
    let expect = all
        .iter()
        .find(|r| r.why.contains("authenticated by mtls"))
        .expect("the mtls expectation is probed");
    assert_eq!(
        expect
            .kernel
            .tls
            .as_ref()
            .and_then(|t| t.client_id.as_deref()),
        Some(frontend)
    );
    drop(base);

    // harden: legacy gets its own identity, and payments says so.
    let hard = common::Lab::builtin("mtlsh", "tls-identity", Some("harden"));
    let r = probe_one(&hard, "legacy", "payments.mesh:8443");
    assert!(r.agree, "{:?}", r.disagreement);
    assert_eq!(
        r.kernel.tls.as_ref().and_then(|t| t.client_id.as_deref()),
        Some(legacy)
    );
    // frontend now presents legacy's certificate (same CA, so payments
    // accepts it): the handshake works, the identity is not the one the
    // model proves, and the probe says so.
    let scn = hard.spec.load().unwrap();
    let idx = |h: &str| scn.host_by_name(h).unwrap().index();
    let tls_dir = lab::run_dir(&hard.name).join("tls");
    for ext in ["der", "key"] {
        std::fs::copy(
            tls_dir.join(format!("id-{}.{ext}", idx("legacy"))),
            tls_dir.join(format!("id-{}.{ext}", idx("frontend"))),
        )
        .unwrap();
    }
    let r = probe_one(&hard, "frontend", "payments.mesh:8443");
    assert_eq!(r.kernel.class, Class::Connected, "{:?}", r.kernel);
    assert!(!r.agree, "a stolen identity agreed");
    let why = r.disagreement.unwrap();
    assert!(
        why.contains(&format!(
            "payments verified the client identity {legacy}, the model says {frontend} is proven"
        )),
        "{why}"
    );
    eprintln!("mtls: the identity payments verified is compared: {why}");
}

/// The forward proxy's own socket reports who answered and the peer it saw,
/// like every other service: reaching it directly is verified too.
#[test]
fn a_forward_proxy_reached_directly_reports_its_peer() {
    if !common::root_or_skip("a_forward_proxy_reached_directly_reports_its_peer") {
        return;
    }
    let l = common::Lab::builtin("fpx", "mini-lab", None);
    let r = probe_one(&l, "web", "proxy:3128");
    assert_eq!(r.model, "reached");
    assert!(r.agree, "{:?}", r.disagreement);
    assert_eq!(r.kernel.answered_by.as_deref(), Some("proxy"));
    let web: IpAddr = "10.0.1.10".parse().unwrap();
    assert_eq!(r.kernel.peer_seen, Some(web), "{:?}", r.kernel);
    // The raw answer carries the header.
    let ns = format!("pp-{}.web", l.name);
    let got = netns::run_in(&ns, || {
        let mut s = std::net::TcpStream::connect("10.0.1.20:3128").unwrap();
        s.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    })
    .unwrap();
    assert!(
        got.starts_with("HTTP/1.1 400") && got.contains("X-Pathproof-Echo: host=proxy"),
        "{got}"
    );
}
