//! Split-horizon DNS: a tiny resolver per namespace, on 127.0.0.53:53, that
//! answers from the host's view (A, AAAA, CNAME chains, NXDOMAIN, NODATA,
//! SERVFAIL for loops), and the client the probe uses to ask it.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;

use pathproof_core::journey::resolve::{resolve, Resolution};
use pathproof_core::model::{DnsView, RecordData};

pub const RESOLVER: &str = "127.0.0.53:53";

const A: u16 = 1;
const CNAME: u16 = 5;
const AAAA: u16 = 28;

/// A query for `name` (A, or AAAA when `v6`).
pub fn encode_query(id: u16, name: &str, v6: bool) -> Vec<u8> {
    let mut q = Vec::with_capacity(32 + name.len());
    q.extend(id.to_be_bytes());
    q.extend([0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    encode_name(&mut q, name);
    q.extend((if v6 { AAAA } else { A }).to_be_bytes());
    q.extend(1u16.to_be_bytes());
    q
}

fn encode_name(out: &mut Vec<u8>, name: &str) {
    for label in name.trim_end_matches('.').split('.') {
        if label.is_empty() {
            continue;
        }
        let l = &label.as_bytes()[..label.len().min(63)];
        out.push(l.len() as u8);
        out.extend(l);
    }
    out.push(0);
}

fn read_name(msg: &[u8], mut pos: usize) -> Option<(String, usize)> {
    let mut labels = Vec::new();
    let mut end = None;
    for _ in 0..64 {
        let len = *msg.get(pos)? as usize;
        if len == 0 {
            return Some((labels.join("."), end.unwrap_or(pos + 1)));
        }
        if len & 0xc0 == 0xc0 {
            let ptr = ((len & 0x3f) << 8) | *msg.get(pos + 1)? as usize;
            end.get_or_insert(pos + 2);
            pos = ptr;
            continue;
        }
        labels.push(String::from_utf8_lossy(msg.get(pos + 1..pos + 1 + len)?).into_owned());
        pos += 1 + len;
    }
    None
}

/// The answer the view gives to a query, as a DNS message.
pub fn answer(view: Option<&DnsView>, query: &[u8]) -> Option<Vec<u8>> {
    if query.len() < 12 {
        return None;
    }
    let (name, end) = read_name(query, 12)?;
    let qtype = u16::from_be_bytes([*query.get(end)?, *query.get(end + 1)?]);
    let question = query.get(12..end + 4)?;
    let mut answers: Vec<(String, u16, Vec<u8>)> = Vec::new();
    let rcode = match view {
        None => 5, // REFUSED: this host has no view
        Some(view) => match resolve(view, &name, qtype == AAAA) {
            Resolution::Found { chain, .. } => {
                for r in chain {
                    let (t, data) = match &r.data {
                        RecordData::A {
                            address: IpAddr::V4(a),
                        } => (A, a.octets().to_vec()),
                        RecordData::Aaaa {
                            address: IpAddr::V6(a),
                        } => (AAAA, a.octets().to_vec()),
                        RecordData::Cname { target } => {
                            let mut d = Vec::new();
                            encode_name(&mut d, target);
                            (CNAME, d)
                        }
                        _ => continue,
                    };
                    answers.push((r.name.clone(), t, data));
                }
                0
            }
            Resolution::NoData { chain, .. } => {
                for r in chain {
                    if let RecordData::Cname { target } = &r.data {
                        let mut d = Vec::new();
                        encode_name(&mut d, target);
                        answers.push((r.name.clone(), CNAME, d));
                    }
                }
                0
            }
            Resolution::NxDomain { .. } => 3,
            Resolution::Loop { .. } => 2,
        },
    };
    let mut m = Vec::new();
    m.extend(&query[0..2]);
    m.extend([0x81, 0x80 | rcode]);
    m.extend(1u16.to_be_bytes());
    m.extend((answers.len() as u16).to_be_bytes());
    m.extend([0, 0, 0, 0]);
    m.extend(question);
    for (n, t, data) in answers {
        encode_name(&mut m, &n);
        m.extend(t.to_be_bytes());
        m.extend(1u16.to_be_bytes());
        m.extend(60u32.to_be_bytes());
        m.extend((data.len() as u16).to_be_bytes());
        m.extend(data);
    }
    Some(m)
}

/// Serves one view forever on 127.0.0.53:53 of the calling thread's namespace.
pub fn serve(sock: UdpSocket, view: Option<DnsView>) {
    let mut buf = [0u8; 1500];
    loop {
        let Ok((n, peer)) = sock.recv_from(&mut buf) else {
            continue;
        };
        if let Some(a) = answer(view.as_ref(), &buf[..n]) {
            let _ = sock.send_to(&a, peer);
        }
    }
}

/// What a lookup gave, in the words of the model's outcomes.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    Found(Vec<IpAddr>),
    NxDomain,
    NoData,
    ServFail,
    /// No resolver answers (the host has no view) or it refused.
    NoResolver,
}

fn parse_answer(msg: &[u8], v6: bool) -> Option<Lookup> {
    if msg.len() < 12 {
        return None;
    }
    let rcode = msg[3] & 0x0f;
    match rcode {
        0 => {}
        3 => return Some(Lookup::NxDomain),
        2 => return Some(Lookup::ServFail),
        _ => return Some(Lookup::NoResolver),
    }
    let an = u16::from_be_bytes([msg[6], msg[7]]) as usize;
    let (_, mut pos) = read_name(msg, 12)?;
    pos += 4;
    let mut addrs = Vec::new();
    for _ in 0..an {
        let (_, p) = read_name(msg, pos)?;
        let t = u16::from_be_bytes([*msg.get(p)?, *msg.get(p + 1)?]);
        let len = u16::from_be_bytes([*msg.get(p + 8)?, *msg.get(p + 9)?]) as usize;
        let data = msg.get(p + 10..p + 10 + len)?;
        match (t, v6) {
            (A, false) if len == 4 => {
                addrs.push(IpAddr::from(<[u8; 4]>::try_from(data).ok()?));
            }
            (AAAA, true) if len == 16 => {
                addrs.push(IpAddr::from(<[u8; 16]>::try_from(data).ok()?));
            }
            _ => {}
        }
        pos = p + 10 + len;
    }
    Some(if addrs.is_empty() {
        Lookup::NoData
    } else {
        Lookup::Found(addrs)
    })
}

/// Asks the resolver of the calling thread's namespace.
pub fn lookup(name: &str, v6: bool) -> Lookup {
    let Ok(sock) = UdpSocket::bind("127.0.0.1:0") else {
        return Lookup::NoResolver;
    };
    let _ = sock.set_read_timeout(Some(Duration::from_millis(500)));
    let addr: SocketAddr = RESOLVER.parse().expect("valid");
    if sock.connect(addr).is_err() {
        return Lookup::NoResolver;
    }
    let id = 0x5050;
    if sock.send(&encode_query(id, name, v6)).is_err() {
        return Lookup::NoResolver;
    }
    let mut buf = [0u8; 1500];
    match sock.recv(&mut buf) {
        Ok(n) => parse_answer(&buf[..n], v6).unwrap_or(Lookup::ServFail),
        Err(_) => Lookup::NoResolver,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_answers_and_the_client_reads_it() {
        let scn = pathproof_core::load(
            "t.yaml",
            "dns:\n  v:\n    a.example: 10.0.0.1\n    b.example: cname a.example\n    c.example: \"2001:db8::1\"\n",
            None,
        )
        .expect("loads");
        let view = &scn.dns[0];
        let q = encode_query(7, "b.example", false);
        let a = answer(Some(view), &q).expect("answer");
        assert_eq!(
            parse_answer(&a, false),
            Some(Lookup::Found(vec!["10.0.0.1".parse().unwrap()]))
        );
        let a = answer(Some(view), &encode_query(7, "nope.example", false)).unwrap();
        assert_eq!(parse_answer(&a, false), Some(Lookup::NxDomain));
        let a = answer(Some(view), &encode_query(7, "c.example", false)).unwrap();
        assert_eq!(parse_answer(&a, false), Some(Lookup::NoData));
        let a = answer(None, &encode_query(7, "c.example", false)).unwrap();
        assert_eq!(parse_answer(&a, false), Some(Lookup::NoResolver));
    }
}
