//! Captured traffic as test packets: reads a pcap or pcapng capture as a stream,
//! record by record (never the whole file), decodes each packet (Ethernet with or
//! without VLAN tags, Linux cooked SLL and SLL2, raw IPv4 and IPv6; TCP, UDP,
//! ICMP, ICMPv6 and other protocols), and gives it the conntrack state netfilter
//! would have given it, derived from the capture itself ([`Conntrack`]).
//!
//! Behind the `capture` feature (the `pathproof` binary turns it on): the pure
//! evaluator does not need `pcap-parser` and `etherparse`.
//!
//! Crates: `pcap-parser` (rusticata) reads both formats with one streaming reader
//! (`create_reader`: pcap of either byte order and time precision, pcapng with
//! several sections and interfaces, each with its own link type), in a bounded
//! buffer, in safe code; `etherparse` splits link, VLAN and IP headers (IPv6
//! extension headers included) and copes with packets cut short by the snap
//! length (`LaxSlicedPacket`). Transport headers are read here (ports, TCP flags,
//! the packet an ICMP error quotes): a few fixed offsets.

use std::collections::HashMap;
use std::io::Read;
use std::net::IpAddr;

use etherparse::{EtherType, LaxNetSlice, LaxSlicedPacket};
use pcap_parser::pcapng::Block;
use pcap_parser::traits::{PcapNGPacketBlock, PcapReaderIterator};
use pcap_parser::{Linktype, PcapBlockOwned, PcapError};

use crate::model::{CtState, Hook};
use crate::packet::Packet;

/// Something wrong with the capture file itself: where, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureError {
    /// The 1-based number of the packet whose record is bad (0: the file header).
    pub packet: u64,
    /// The byte offset in the file where the bad record starts.
    pub offset: u64,
    pub message: String,
}

impl std::fmt::Display for CaptureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.packet == 0 {
            write!(f, "at byte offset {}: {}", self.offset, self.message)
        } else {
            write!(
                f,
                "packet {} (byte offset {}): {}",
                self.packet, self.offset, self.message
            )
        }
    }
}

/// One record of the capture.
#[derive(Debug, Clone, PartialEq)]
pub struct Captured {
    /// 1-based, counting every packet record of the file.
    pub number: u64,
    /// Byte offset of the record in the file.
    pub offset: u64,
    /// Seconds since the epoch, as the capture says.
    pub time: f64,
    /// The packet to evaluate, with its derived state; `Err` says why it is not
    /// evaluated (not IP, a later fragment, cut short by the snap length, ...).
    pub packet: Result<Packet, String>,
    /// The flow the packet belongs to (both directions alike), when it has one.
    pub flow: Option<FlowKey>,
}

/// A flow, whatever its direction: the capture interface it is seen on (a pcapng
/// interface, a Linux cooked v2 interface index; 0 otherwise), protocol and the two
/// ends, sorted (ICMP echoes: the identifier stands for both ports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    pub iface: u32,
    pub protocol: u8,
    pub a: (IpAddr, u16),
    pub b: (IpAddr, u16),
}

impl std::fmt::Display for FlowKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let end = |(a, p): (IpAddr, u16)| match a {
            IpAddr::V6(a) if p != 0 => format!("[{a}]:{p}"),
            a if p != 0 => format!("{a}:{p}"),
            a => a.to_string(),
        };
        let proto = match self.protocol {
            6 => "tcp".to_string(),
            17 => "udp".to_string(),
            1 => "icmp".to_string(),
            58 => "icmpv6".to_string(),
            p => p.to_string(),
        };
        write!(f, "{proto} {} <-> {}", end(self.a), end(self.b))
    }
}

/// How the records' packets are given a hook and interfaces.
#[derive(Debug, Clone, Default)]
pub struct CaptureOptions {
    /// The hook every packet is evaluated at (`None`: input, except packets a Linux
    /// cooked capture marks as sent by the host, which are output).
    pub hook: Option<Hook>,
    /// The input and output interface names given to every packet.
    pub in_iface: Option<String>,
    pub out_iface: Option<String>,
}

/// Buffer size of the streaming reader; grown up to [`MAX_RECORD`] for a record
/// that does not fit.
const BUFFER: usize = 1 << 16;
const MAX_RECORD: usize = 1 << 26;

/// A packet record: link type, time, data, capture interface.
type Record = (Linktype, f64, Vec<u8>, u32);

/// Reads a capture record by record.
pub struct CaptureReader<'r> {
    inner: Box<dyn PcapReaderIterator + Send + 'r>,
    /// Bytes of the file consumed so far.
    offset: u64,
    number: u64,
    /// Legacy pcap: the link type and whether timestamps are in nanoseconds.
    legacy: Option<(Linktype, bool)>,
    /// pcapng: per interface of the current section, link type and timestamp
    /// resolution (units per second) and offset.
    ifaces: Vec<(Linktype, u64, u64)>,
    conntrack: Conntrack,
    options: CaptureOptions,
    done: bool,
    capacity: usize,
}

impl<'r> CaptureReader<'r> {
    /// Starts reading `input` (pcap or pcapng, told by its first bytes).
    pub fn new<R: Read + Send + 'r>(
        input: R,
        options: CaptureOptions,
    ) -> Result<CaptureReader<'r>, CaptureError> {
        let inner = pcap_parser::create_reader(BUFFER, input).map_err(|e| CaptureError {
            packet: 0,
            offset: 0,
            message: match e {
                PcapError::Eof => "the capture is empty".into(),
                PcapError::HeaderNotRecognized => {
                    "not a pcap or pcapng capture (the first bytes are no magic number either format has)".into()
                }
                PcapError::ReadError => "the capture cannot be read".into(),
                other => format!("the capture's header is bad: {other:?}"),
            },
        })?;
        Ok(CaptureReader {
            inner,
            offset: 0,
            number: 0,
            legacy: None,
            ifaces: Vec::new(),
            conntrack: Conntrack::default(),
            options,
            done: false,
            capacity: BUFFER,
        })
    }

    /// Tells the reader that the host the capture was taken on dropped or rejected
    /// packet `c` (by the rule set in force when it was captured). When the packet
    /// opened its flow, netfilter kept no conntrack entry for it (an entry is
    /// confirmed only when its first packet passes): the flow's next packet is new
    /// again, and what the reject sends back (a TCP reset, an ICMP error quoting
    /// it) is `related`, as the kernel attaches the refused packet's entry to it.
    pub fn refused(&mut self, c: &Captured) {
        if let (Some(k), Ok(p)) = (c.flow, &c.packet) {
            if p.state == CtState::New {
                self.conntrack.refuse(k, (p.src, p.sport.unwrap_or(0)));
            }
        }
    }

    fn error(&mut self, message: String) -> Option<Result<Captured, CaptureError>> {
        self.done = true;
        Some(Err(CaptureError {
            packet: self.number + 1,
            offset: self.offset,
            message,
        }))
    }
}

impl Iterator for CaptureReader<'_> {
    type Item = Result<Captured, CaptureError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            // What one record gives: a packet (link type, time, data, sent by the
            // host), or nothing to report.
            let step: (usize, Option<Record>) = match self.inner.next() {
                Ok((len, block)) => {
                    let got = match block {
                        PcapBlockOwned::LegacyHeader(h) => {
                            // 0xa1b23c4d: nanosecond timestamps.
                            let nanos =
                                h.magic_number == 0xa1b2_3c4d || h.magic_number == 0x4d3c_b2a1;
                            self.legacy = Some((h.network, nanos));
                            None
                        }
                        PcapBlockOwned::Legacy(b) => {
                            let (lt, nanos) = self.legacy.unwrap_or((Linktype(1), false));
                            let frac = if nanos { 1e-9 } else { 1e-6 };
                            let t = f64::from(b.ts_sec) + f64::from(b.ts_usec) * frac;
                            let n = (b.caplen as usize).min(b.data.len());
                            Some((lt, t, b.data[..n].to_vec(), 0))
                        }
                        PcapBlockOwned::NG(Block::SectionHeader(_)) => {
                            self.ifaces.clear();
                            None
                        }
                        PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                            let res = idb.ts_resolution().unwrap_or(1_000_000);
                            self.ifaces
                                .push((idb.linktype, res, idb.if_tsoffset as u64));
                            None
                        }
                        PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                            let Some(&(lt, res, off)) = self.ifaces.get(epb.if_id as usize) else {
                                let id = epb.if_id;
                                self.inner.consume(len);
                                return self.error(format!(
                                        "an enhanced packet block names interface {id}, which no interface description block of its section declares"
                                    ));
                            };
                            let t = pcap_parser::pcapng::build_ts_f64(
                                epb.ts_high,
                                epb.ts_low,
                                off,
                                res,
                            );
                            Some((lt, t, epb.packet_data().to_vec(), epb.if_id))
                        }
                        PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                            let Some(&(lt, _, _)) = self.ifaces.first() else {
                                self.inner.consume(len);
                                return self.error(
                                    "a simple packet block before any interface description block"
                                        .into(),
                                );
                            };
                            Some((lt, 0.0, spb.packet_data().to_vec(), 0))
                        }
                        PcapBlockOwned::NG(_) => None,
                    };
                    (len, got)
                }
                Err(PcapError::Eof) => {
                    self.done = true;
                    return None;
                }
                Err(PcapError::Incomplete(_)) => {
                    if self.inner.reader_exhausted() {
                        let left = self.inner.data().len();
                        return self.error(format!(
                            "the capture ends inside a record ({left} byte{} of it)",
                            if left == 1 { "" } else { "s" }
                        ));
                    }
                    if self.inner.refill().is_err() {
                        return self.error("the capture cannot be read further".into());
                    }
                    continue;
                }
                Err(PcapError::BufferTooSmall) => {
                    if self.capacity >= MAX_RECORD {
                        return self
                            .error(format!("a record larger than {} MiB", MAX_RECORD >> 20));
                    }
                    self.capacity *= 4;
                    if !self.inner.grow(self.capacity) {
                        return self.error("a record too large to read".into());
                    }
                    continue;
                }
                Err(PcapError::UnexpectedEof) => {
                    return self.error("the capture ends inside a record".into());
                }
                Err(PcapError::ReadError) => {
                    return self.error("the capture cannot be read further".into());
                }
                Err(e) => {
                    let what = match e {
                        PcapError::NomError(_, k) => format!("{k:?}"),
                        PcapError::OwnedNomError(_, k) => format!("{k:?}"),
                        other => format!("{other:?}"),
                    };
                    return self.error(format!(
                        "a malformed record (its header or lengths do not hold together: {what})"
                    ));
                }
            };
            let (len, got) = step;
            let at = self.offset;
            self.inner.consume(len);
            self.offset += len as u64;
            let Some((lt, time, data, iface)) = got else {
                continue;
            };
            self.number += 1;
            let decoded = decode(lt, &data, iface);
            let (packet, flow) = match decoded {
                Err(why) => (Err(why), None),
                Ok(d) => {
                    let hook = self.options.hook.unwrap_or(if d.outgoing {
                        Hook::Output
                    } else {
                        Hook::Input
                    });
                    let (state, flow) = self.conntrack.state(&d, time);
                    (
                        Ok(Packet {
                            protocol: d.protocol,
                            src: d.src,
                            dst: d.dst,
                            sport: d.ports.map(|p| p.0),
                            dport: d.ports.map(|p| p.1),
                            in_iface: self.options.in_iface.clone(),
                            out_iface: self.options.out_iface.clone(),
                            state,
                            hook,
                        }),
                        flow,
                    )
                }
            };
            return Some(Ok(Captured {
                number: self.number,
                offset: at,
                time,
                packet,
                flow,
            }));
        }
    }
}

/// A packet's headers as conntrack reads them.
#[derive(Debug, Clone)]
pub(crate) struct Decoded {
    pub protocol: u8,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// TCP, UDP, SCTP, DCCP, UDP-Lite ports.
    pub ports: Option<(u16, u16)>,
    /// TCP flags.
    pub tcp_flags: u8,
    /// ICMP / ICMPv6 type, code and identifier (echoes), and for an error the
    /// packet it quotes (protocol, source, destination, ports or echo id).
    pub icmp: Option<(u8, u8, u16)>,
    pub quoted: Option<(u8, IpAddr, IpAddr, (u16, u16))>,
    /// A Linux cooked capture says the host sent it.
    pub outgoing: bool,
    /// The capture interface (see [`FlowKey::iface`]).
    pub iface: u32,
}

const TCP_FIN: u8 = 0x01;
const TCP_SYN: u8 = 0x02;
const TCP_RST: u8 = 0x04;
const TCP_ACK: u8 = 0x10;

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn decode(lt: Linktype, data: &[u8], iface: u32) -> Result<Decoded, String> {
    let mut outgoing = false;
    let mut iface = iface;
    let sliced = match lt.0 {
        // Ethernet (VLAN tags included).
        1 => LaxSlicedPacket::from_ethernet(data)
            .map_err(|e| format!("an Ethernet frame too short to read ({e})"))?,
        // Raw IP (DLT_RAW is 101 in a file, 12 or 14 on some systems; 228, 229).
        12 | 14 | 101 | 228 | 229 => LaxSlicedPacket::from_ip(data)
            .map_err(|e| format!("an IP packet too short or not IP ({e})"))?,
        // Linux cooked: pkttype 4 is "sent by this host".
        113 => {
            let pkttype = be16(data, 0).ok_or("a Linux cooked header cut short")?;
            let proto = be16(data, 14).ok_or("a Linux cooked header cut short")?;
            outgoing = pkttype == 4;
            LaxSlicedPacket::from_ether_type(EtherType(proto), data.get(16..).unwrap_or(&[]))
        }
        276 => {
            let proto = be16(data, 0).ok_or("a Linux cooked (v2) header cut short")?;
            let pkttype = *data.get(10).ok_or("a Linux cooked (v2) header cut short")?;
            outgoing = pkttype == 4;
            iface = u32::from_be_bytes(
                data.get(4..8)
                    .and_then(|b| b.try_into().ok())
                    .ok_or("a Linux cooked (v2) header cut short")?,
            );
            LaxSlicedPacket::from_ether_type(EtherType(proto), data.get(20..).unwrap_or(&[]))
        }
        other => {
            return Err(format!(
                "link type {other} is not read (Ethernet 1, raw IP 101/228/229, Linux cooked 113 and 276 are)"
            ))
        }
    };
    let (src, dst, protocol, payload, fragment, incomplete) = match &sliced.net {
        Some(LaxNetSlice::Ipv4(v4)) => {
            let h = v4.header();
            let p = v4.payload();
            let later = h.fragments_offset().value() != 0;
            (
                IpAddr::V4(h.source_addr()),
                IpAddr::V4(h.destination_addr()),
                p.ip_number.0,
                p.payload,
                later,
                p.incomplete,
            )
        }
        Some(LaxNetSlice::Ipv6(v6)) => {
            let h = v6.header();
            let p = v6.payload();
            (
                IpAddr::V6(h.source_addr()),
                IpAddr::V6(h.destination_addr()),
                p.ip_number.0,
                p.payload,
                p.fragmented,
                p.incomplete,
            )
        }
        Some(LaxNetSlice::Arp(_)) => return Err("ARP, not IP".into()),
        None => {
            return Err(match sliced.stop_err {
                Some((e, _)) => format!("not an IP packet that can be read ({e})"),
                None => "not an IP packet".into(),
            })
        }
    };
    if fragment {
        return Err("a later fragment of an IP datagram (netfilter sees the datagram whole, after reassembly)".into());
    }
    let cut = |what: &str| {
        format!(
            "its {what} header is cut short ({} byte{} of IP payload in the capture{})",
            payload.len(),
            if payload.len() == 1 { "" } else { "s" },
            if incomplete {
                ": the snap length cut it"
            } else {
                ""
            }
        )
    };
    let mut d = Decoded {
        protocol,
        src,
        dst,
        ports: None,
        tcp_flags: 0,
        icmp: None,
        quoted: None,
        outgoing,
        iface,
    };
    match protocol {
        6 | 17 | 33 | 132 | 136 => {
            let (s, t) = be16(payload, 0)
                .zip(be16(payload, 2))
                .ok_or_else(|| cut("transport"))?;
            d.ports = Some((s, t));
            if protocol == 6 {
                d.tcp_flags = *payload.get(13).ok_or_else(|| cut("TCP"))?;
            }
        }
        1 | 58 => {
            let ty = *payload.first().ok_or_else(|| cut("ICMP"))?;
            let code = *payload.get(1).ok_or_else(|| cut("ICMP"))?;
            let id = be16(payload, 4).unwrap_or(0);
            d.icmp = Some((ty, code, id));
            if is_error(protocol, ty) {
                d.quoted = quoted(payload.get(8..).unwrap_or(&[]));
            }
        }
        _ => {}
    }
    Ok(d)
}

/// ICMP errors: destination unreachable, source quench, redirect, time exceeded,
/// parameter problem (ICMPv6: 1-4).
fn is_error(protocol: u8, ty: u8) -> bool {
    if protocol == 1 {
        matches!(ty, 3 | 4 | 5 | 11 | 12)
    } else {
        (1..=4).contains(&ty)
    }
}

fn is_echo_request(protocol: u8, ty: u8) -> bool {
    (protocol == 1 && ty == 8) || (protocol == 58 && ty == 128)
}

fn is_echo_reply(protocol: u8, ty: u8) -> bool {
    (protocol == 1 && ty == 0) || (protocol == 58 && ty == 129)
}

/// The packet an ICMP error quotes: its protocol, addresses and ports (or echo id).
fn quoted(b: &[u8]) -> Option<(u8, IpAddr, IpAddr, (u16, u16))> {
    let s = LaxSlicedPacket::from_ip(b).ok()?;
    let (src, dst, proto, payload) = match s.net? {
        LaxNetSlice::Ipv4(v4) => {
            let h = v4.header();
            let p = v4.payload();
            (
                IpAddr::V4(h.source_addr()),
                IpAddr::V4(h.destination_addr()),
                p.ip_number.0,
                p.payload,
            )
        }
        LaxNetSlice::Ipv6(v6) => {
            let h = v6.header();
            let p = v6.payload();
            (
                IpAddr::V6(h.source_addr()),
                IpAddr::V6(h.destination_addr()),
                p.ip_number.0,
                p.payload,
            )
        }
        LaxNetSlice::Arp(_) => return None,
    };
    let ports = match proto {
        1 | 58 => {
            let id = be16(payload, 4)?;
            (id, id)
        }
        6 | 17 | 33 | 132 | 136 => (be16(payload, 0)?, be16(payload, 2)?),
        _ => (0, 0),
    };
    Some((proto, src, dst, ports))
}

/// One connection as conntrack keeps it.
#[derive(Debug, Clone)]
struct Entry {
    /// The original direction's source end.
    orig_src: (IpAddr, u16),
    /// A packet of the reply direction was seen.
    replied: bool,
    /// TCP: a RST was seen, or FINs both ways (a new SYN starts over).
    closed: bool,
    fin_orig: bool,
    fin_reply: bool,
    /// Time of the last packet.
    last: f64,
}

/// Conntrack, as the capture shows it. The rules (netfilter's, as its conntrack
/// sees a flow it meets for the first time or again):
///
/// * A flow is a protocol and its two ends (addresses and ports; an ICMP echo's
///   identifier), whatever the direction, on one capture interface (a capture of
///   several interfaces of a router that translates addresses shows a connection
///   with other addresses on each side). Its first packet sets the original
///   direction.
/// * Packets of the original direction are `new` until a packet of the other
///   direction has been seen; that packet and every later one are `established`.
/// * TCP: a SYN (without ACK) of an unknown flow opens it; so does any other segment
///   but a SYN-ACK, a RST or one without flags (netfilter picks up a connection
///   already open, `nf_conntrack_tcp_loose`); those three of an unknown flow are
///   `invalid`. After a RST, or FINs both ways, a SYN opens the flow anew.
/// * UDP and other protocols: a flow unheard of for 30 seconds (120 once it was
///   answered), ICMP echoes for 30 seconds, are forgotten (the timeouts of
///   `nf_conntrack_udp_timeout`, `udp_timeout_stream`, `icmp_timeout`); TCP flows
///   are not timed out (established: five days).
/// * A flow whose first packet the host refused (its rule set dropped or rejected
///   it, [`CaptureReader::refused`]) keeps no entry: its next packet is `new` again,
///   and the reject's answer (a reset back, an ICMP error quoting it) is `related`.
/// * ICMP and ICMPv6: an echo request opens a flow (its identifier); an echo reply
///   of no known request is `invalid`. An error (destination unreachable, time
///   exceeded, parameter problem, source quench, redirect; ICMPv6 1-4) is `related`
///   when the flow of the packet it quotes is known, else `invalid`. ICMPv6
///   multicast listener and neighbour discovery messages (130-136, 143) are
///   `untracked`; other ICMP messages are `invalid`.
#[derive(Debug, Default)]
pub struct Conntrack {
    flows: HashMap<FlowKey, Entry>,
    /// Flows whose first packet the host refused (see [`CaptureReader::refused`]),
    /// with the refused packet's source end.
    refused: HashMap<FlowKey, (IpAddr, u16)>,
}

fn key(iface: u32, protocol: u8, a: (IpAddr, u16), b: (IpAddr, u16)) -> FlowKey {
    let (a, b) = if a <= b { (a, b) } else { (b, a) };
    FlowKey {
        iface,
        protocol,
        a,
        b,
    }
}

impl Conntrack {
    /// How many flows are known.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    /// Whether no flow is known.
    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    pub(crate) fn state(&mut self, d: &Decoded, now: f64) -> (CtState, Option<FlowKey>) {
        let p = d.protocol;
        if let Some((ty, _, id)) = d.icmp {
            // Multicast listener and neighbour discovery: the kernel leaves them
            // untracked (`noct_valid_new` of nf_conntrack_proto_icmpv6).
            if p == 58 && matches!(ty, 130..=136 | 143) {
                return (CtState::Untracked, None);
            }
            if is_error(p, ty) {
                let related = d.quoted.is_some_and(|(qp, qs, qd, (a, b))| {
                    let k = key(d.iface, qp, (qs, a), (qd, b));
                    self.flows.contains_key(&k) || self.refused.contains_key(&k)
                });
                let state = if related {
                    CtState::Related
                } else {
                    CtState::Invalid
                };
                return (state, None);
            }
            let (src, dst) = ((d.src, id), (d.dst, id));
            let k = key(d.iface, p, src, dst);
            if is_echo_request(p, ty) || is_echo_reply(p, ty) {
                self.expire(k, now, 30.0, 30.0);
                if self.flows.contains_key(&k) {
                    return (self.track(k, src, now), Some(k));
                }
                if is_echo_request(p, ty) {
                    self.open(k, src, now);
                    return (CtState::New, Some(k));
                }
                return (CtState::Invalid, Some(k));
            }
            return (CtState::Invalid, None);
        }
        let (sp, dp) = d.ports.unwrap_or((0, 0));
        let (src, dst) = ((d.src, sp), (d.dst, dp));
        let k = key(d.iface, p, src, dst);
        // The answer of a reject to a packet the host refused carries that packet's
        // entry: `related` (the kernel's nf_ct_attach).
        if let Some(orig) = self.refused.get(&k) {
            if *orig != src && !self.flows.contains_key(&k) {
                return (CtState::Related, Some(k));
            }
        }
        if p == 6 {
            let f = d.tcp_flags;
            let syn_only = f & (TCP_SYN | TCP_ACK) == TCP_SYN;
            if let Some(e) = self.flows.get(&k) {
                if e.closed && syn_only {
                    self.flows.remove(&k);
                }
            }
            if !self.flows.contains_key(&k) {
                let bad = f & (TCP_SYN | TCP_ACK) == (TCP_SYN | TCP_ACK)
                    || f & TCP_RST != 0
                    || f & (TCP_SYN | TCP_ACK | TCP_FIN | TCP_RST) == 0;
                if bad {
                    return (CtState::Invalid, Some(k));
                }
                self.open(k, src, now);
                self.tcp_flags(k, src, f);
                return (CtState::New, Some(k));
            }
            let s = self.track(k, src, now);
            self.tcp_flags(k, src, f);
            return (s, Some(k));
        }
        self.expire(k, now, 30.0, 120.0);
        if !self.flows.contains_key(&k) {
            self.open(k, src, now);
            return (CtState::New, Some(k));
        }
        (self.track(k, src, now), Some(k))
    }

    /// The host refused (dropped or rejected) packet `k` from `src`, which opened the
    /// flow: netfilter confirms an entry only when its first packet passes, so none
    /// is kept, and the reject's answer is `related`.
    pub(crate) fn refuse(&mut self, k: FlowKey, src: (IpAddr, u16)) {
        if self.flows.get(&k).is_some_and(|e| !e.replied) {
            self.flows.remove(&k);
            self.refused.insert(k, src);
        }
    }

    fn open(&mut self, k: FlowKey, src: (IpAddr, u16), now: f64) {
        self.refused.remove(&k);
        self.flows.insert(
            k,
            Entry {
                orig_src: src,
                replied: false,
                closed: false,
                fin_orig: false,
                fin_reply: false,
                last: now,
            },
        );
    }

    /// The state of a packet of a known flow from `src`, and what it teaches.
    fn track(&mut self, k: FlowKey, src: (IpAddr, u16), now: f64) -> CtState {
        let e = self.flows.get_mut(&k).expect("known flow");
        e.last = now;
        if src != e.orig_src {
            e.replied = true;
        }
        if e.replied {
            CtState::Established
        } else {
            CtState::New
        }
    }

    fn tcp_flags(&mut self, k: FlowKey, src: (IpAddr, u16), f: u8) {
        let Some(e) = self.flows.get_mut(&k) else {
            return;
        };
        if f & TCP_RST != 0 {
            e.closed = true;
        }
        if f & TCP_FIN != 0 {
            if src == e.orig_src {
                e.fin_orig = true;
            } else {
                e.fin_reply = true;
            }
            if e.fin_orig && e.fin_reply {
                e.closed = true;
            }
        }
    }

    /// Forgets flow `k` when it has been quiet longer than its timeout.
    fn expire(&mut self, k: FlowKey, now: f64, unreplied: f64, replied: f64) {
        if let Some(e) = self.flows.get(&k) {
            let limit = if e.replied { replied } else { unreplied };
            if now - e.last > limit {
                self.flows.remove(&k);
            }
        }
    }
}
