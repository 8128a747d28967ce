//! Kernel names for a lab: namespaces, interfaces, bridges, nft tables.
//!
//! Every namespace of a lab is called `pp-LAB.NAME` (a lab name has no dot), so two labs (and the
//! machine's own namespaces) never collide, and `lab down` can find what it
//! made even when the run directory is gone.

use pathproof_core::model::{NetworkId, Scenario};

/// The prefix of every namespace pathproof makes.
pub const NS_PREFIX: &str = "pp-";

/// A name made safe for the kernel: letters, digits, `-` and `_` only.
pub fn token(s: &str) -> String {
    let t: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if t.is_empty() {
        "_".to_string()
    } else {
        t
    }
}

/// Checks a lab name given by the user.
pub fn check_lab_name(s: &str) -> Result<(), String> {
    if s.is_empty()
        || s.len() > 40
        || !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "lab name `{s}` must be 1 to 40 letters, digits, `-` or `_`"
        ));
    }
    Ok(())
}

#[derive(Debug, Clone)]
pub struct Names {
    pub lab: String,
    host_tokens: Vec<String>,
    ifnames: Vec<String>,
}

impl Names {
    pub fn new(scn: &Scenario, lab: &str) -> Self {
        let mut host_tokens: Vec<String> = Vec::new();
        for (i, h) in scn.hosts.iter().enumerate() {
            let t = token(&h.name);
            let t = if host_tokens.contains(&t) || t == "br" || t.starts_with("net_") {
                format!("h{i}")
            } else {
                t
            };
            host_tokens.push(t);
        }
        let mut ifnames: Vec<String> = Vec::new();
        for (i, n) in scn.networks.iter().enumerate() {
            let t = token(&n.name);
            let ok = t == n.name
                && t.len() <= 15
                && t != "lo"
                && !t.starts_with("n-")
                && !ifnames.contains(&t);
            ifnames.push(if ok { t } else { format!("n-{i}") });
        }
        Names {
            lab: lab.to_string(),
            host_tokens,
            ifnames,
        }
    }

    /// The token of a host inside kernel names.
    pub fn host_token(&self, host: usize) -> &str {
        &self.host_tokens[host]
    }

    /// The namespace of a host.
    pub fn host_ns(&self, host: usize) -> String {
        format!("{NS_PREFIX}{}.{}", self.lab, self.host_tokens[host])
    }

    /// The namespace that holds the bridges (one per network) and the far
    /// ends of the veth pairs.
    pub fn bridge_ns(&self) -> String {
        format!("{NS_PREFIX}{}.br", self.lab)
    }

    /// The namespace of a sender standing for a whole network.
    pub fn standin_ns(&self, net: usize) -> String {
        format!("{NS_PREFIX}{}.net_{net}", self.lab)
    }

    /// The interface name, inside a host namespace, of the host's interface on
    /// a network: the network's name when it is a valid interface name.
    pub fn ifname(&self, _scn: &Scenario, net: NetworkId) -> &str {
        &self.ifnames[net.index()]
    }

    pub fn ifname_idx(&self, net: usize) -> &str {
        &self.ifnames[net]
    }

    /// The name of interface `iface` of host `host`: the name its rule set gives it
    /// (`ruleset:`, which the kernel then checks as the user wrote it), else its
    /// network's interface name.
    pub fn host_ifname(&self, scn: &Scenario, host: usize, iface: usize) -> String {
        let h = &scn.hosts[host];
        match &h.ruleset {
            Some(r) => r.ifnames[iface].clone(),
            None => self.ifnames[h.interfaces[iface].network.index()].clone(),
        }
    }

    /// Whether a namespace name belongs to this lab.
    pub fn owns_ns(&self, ns: &str) -> bool {
        ns.starts_with(&format!("{NS_PREFIX}{}.", self.lab))
    }
}

/// The bridge of a network inside the bridge namespace.
pub fn bridge(net: usize) -> String {
    format!("br{net}")
}

/// The far end (in the bridge namespace) of host `h`'s interface on network `n`.
pub fn port(h: usize, n: usize) -> String {
    format!("h{h}n{n}")
}
