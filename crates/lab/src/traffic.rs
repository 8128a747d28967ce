//! The real lab for traffic over time (docs/lab.md, "Traffic over time"): a
//! rig of two namespaces joined by a veth pair, `gen` standing for the
//! internet and `srv` the server, where the simulator's predictions
//! (`pathproof-sim`) meet the kernel: a SYN generator with forged sources
//! (raw sockets), legitimate clients, a listening socket with the backlog
//! and the per-namespace sysctls the scenario gives, the server's `nstat`
//! counters, nftables `limit` and `meter` rules, and Debian's nginx with
//! `limit_req`.
//!
//! Why a rig and not the scenario's whole lab: a forged SYN's SYN-ACK goes
//! where the server's route sends it. On a lab's catch-all segment the
//! routers would ask ARP for every forged address, and Linux's neighbour
//! table (gc_thresh3, 1,024 entries) is shared by every namespace of the
//! machine. Here the server's default route points at `gen`, whose address
//! has a permanent neighbour entry, and `gen` (forwarding off) drops what is
//! not its own: the SYN-ACKs vanish as they do on the internet, and no
//! neighbour entry is made for them.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::netns;

/// The server's address, on `srv`.
pub const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 10);
const GEN_LINK: &str = "169.254.70.1";
const SRV_LINK: &str = "169.254.70.2";
const MAC_GEN: &str = "02:70:71:00:00:01";
const MAC_SRV: &str = "02:70:71:00:00:02";

/// Two namespaces and a veth pair; removed on drop.
pub struct Rig {
    pub gen: String,
    pub srv: String,
    lab: String,
}

impl Rig {
    /// Builds the rig for lab name `lab` (namespaces `pp-LAB.gen`, `pp-LAB.srv`).
    pub fn new(lab: &str) -> Result<Rig, String> {
        crate::lab::preflight()?;
        crate::names::check_lab_name(lab)?;
        let _ = crate::lab::down(lab);
        let gen = format!("{}{lab}.gen", crate::names::NS_PREFIX);
        let srv = format!("{}{lab}.srv", crate::names::NS_PREFIX);
        let rig = Rig {
            gen: gen.clone(),
            srv: srv.clone(),
            lab: lab.to_string(),
        };
        netns::run_cmd(
            "ip",
            &["-batch", "-"],
            Some(&format!("netns add {gen}\nnetns add {srv}\n")),
        )?;
        let common: Vec<(String, String)> = [
            ("net/ipv4/conf/all/rp_filter", "0"),
            ("net/ipv4/conf/default/rp_filter", "0"),
            ("net/ipv4/ip_forward", "0"),
            ("net/ipv4/icmp_ratelimit", "0"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for ns in [&gen, &srv] {
            let s = common.clone();
            netns::run_in(ns, move || netns::write_sysctls(&s))??;
        }
        let ip = |ns: &str, lines: String| {
            netns::run_cmd("ip", &["-n", ns, "-batch", "-"], Some(&lines))
        };
        ip(
            &gen,
            format!(
                "link add g0 address {MAC_GEN} type veth peer name s0 address {MAC_SRV} netns {srv}\n\
                 addr add {GEN_LINK}/30 dev g0\nlink set g0 up\nlink set lo up\n\
                 neigh replace {SRV_LINK} lladdr {MAC_SRV} dev g0 nud permanent\n\
                 route add {SERVER}/32 via {SRV_LINK}\n"
            ),
        )?;
        ip(
            &srv,
            format!(
                "addr add {SRV_LINK}/30 dev s0\naddr add {SERVER}/32 dev s0\nlink set s0 up\nlink set lo up\n\
                 neigh replace {GEN_LINK} lladdr {MAC_GEN} dev s0 nud permanent\n\
                 route add default via {GEN_LINK}\n"
            ),
        )?;
        Ok(rig)
    }

    /// Gives `gen` these addresses (the legitimate clients' own).
    pub fn client_addresses(&self, addrs: &[Ipv4Addr]) -> Result<(), String> {
        let lines: String = addrs
            .iter()
            .map(|a| format!("addr add {a}/32 dev g0\n"))
            .collect();
        netns::run_cmd("ip", &["-n", &self.gen, "-batch", "-"], Some(&lines)).map(|_| ())
    }

    /// Per-namespace sysctls of `srv` (paths under /proc/sys).
    pub fn server_sysctls(&self, list: &[(&str, String)]) -> Result<(), String> {
        let l: Vec<(String, String)> = list
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        netns::run_in(&self.srv, move || netns::write_sysctls(&l))?
    }

    /// The server's TcpExt counters, as `nstat -az` shows them (read from
    /// the namespace's /proc/net/netstat).
    pub fn nstat(&self) -> Result<BTreeMap<String, u64>, String> {
        netns::run_in(&self.srv, || {
            // /proc/self/net follows the thread group leader's namespace;
            // thread-self follows this thread's.
            let text = std::fs::read_to_string("/proc/thread-self/net/netstat")
                .map_err(|e| format!("cannot read netstat: {e}"))?;
            Ok(parse_netstat(&text))
        })?
    }

    /// Loads an nft rule set into `srv`.
    pub fn server_nft(&self, ruleset: &str) -> Result<(), String> {
        let r = ruleset.to_string();
        netns::run_in(&self.srv, move || {
            netns::run_cmd("nft", &["-f", "-"], Some(&r))
        })?
        .map(|_| ())
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = crate::lab::down(&self.lab);
    }
}

/// `TcpExt: A B C` / `TcpExt: 1 2 3` pairs of /proc/net/netstat, as
/// `TcpExtA` → 1.
pub fn parse_netstat(text: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let lines: Vec<&str> = text.lines().collect();
    for pair in lines.chunks(2) {
        let [names, values] = pair else { continue };
        let (Some((p1, n)), Some((p2, v))) = (names.split_once(':'), values.split_once(':')) else {
            continue;
        };
        if p1 != p2 {
            continue;
        }
        for (name, value) in n.split_whitespace().zip(v.split_whitespace()) {
            if let Ok(x) = value.parse::<u64>() {
                out.insert(format!("{p1}{name}"), x);
            }
        }
    }
    out
}

fn csum(data: &[u8], mut sum: u32) -> u16 {
    for c in data.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], 0])
        };
        sum += w as u32;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A SYN as Linux sends one: IPv4, TCP with MSS, SACK permitted,
/// timestamps and window scale (60 bytes).
pub fn syn_packet(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, seq: u32) -> Vec<u8> {
    let mut tcp = vec![0u8; 40];
    tcp[0..2].copy_from_slice(&sport.to_be_bytes());
    tcp[2..4].copy_from_slice(&dport.to_be_bytes());
    tcp[4..8].copy_from_slice(&seq.to_be_bytes());
    tcp[12] = 10 << 4; // 40 bytes of header
    tcp[13] = 0x02; // SYN
    tcp[14..16].copy_from_slice(&64240u16.to_be_bytes());
    // MSS 1460, SACK permitted, timestamps, NOP, window scale 7.
    let opts: [u8; 20] = [
        2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
    ];
    tcp[20..40].copy_from_slice(&opts);
    let mut pseudo = Vec::with_capacity(12);
    pseudo.extend_from_slice(&src.octets());
    pseudo.extend_from_slice(&dst.octets());
    pseudo.extend_from_slice(&[0, 6, 0, 40]);
    let mut sum = 0u32;
    for c in pseudo.chunks(2) {
        sum += u16::from_be_bytes([c[0], c[1]]) as u32;
    }
    let c = csum(&tcp, sum);
    tcp[16..18].copy_from_slice(&c.to_be_bytes());
    let mut ip = vec![0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&60u16.to_be_bytes());
    ip[6] = 0x40; // don't fragment
    ip[8] = 64;
    ip[9] = 6;
    ip[12..16].copy_from_slice(&src.octets());
    ip[16..20].copy_from_slice(&dst.octets());
    let c = csum(&ip, 0);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.extend_from_slice(&tcp);
    ip
}

/// A SplitMix64 stream for the generator's forged sources and ports.
struct Mix(u64);
impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// A flood of SYNs with forged sources, sent from `gen`.
#[derive(Debug, Clone)]
pub struct SynFlood {
    /// SYNs per second.
    pub rate: f64,
    /// When to start and stop, from the rig's start.
    pub start: Duration,
    pub stop: Duration,
    /// The forged sources: uniformly from `pool_start .. pool_start + pool_size`.
    pub pool_start: Ipv4Addr,
    pub pool_size: u32,
    pub dport: u16,
    pub seed: u64,
}

/// Sends the flood on a thread in `ns`; returns the number of SYNs sent.
pub fn syn_flood(
    ns: &str,
    f: SynFlood,
    t0: Instant,
) -> std::thread::JoinHandle<Result<u64, String>> {
    let ns = ns.to_string();
    std::thread::spawn(move || -> Result<u64, String> {
        netns::enter(&ns)?;
        // SAFETY: a plain socket call; the descriptor is owned below.
        let fd = unsafe {
            libc::socket(
                libc::AF_INET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::IPPROTO_RAW,
            )
        };
        if fd < 0 {
            return Err(format!("raw socket: {}", std::io::Error::last_os_error()));
        }
        // SAFETY: fd is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut mix = Mix(f.seed);
        let dst = SERVER;
        let sin = libc::sockaddr_in {
            sin_family: libc::AF_INET as u16,
            sin_port: 0,
            sin_addr: libc::in_addr {
                s_addr: u32::from_ne_bytes(dst.octets()),
            },
            sin_zero: [0; 8],
        };
        while t0.elapsed() < f.start {
            std::thread::sleep(Duration::from_micros(200));
        }
        let began = Instant::now();
        let length = f.stop.saturating_sub(f.start);
        let mut sent = 0u64;
        loop {
            let el = began.elapsed();
            if el >= length {
                break;
            }
            let due = (el.as_secs_f64() * f.rate) as u64;
            while sent < due {
                let src = Ipv4Addr::from(
                    u32::from(f.pool_start) + (mix.next() % f.pool_size as u64) as u32,
                );
                let r = mix.next();
                let sport = 1024 + (r % 60000) as u16;
                let pkt = syn_packet(src, dst, sport, f.dport, (r >> 20) as u32);
                // SAFETY: the buffer and the address outlive the call.
                let rc = unsafe {
                    libc::sendto(
                        fd.as_raw_fd(),
                        pkt.as_ptr() as *const libc::c_void,
                        pkt.len(),
                        0,
                        &sin as *const _ as *const libc::sockaddr,
                        std::mem::size_of::<libc::sockaddr_in>() as u32,
                    )
                };
                if rc < 0 {
                    let e = std::io::Error::last_os_error();
                    if e.raw_os_error() != Some(libc::ENOBUFS) {
                        return Err(format!("sending a SYN: {e}"));
                    }
                    break;
                }
                sent += 1;
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        Ok(sent)
    })
}

/// A listening socket on `srv` with the application's accept() pace; each
/// connection gets `ok\n` after its request line and is closed.
pub struct Listener {
    stop: Arc<AtomicBool>,
    pub accepted: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<Result<(), String>>>,
}

impl Listener {
    pub fn start(
        ns: &str,
        port: u16,
        backlog: i32,
        accept_rate: Option<f64>,
    ) -> Result<Listener, String> {
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicU64::new(0));
        let (tx, rx) = std::sync::mpsc::channel::<Result<(), String>>();
        let ns = ns.to_string();
        let (s2, a2) = (stop.clone(), accepted.clone());
        let thread = std::thread::spawn(move || -> Result<(), String> {
            let bound = (|| -> Result<OwnedFd, String> {
                netns::enter(&ns)?;
                // SAFETY: plain socket calls on a descriptor owned below.
                let fd = unsafe {
                    libc::socket(
                        libc::AF_INET,
                        libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                        0,
                    )
                };
                if fd < 0 {
                    return Err(format!("socket: {}", std::io::Error::last_os_error()));
                }
                // SAFETY: fd is fresh.
                let fd = unsafe { OwnedFd::from_raw_fd(fd) };
                let one: libc::c_int = 1;
                let sin = sockaddr(SocketAddrV4::new(SERVER, port));
                // SAFETY: pointers to locals that outlive the calls.
                unsafe {
                    libc::setsockopt(
                        fd.as_raw_fd(),
                        libc::SOL_SOCKET,
                        libc::SO_REUSEADDR,
                        &one as *const _ as *const libc::c_void,
                        4,
                    );
                    if libc::bind(
                        fd.as_raw_fd(),
                        &sin as *const _ as *const libc::sockaddr,
                        std::mem::size_of::<libc::sockaddr_in>() as u32,
                    ) != 0
                    {
                        return Err(format!(
                            "bind {SERVER}:{port}: {}",
                            std::io::Error::last_os_error()
                        ));
                    }
                    if libc::listen(fd.as_raw_fd(), backlog) != 0 {
                        return Err(format!("listen: {}", std::io::Error::last_os_error()));
                    }
                }
                Ok(fd)
            })();
            let fd = match bound {
                Ok(fd) => {
                    let _ = tx.send(Ok(()));
                    fd
                }
                Err(e) => {
                    let _ = tx.send(Err(e.clone()));
                    return Err(e);
                }
            };
            let start = Instant::now();
            let mut taken = 0u64;
            while !s2.load(Ordering::Relaxed) {
                if let Some(rate) = accept_rate {
                    if taken as f64 >= start.elapsed().as_secs_f64() * rate {
                        std::thread::sleep(Duration::from_micros(200));
                        continue;
                    }
                }
                // SAFETY: accept on our listening descriptor.
                let c = unsafe {
                    libc::accept4(
                        fd.as_raw_fd(),
                        std::ptr::null_mut(),
                        std::ptr::null_mut(),
                        libc::SOCK_CLOEXEC,
                    )
                };
                if c < 0 {
                    std::thread::sleep(Duration::from_micros(200));
                    continue;
                }
                taken += 1;
                a2.fetch_add(1, Ordering::Relaxed);
                // SAFETY: c is a fresh connected socket.
                let mut stream = unsafe { std::net::TcpStream::from_raw_fd(c) };
                let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
                let mut buf = [0u8; 256];
                let _ = stream.read(&mut buf);
                let _ = stream.write_all(b"ok\n");
            }
            Ok(())
        });
        match rx.recv_timeout(Duration::from_secs(5)) {
            Ok(Ok(())) => Ok(Listener {
                stop,
                accepted,
                thread: Some(thread),
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err("the listener did not start".into()),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn sockaddr(a: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as u16,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(a.ip().octets()),
        },
        sin_zero: [0; 8],
    }
}

/// A group of legitimate clients: connections at a constant pace, from
/// these addresses in turn, each waiting `timeout` for the answer.
#[derive(Debug, Clone)]
pub struct Clients {
    pub name: String,
    pub addrs: Vec<Ipv4Addr>,
    pub rate: f64,
    pub start: Duration,
    pub stop: Duration,
    pub timeout: Duration,
    pub port: u16,
}

/// One client connection's fate.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub group: String,
    pub source: Ipv4Addr,
    /// Seconds from the rig's start to the first SYN.
    pub started: f64,
    pub ok: bool,
    pub latency: f64,
}

struct Pending {
    group: usize,
    fd: OwnedFd,
    source: Ipv4Addr,
    started: Instant,
    at: f64,
    sent: bool,
    got: Vec<u8>,
}

/// Runs every group's connections from `gen` (one thread, non-blocking
/// sockets; the kernel retransmits SYNs as tcp_syn_retries says).
pub fn clients(
    ns: &str,
    groups: Vec<Clients>,
    t0: Instant,
) -> std::thread::JoinHandle<Result<Vec<Attempt>, String>> {
    let ns = ns.to_string();
    std::thread::spawn(move || -> Result<Vec<Attempt>, String> {
        netns::enter(&ns)?;
        // The schedule: (time, group, address).
        let mut plan: Vec<(Duration, usize, Ipv4Addr)> = Vec::new();
        for (g, c) in groups.iter().enumerate() {
            let n = ((c.stop.saturating_sub(c.start)).as_secs_f64() * c.rate).floor() as u64;
            for i in 0..n {
                let at = c.start + Duration::from_secs_f64((i + 1) as f64 / c.rate);
                plan.push((at, g, c.addrs[(i % c.addrs.len() as u64) as usize]));
            }
        }
        plan.sort_by_key(|p| p.0);
        let mut next = 0;
        let mut pending: Vec<Pending> = Vec::new();
        let mut done: Vec<Attempt> = Vec::new();
        while next < plan.len() || !pending.is_empty() {
            let now = t0.elapsed();
            while next < plan.len() && plan[next].0 <= now {
                let (at, g, src) = plan[next];
                next += 1;
                let c = &groups[g];
                // SAFETY: plain socket calls on a descriptor owned below.
                let fd = unsafe {
                    libc::socket(
                        libc::AF_INET,
                        libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                        0,
                    )
                };
                if fd < 0 {
                    return Err(format!("socket: {}", std::io::Error::last_os_error()));
                }
                // SAFETY: fresh descriptor.
                let fd = unsafe { OwnedFd::from_raw_fd(fd) };
                let local = sockaddr(SocketAddrV4::new(src, 0));
                let remote = sockaddr(SocketAddrV4::new(SERVER, c.port));
                // SAFETY: pointers to locals.
                unsafe {
                    if libc::bind(
                        fd.as_raw_fd(),
                        &local as *const _ as *const libc::sockaddr,
                        std::mem::size_of::<libc::sockaddr_in>() as u32,
                    ) != 0
                    {
                        return Err(format!("bind {src}: {}", std::io::Error::last_os_error()));
                    }
                    libc::connect(
                        fd.as_raw_fd(),
                        &remote as *const _ as *const libc::sockaddr,
                        std::mem::size_of::<libc::sockaddr_in>() as u32,
                    );
                }
                pending.push(Pending {
                    group: g,
                    fd,
                    source: src,
                    started: Instant::now(),
                    at: at.as_secs_f64(),
                    sent: false,
                    got: Vec::new(),
                });
            }
            if pending.is_empty() {
                std::thread::sleep(Duration::from_micros(500));
                continue;
            }
            let mut polls: Vec<libc::pollfd> = pending
                .iter()
                .map(|p| libc::pollfd {
                    fd: p.fd.as_raw_fd(),
                    events: if p.sent { libc::POLLIN } else { libc::POLLOUT },
                    revents: 0,
                })
                .collect();
            // SAFETY: polls is a valid array of pollfd.
            unsafe { libc::poll(polls.as_mut_ptr(), polls.len() as libc::nfds_t, 2) };
            let mut keep = Vec::new();
            for (mut p, pf) in pending.drain(..).zip(polls) {
                let timeout = groups[p.group].timeout;
                let mut finished: Option<bool> = None;
                if pf.revents != 0 {
                    if !p.sent {
                        let mut err: libc::c_int = 0;
                        let mut len = 4 as libc::socklen_t;
                        // SAFETY: reading SO_ERROR into a local.
                        unsafe {
                            libc::getsockopt(
                                p.fd.as_raw_fd(),
                                libc::SOL_SOCKET,
                                libc::SO_ERROR,
                                &mut err as *mut _ as *mut libc::c_void,
                                &mut len,
                            )
                        };
                        if err != 0 {
                            finished = Some(false);
                        } else {
                            let req = b"GET / HTTP/1.0\r\n\r\n";
                            // SAFETY: writing a local buffer.
                            let n = unsafe {
                                libc::send(
                                    p.fd.as_raw_fd(),
                                    req.as_ptr() as *const libc::c_void,
                                    req.len(),
                                    libc::MSG_NOSIGNAL,
                                )
                            };
                            if n == req.len() as isize {
                                p.sent = true;
                            } else {
                                finished = Some(false);
                            }
                        }
                    } else {
                        let mut buf = [0u8; 64];
                        // SAFETY: reading into a local buffer.
                        let n = unsafe {
                            libc::recv(
                                p.fd.as_raw_fd(),
                                buf.as_mut_ptr() as *mut libc::c_void,
                                buf.len(),
                                0,
                            )
                        };
                        if n > 0 {
                            p.got.extend_from_slice(&buf[..n as usize]);
                            if p.got.ends_with(b"\n") {
                                finished = Some(p.got.starts_with(b"ok"));
                            }
                        } else if n == 0 {
                            finished = Some(p.got.starts_with(b"ok"));
                        } else {
                            finished = Some(false);
                        }
                    }
                }
                if finished.is_none() && p.started.elapsed() >= timeout {
                    finished = Some(false);
                }
                match finished {
                    Some(ok) => done.push(Attempt {
                        group: groups[p.group].name.clone(),
                        source: p.source,
                        started: p.at,
                        ok,
                        latency: p.started.elapsed().as_secs_f64(),
                    }),
                    None => keep.push(p),
                }
            }
            pending = keep;
        }
        done.sort_by(|a, b| a.started.total_cmp(&b.started));
        Ok(done)
    })
}

/// Datagrams from `gen` to `srv` at fixed times, each from its source; the
/// receiver on `srv` records which arrived. For the nftables `limit` and
/// `meter` comparison.
#[derive(Debug, Clone)]
pub struct Datagrams {
    pub port: u16,
    pub source: Ipv4Addr,
    pub rate: f64,
    pub count: u32,
}

/// One datagram: when it was sent (seconds from the start) and whether it
/// arrived.
#[derive(Debug, Clone)]
pub struct Sent {
    pub port: u16,
    pub source: Ipv4Addr,
    pub at: f64,
    /// When `send_to` returned (seconds since the start): the datagram went
    /// to the kernel between `at` and `returned`.
    pub returned: f64,
    pub seq: u32,
    pub arrived: bool,
}

/// Sends every stream's datagrams (interleaved by time) and reports which
/// arrived at the receiver on `srv` (ports listed).
pub fn datagrams(rig: &Rig, streams: Vec<Datagrams>) -> Result<Vec<Sent>, String> {
    let ports: Vec<u16> = {
        let mut p: Vec<u16> = streams.iter().map(|s| s.port).collect();
        p.sort_unstable();
        p.dedup();
        p
    };
    let stop = Arc::new(AtomicBool::new(false));
    let got: Arc<std::sync::Mutex<Vec<(u16, u32)>>> = Arc::default();
    let (tx, rx) = std::sync::mpsc::channel::<Result<(), String>>();
    let srv = rig.srv.clone();
    let (s2, g2) = (stop.clone(), got.clone());
    let receiver = std::thread::spawn(move || -> Result<(), String> {
        let socks = (|| -> Result<Vec<(u16, std::net::UdpSocket)>, String> {
            netns::enter(&srv)?;
            let mut v = Vec::new();
            for p in &ports {
                let s = std::net::UdpSocket::bind((SERVER, *p))
                    .map_err(|e| format!("bind udp {p}: {e}"))?;
                s.set_nonblocking(true).map_err(|e| e.to_string())?;
                v.push((*p, s));
            }
            Ok(v)
        })();
        let socks = match socks {
            Ok(s) => {
                let _ = tx.send(Ok(()));
                s
            }
            Err(e) => {
                let _ = tx.send(Err(e.clone()));
                return Err(e);
            }
        };
        let mut buf = [0u8; 64];
        while !s2.load(Ordering::Relaxed) {
            let mut any = false;
            for (p, s) in &socks {
                while let Ok(n) = s.recv(&mut buf) {
                    any = true;
                    if n >= 4 {
                        let seq = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
                        g2.lock().expect("not poisoned").push((*p, seq));
                    }
                }
            }
            if !any {
                std::thread::sleep(Duration::from_micros(300));
            }
        }
        Ok(())
    });
    rx.recv_timeout(Duration::from_secs(5))
        .map_err(|_| "the receiver did not start".to_string())??;
    let gen = rig.gen.clone();
    let sender = std::thread::spawn(move || -> Result<Vec<Sent>, String> {
        netns::enter(&gen)?;
        let mut plan: Vec<(f64, usize, u32)> = Vec::new();
        for (i, s) in streams.iter().enumerate() {
            for k in 0..s.count {
                plan.push(((k as f64 + 0.5) / s.rate, i, k));
            }
        }
        plan.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut socks = Vec::new();
        for s in &streams {
            let u = std::net::UdpSocket::bind((s.source, 0))
                .map_err(|e| format!("bind {}: {e}", s.source))?;
            socks.push(u);
        }
        // One datagram from each source to a port nothing limits (discard,
        // 9) first, so that the neighbour entries exist: otherwise the
        // first datagram waits for ARP and reaches the limiter later than
        // its send time says, which shifts every refill after it.
        for u in &socks {
            u.send_to(b"warm", (SERVER, 9))
                .map_err(|e| format!("send: {e}"))?;
        }
        std::thread::sleep(Duration::from_millis(100));
        let t0 = Instant::now();
        let mut out = Vec::new();
        for (seq, (at, i, _)) in plan.into_iter().enumerate() {
            while t0.elapsed().as_secs_f64() < at {
                let left = at - t0.elapsed().as_secs_f64();
                if left > 0.002 {
                    std::thread::sleep(Duration::from_secs_f64(left - 0.001));
                }
            }
            let s = &streams[i];
            let seq = seq as u32;
            let sent_at = t0.elapsed().as_secs_f64();
            socks[i]
                .send_to(&seq.to_be_bytes(), (SERVER, s.port))
                .map_err(|e| format!("send: {e}"))?;
            let returned = t0.elapsed().as_secs_f64();
            out.push(Sent {
                port: s.port,
                source: s.source,
                at: sent_at,
                returned,
                seq,
                arrived: false,
            });
        }
        Ok(out)
    });
    let mut sent = sender
        .join()
        .map_err(|_| "the sender panicked".to_string())??;
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    receiver
        .join()
        .map_err(|_| "the receiver panicked".to_string())??;
    let got = got.lock().expect("not poisoned");
    for (port, seq) in got.iter() {
        if let Some(s) = sent.iter_mut().find(|s| s.seq == *seq && s.port == *port) {
            s.arrived = true;
        }
    }
    Ok(sent)
}

/// Debian's nginx, started in `srv` with a configuration of ours, stopped
/// (and its files removed) on drop.
pub struct Nginx {
    child: Child,
    dir: std::path::PathBuf,
}

/// Where Debian installs nginx.
pub const NGINX: &str = "/usr/sbin/nginx";

impl Nginx {
    /// Starts nginx in `ns` with an `http { ... }` block's contents.
    pub fn start(ns: &str, http: &str, port: u16) -> Result<Nginx, String> {
        let dir = std::env::temp_dir().join(format!("pp-nginx-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("tmp")).map_err(|e| e.to_string())?;
        let d = dir.display();
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\nuser root;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/tmp;\n  proxy_temp_path {d}/tmp;\n  fastcgi_temp_path {d}/tmp;\n  uwsgi_temp_path {d}/tmp;\n  scgi_temp_path {d}/tmp;\n{http}\n}}\n"
        );
        std::fs::write(dir.join("nginx.conf"), conf).map_err(|e| e.to_string())?;
        let mut cmd = Command::new("ip");
        netns::die_with_parent(&mut cmd);
        cmd.args(["netns", "exec", ns, NGINX, "-p"])
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start nginx: {e}"))?;
        let n = Nginx { child, dir };
        // Ready when it listens.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let ss = netns::run_cmd("ip", &["netns", "exec", ns, "ss", "-ltn"], None)?;
            if ss.contains(&format!(":{port} ")) {
                return Ok(n);
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(n.dir.join("error.log")).unwrap_or_default();
                return Err(format!("nginx did not start:\n{log}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Nginx {
    /// A file under its prefix so far: `error.log` (`info` and above:
    /// `limit_req` writes each delay and each refusal there, with the excess
    /// it computed), or a log the configuration names relative to the prefix.
    pub fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One HTTP request's answer: its status, its head, and how long it took.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Seconds from the start when the request was sent.
    pub at: f64,
    pub status: u16,
    pub waited: f64,
    /// The status line and headers.
    pub head: String,
    /// The connection's local port (how the server's logs name it).
    pub port: u16,
}

impl Answer {
    /// A header's value (the name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Sends GET `path` at these times (seconds from the start), each on its own
/// connection from `gen`'s address, concurrently; returns the answers in order.
pub fn http_requests(
    ns: &str,
    port: u16,
    path: &str,
    times: &[f64],
) -> Result<Vec<Answer>, String> {
    let ns = ns.to_string();
    let path = path.to_string();
    let times = times.to_vec();
    std::thread::spawn(move || -> Result<Vec<Answer>, String> {
        netns::enter(&ns)?;
        let t0 = Instant::now();
        let mut handles = Vec::new();
        for at in times {
            while t0.elapsed().as_secs_f64() < at {
                std::thread::sleep(Duration::from_micros(200));
            }
            let path = path.clone();
            let sent = t0.elapsed().as_secs_f64();
            // Connect on this thread (in the namespace), answer on another.
            let sock = std::net::TcpStream::connect_timeout(
                &std::net::SocketAddr::V4(SocketAddrV4::new(SERVER, port)),
                Duration::from_secs(2),
            );
            let started = Instant::now();
            let local = sock
                .as_ref()
                .ok()
                .and_then(|s| s.local_addr().ok())
                .map_or(0, |a| a.port());
            handles.push(std::thread::spawn(move || -> Result<Answer, String> {
                let mut s = sock.map_err(|e| format!("connect: {e}"))?;
                s.set_read_timeout(Some(Duration::from_secs(5)))
                    .map_err(|e| e.to_string())?;
                s.write_all(format!("GET {path} HTTP/1.0\r\nHost: lab\r\n\r\n").as_bytes())
                    .map_err(|e| e.to_string())?;
                let mut buf = Vec::new();
                let _ = s.read_to_end(&mut buf);
                let waited = started.elapsed().as_secs_f64();
                let text = String::from_utf8_lossy(&buf);
                let head = text.split("\r\n\r\n").next().unwrap_or_default();
                let status = head
                    .split_whitespace()
                    .nth(1)
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0);
                Ok(Answer {
                    at: sent,
                    status,
                    waited,
                    head: head.replace("\r\n", "\n"),
                    port: local,
                })
            }));
        }
        let mut out = Vec::new();
        for h in handles {
            out.push(
                h.join()
                    .map_err(|_| "a request thread panicked".to_string())??,
            );
        }
        Ok(out)
    })
    .join()
    .map_err(|_| "the request thread panicked".to_string())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netstat_pairs() {
        let t = "TcpExt: SyncookiesSent ListenDrops\nTcpExt: 12 3\nIpExt: InNoRoutes\nIpExt: 1\n";
        let m = parse_netstat(t);
        assert_eq!(m["TcpExtSyncookiesSent"], 12);
        assert_eq!(m["TcpExtListenDrops"], 3);
        assert_eq!(m["IpExtInNoRoutes"], 1);
    }

    #[test]
    fn a_syn_has_valid_checksums() {
        let p = syn_packet(Ipv4Addr::new(100, 64, 1, 2), SERVER, 40000, 443, 7);
        assert_eq!(p.len(), 60);
        assert_eq!(csum(&p[..20], 0), 0, "IP header checksum");
        let mut sum = 0u32;
        for c in [100u16 << 8 | 64, 1 << 8 | 2, 10 << 8, 1 << 8 | 10, 6, 40] {
            sum += c as u32;
        }
        assert_eq!(
            csum(&p[20..], sum),
            0,
            "TCP checksum with the pseudo-header"
        );
        assert_eq!(p[33], 0x02, "SYN");
    }
}
