//! A `via-gateway` network in the kernel: its hosts but the gateway get
//! their address as a /32 or /128 without a prefix route, then the model's
//! route to the gateway's address and its routes of the network's prefixes
//! through the gateway; the gateway and other networks' hosts keep their
//! addresses with the network's prefix. (The random differential test
//! probes such networks in real labs: `synth::small` marks some of its
//! networks `via-gateway`.)

use pathproof_lab::plan::plan;

#[test]
fn a_via_gateway_host_gets_a_host_address_and_the_routes_through_its_gateway() {
    let scn = pathproof_core::load(
        "v.yaml",
        include_str!("../../core/tests/via-gateway.yaml"),
        None,
    )
    .expect("loads");
    let p = plan(&scn, "pp-vg");
    let lines = |name: &str| -> Vec<String> {
        p.hosts
            .iter()
            .find(|h| h.name == name)
            .expect("host planned")
            .ip
            .iter()
            .filter(|l| l.starts_with("addr ") || l.starts_with("route "))
            // The interface's name is the lab's; keep what comes before it.
            .map(|l| l.split(" dev ").next().unwrap_or(l).to_string())
            .collect()
    };
    assert_eq!(
        lines("a"),
        [
            "addr add 10.0.0.5/32 noprefixroute",
            "addr add fd00::5/128 noprefixroute nodad",
            "route add fd00::1/128",
            "route add fd00::/64 via fd00::1",
            "route add 10.0.0.1/32",
            "route add 10.0.0.0/24 via 10.0.0.1",
            "route add 0.0.0.0/0 via 10.0.0.1",
            "route add ::/0 via fd00::1",
        ]
    );
    assert_eq!(
        lines("node"),
        [
            "addr add 10.0.0.1/24",
            "addr add fd00::1/64 nodad",
            "addr add 10.1.0.1/24"
        ]
    );
    assert_eq!(
        lines("b"),
        ["addr add 10.1.0.5/24", "route add 0.0.0.0/0 via 10.1.0.1"]
    );
}
