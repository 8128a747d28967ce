//! The built-in scenarios, embedded in the binary. The files live in
//! `scenarios/` at the repository root.

/// One built-in scenario.
#[derive(Debug, Clone, Copy)]
pub struct Example {
    pub name: &'static str,
    /// What it shows, in one line.
    pub teaches: &'static str,
    pub text: &'static str,
}

impl Example {
    /// The name reports use for this file.
    pub fn file(&self) -> String {
        format!("{}.yaml", self.name)
    }
}

/// The scenario used when none is given.
pub const DEFAULT: &str = "mini-lab";

pub const ALL: &[Example] = &[
    Example {
        name: "mini-lab",
        teaches: "an edge firewall, DNAT, split-horizon DNS, a proxy, and the metadata endpoint",
        text: include_str!("../../../scenarios/mini-lab.yaml"),
    },
    Example {
        name: "dual-stack",
        teaches: "IPv6 beside IPv4, and an IPv6 path around an IPv4 rule",
        text: include_str!("../../../scenarios/dual-stack.yaml"),
    },
    Example {
        name: "stateless-acl",
        teaches: "stateless versus stateful filtering: who lets the reply back in",
        text: include_str!("../../../scenarios/stateless-acl.yaml"),
    },
    Example {
        name: "nat-egress",
        teaches: "masquerading hides the source; a port forward lets the internet in",
        text: include_str!("../../../scenarios/nat-egress.yaml"),
    },
    Example {
        name: "tls-identity",
        teaches: "what TLS verification proves, verification turned off, and mutual TLS",
        text: include_str!("../../../scenarios/tls-identity.yaml"),
    },
    Example {
        name: "segmentation",
        teaches: "three tiers versus a flat network: default deny and lateral movement",
        text: include_str!("../../../scenarios/segmentation.yaml"),
    },
    Example {
        name: "split-dns",
        teaches: "split-horizon DNS: one name, two answers, and a squatted internal domain",
        text: include_str!("../../../scenarios/split-dns.yaml"),
    },
    Example {
        name: "ssrf-metadata",
        teaches: "SSRF: a URL-fetching service, an egress proxy, and the metadata endpoint",
        text: include_str!("../../../scenarios/ssrf-metadata.yaml"),
    },
    Example {
        name: "routing",
        teaches: "an accidental route around a firewall, and asymmetric routing",
        text: include_str!("../../../scenarios/routing.yaml"),
    },
    Example {
        name: "tls-mitm",
        teaches: "TLS interception on a hostile Wi-Fi: chain, name, pinning, verification off",
        text: include_str!("../../../scenarios/tls-mitm.yaml"),
    },
    Example {
        name: "dns-spoofing",
        teaches: "a poisoned resolver cache, what TLS catches, and a validating resolver",
        text: include_str!("../../../scenarios/dns-spoofing.yaml"),
    },
    Example {
        name: "lan-spoofing",
        teaches: "neighbour spoofing on a LAN: a guest answers for the gateway",
        text: include_str!("../../../scenarios/lan-spoofing.yaml"),
    },
    Example {
        name: "proxy-xff",
        teaches: "a reverse proxy, X-Forwarded-For as a claim, and a path that skips the proxy",
        text: include_str!("../../../scenarios/proxy-xff.yaml"),
    },
    Example {
        name: "pod-egress",
        teaches: "Kubernetes egress: a pod reaches the metadata endpoint until default-deny egress with a DNS exception",
        text: include_str!("../../../scenarios/pod-egress.yaml"),
    },
    Example {
        name: "cloud-acl",
        teaches: "AWS security groups remember connections, network ACLs do not: ephemeral ports and return rules",
        text: include_str!("../../../scenarios/cloud-acl.yaml"),
    },
    Example {
        name: "syn-flood",
        teaches: "a SYN flood from forged addresses, the SYN queue, SYN cookies, and a rate limit that hurts visitors (simulate)",
        text: include_str!("../../../scenarios/syn-flood.yaml"),
    },
    Example {
        name: "login-limits",
        teaches: "rate limits per address, per account and both, against credential stuffing and a NAT (simulate)",
        text: include_str!("../../../scenarios/login-limits.yaml"),
    },
    Example {
        name: "ddos-layers",
        teaches: "volumetric, protocol and application floods, and the defence each one needs (simulate)",
        text: include_str!("../../../scenarios/ddos-layers.yaml"),
    },
];

/// A built-in scenario by name.
pub fn get(name: &str) -> Option<&'static Example> {
    ALL.iter().find(|e| e.name == name)
}
