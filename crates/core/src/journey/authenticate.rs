//! Authenticate: what a TLS handshake between a client and a socket proves.

use crate::model::{TlsClient, TlsServer};

#[derive(Debug, Clone, PartialEq)]
pub struct Handshake {
    /// Whether the connection goes on.
    pub ok: bool,
    /// The client checked the certificate and it named what it asked for, from a CA it trusts.
    pub server_verified: bool,
    /// The client presented a certificate the server accepted (mutual TLS).
    pub client_identity: Option<String>,
    /// Why the handshake failed, or what was skipped.
    pub note: String,
}

/// Whether a certificate name covers `asked`. A wildcard is a whole leftmost
/// label (`*.example.com`) and stands for exactly one label of a DNS name:
/// not for the bare domain, not for two labels, not for an address, and not
/// for a literal `*` (RFC 6125 6.4.3 as webpki applies it; a partial label
/// such as `w*.example.com` is compared literally, as webpki does not expand it).
pub fn name_matches(cert_name: &str, asked: &str) -> bool {
    let cert_name = cert_name.to_ascii_lowercase();
    let asked = asked.to_ascii_lowercase();
    match cert_name.strip_prefix("*.") {
        Some(suffix) => {
            asked.parse::<std::net::IpAddr>().is_err()
                && suffix.contains('.')
                && asked.split_once('.').is_some_and(|(label, rest)| {
                    !label.is_empty() && !label.contains('*') && rest == suffix
                })
        }
        None => cert_name == asked,
    }
}

/// The name a client asks for (SNI) when it names a host rather than a DNS
/// name: the socket's first certificate name that is not a wildcard; when
/// every name is a wildcard `*.D`, the host's own name under it (`HOST.D`),
/// a name the certificate covers, as a client of such a service would use one;
/// with no certificate name, the host's name.
pub fn name_asked_of_host(tls: &TlsServer, host: &str) -> String {
    if let Some(n) = tls.names.iter().find(|n| !n.starts_with("*.")) {
        return n.clone();
    }
    match tls.names.first().and_then(|n| n.strip_prefix("*.")) {
        Some(domain) => format!("{}.{domain}", host.to_ascii_lowercase()),
        None => host.to_string(),
    }
}

pub fn handshake(client: &TlsClient, server: &TlsServer, asked: &str) -> Handshake {
    let name_ok = server.names.iter().any(|n| name_matches(n, asked));
    let issuer_ok = client.trust.contains(&server.issuer);
    let mut h = Handshake {
        ok: true,
        server_verified: false,
        client_identity: None,
        note: String::new(),
    };
    if client.verify {
        if !name_ok {
            h.ok = false;
            h.note = format!(
                "the certificate names {} but the client asked for {asked}",
                server.names.join(", ")
            );
            return h;
        }
        if !issuer_ok {
            h.ok = false;
            h.note = format!(
                "the certificate is issued by {}, which the client does not trust (it trusts {})",
                server.issuer,
                client.trust.join(", ")
            );
            return h;
        }
        h.server_verified = true;
    } else {
        h.note = "the client does not verify the certificate".to_string();
    }
    if let Some(ca) = &server.client_ca {
        match &client.identity {
            Some(id) if &id.issuer == ca => h.client_identity = Some(id.id.clone()),
            Some(id) => {
                h.ok = false;
                h.note = format!(
                    "the server requires a client certificate from {ca}; the client's ({}) is from {}",
                    id.id, id.issuer
                );
            }
            None => {
                h.ok = false;
                h.note = format!(
                    "the server requires a client certificate from {ca}; the client has none"
                );
            }
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_cover_one_label() {
        assert!(name_matches("*.example.com", "www.example.com"));
        assert!(!name_matches("*.example.com", "a.b.example.com"));
        assert!(!name_matches("*.example.com", "example.com"));
        assert!(name_matches("WWW.example.com", "www.EXAMPLE.com"));
        // Never a literal star, an address, or a public suffix on its own.
        assert!(!name_matches("*.example.com", "*.example.com"));
        assert!(!name_matches("*.0.0.10", "10.0.0.10"));
        assert!(!name_matches("*.com", "example.com"));
        assert!(!name_matches("w*.example.com", "www.example.com"));
        assert!(name_matches("w*.example.com", "w*.example.com"));
    }

    #[test]
    fn a_named_host_asks_for_a_name_its_certificate_covers() {
        let tls = |names: &[&str]| TlsServer {
            names: names.iter().map(|s| s.to_string()).collect(),
            issuer: "ca".into(),
            client_ca: None,
        };
        assert_eq!(
            name_asked_of_host(&tls(&["*.example.com"]), "Web"),
            "web.example.com"
        );
        assert_eq!(
            name_asked_of_host(&tls(&["*.example.com", "api.example.com"]), "web"),
            "api.example.com"
        );
        assert_eq!(name_asked_of_host(&tls(&[]), "web"), "web");
        for names in [&["*.example.com"][..], &["a.example.com", "*.example.com"]] {
            let t = tls(names);
            let asked = name_asked_of_host(&t, "web");
            assert!(t.names.iter().any(|n| name_matches(n, &asked)), "{asked}");
        }
    }
}
