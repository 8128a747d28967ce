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

/// Whether a certificate name covers `asked` (one leading `*.` label at most).
pub fn name_matches(cert_name: &str, asked: &str) -> bool {
    let cert_name = cert_name.to_ascii_lowercase();
    let asked = asked.to_ascii_lowercase();
    match cert_name.strip_prefix("*.") {
        Some(suffix) => asked
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
        None => cert_name == asked,
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
    }
}
