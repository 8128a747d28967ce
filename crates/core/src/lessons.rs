//! Lessons: one journey told four ways, from a school student's picture to a
//! security architect's threat model. Each lesson is a YAML file in
//! `scenarios/lessons/`, bound to a built-in scenario; its predict-then-see
//! questions are trace queries whose answers the engine checks live.
//!
//! The files are embedded below (an explicit list, like `examples.rs`), so an
//! instructor adds a lesson by writing a file and adding one line here. The
//! format is described in docs/lessons.md.

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;
use std::fmt;

use crate::evidence::{Fact, OutcomeKind, Stage, Trace};
use crate::journey::Query;
use crate::model::Proto;

/// The embedded lesson files: (path relative to the repository root, text).
pub const FILES: &[(&str, &str)] = &[
    (
        "scenarios/lessons/01-checkpoint.yaml",
        include_str!("../../../scenarios/lessons/01-checkpoint.yaml"),
    ),
    (
        "scenarios/lessons/02-stateful.yaml",
        include_str!("../../../scenarios/lessons/02-stateful.yaml"),
    ),
    (
        "scenarios/lessons/03-nat-egress.yaml",
        include_str!("../../../scenarios/lessons/03-nat-egress.yaml"),
    ),
    (
        "scenarios/lessons/04-split-dns.yaml",
        include_str!("../../../scenarios/lessons/04-split-dns.yaml"),
    ),
    (
        "scenarios/lessons/05-segmentation.yaml",
        include_str!("../../../scenarios/lessons/05-segmentation.yaml"),
    ),
    (
        "scenarios/lessons/06-ssrf-metadata.yaml",
        include_str!("../../../scenarios/lessons/06-ssrf-metadata.yaml"),
    ),
    (
        "scenarios/lessons/07-tls-verify.yaml",
        include_str!("../../../scenarios/lessons/07-tls-verify.yaml"),
    ),
    (
        "scenarios/lessons/08-mtls.yaml",
        include_str!("../../../scenarios/lessons/08-mtls.yaml"),
    ),
    (
        "scenarios/lessons/09-ipv6-bypass.yaml",
        include_str!("../../../scenarios/lessons/09-ipv6-bypass.yaml"),
    ),
    (
        "scenarios/lessons/10-proxy-xff.yaml",
        include_str!("../../../scenarios/lessons/10-proxy-xff.yaml"),
    ),
];

/// The names of the four layers, by level.
pub const LAYER_NAMES: [&str; 4] = [
    "School student",
    "University student",
    "Engineer",
    "Security architect",
];

/// One lesson: a topic, the built-in scenario it runs on, and four layers.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Lesson {
    pub id: String,
    pub title: String,
    /// The name of a built-in scenario (`examples::get`).
    pub scenario: String,
    pub summary: String,
    /// Layers in the order of the file (levels 1 to 4).
    pub layers: Vec<Layer>,
    /// The file the lesson came from, relative to the repository root.
    pub file: String,
}

/// The lesson at one depth.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Layer {
    /// 1 school student, 2 university student, 3 engineer, 4 security architect.
    pub level: u8,
    pub name: String,
    pub takeaway: String,
    pub attacker_goal: String,
    pub trust_question: String,
    pub failure_mode: String,
    pub mental_model: String,
    pub misconceptions: Vec<String>,
    /// Markdown.
    pub body: String,
    pub predict: Vec<Prediction>,
    pub hands_on: Vec<String>,
    /// The line of the file where this layer starts.
    pub line: u32,
}

/// A predict-then-see question: a trace query and the outcome the lesson says it has.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Prediction {
    pub question: String,
    /// The scenario variant to apply (`break`, `harden`), or none for the scenario as written.
    pub variant: Option<String>,
    pub from: String,
    pub to: String,
    pub proto: Proto,
    pub via: Option<String>,
    pub ipv6: bool,
    /// The client's source port (default: the engine's fixed ephemeral port).
    pub sport: Option<u16>,
    /// The outcome the engine must compute.
    pub answer: OutcomeKind,
    /// Optionally, the device where the journey must end (the outcome's `at`).
    pub at: Option<String>,
    /// Why, in this layer's words.
    pub explain: String,
    /// The line of the file where this question is written.
    pub line: u32,
}

impl Prediction {
    /// The trace question this prediction asks.
    pub fn query(&self) -> Query {
        let mut q = Query::new(&self.from, &self.to);
        q.proto = self.proto;
        q.via = self.via.clone();
        q.ipv6 = self.ipv6;
        q.sport = self.sport;
        q
    }

    /// The same question as a `pathproof trace` command line.
    pub fn command(&self, scenario: &str) -> String {
        let mut c = format!(
            "pathproof trace {scenario} --from {} --to {}",
            self.from, self.to
        );
        if self.proto != Proto::Tcp {
            c.push_str(&format!(" --proto {}", self.proto.name()));
        }
        if let Some(v) = &self.via {
            c.push_str(&format!(" --via {v}"));
        }
        if self.ipv6 {
            c.push_str(" -6");
        }
        if let Some(p) = self.sport {
            c.push_str(&format!(" --sport {p}"));
        }
        if let Some(v) = &self.variant {
            c.push_str(&format!(" --variant {v}"));
        }
        c
    }
}

/// A lesson file that cannot be read: where, and what is wrong.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LessonError {
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub message: String,
}

impl fmt::Display for LessonError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

impl std::error::Error for LessonError {}

/// What the engine said about one prediction.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PredictionResult {
    pub level: u8,
    /// The position of the question within its layer (0-based).
    pub index: usize,
    pub question: String,
    pub variant: Option<String>,
    pub expected: OutcomeKind,
    /// The outcome the engine computed; none if the scenario or the query failed.
    pub actual: Option<OutcomeKind>,
    /// The device the prediction says the journey ends at, if it says.
    pub expected_at: Option<String>,
    /// The device where the engine's journey ended.
    pub actual_at: Option<String>,
    /// `actual == expected`, and the devices agree when `expected_at` is given.
    pub ok: bool,
    /// Why there is no outcome (a load or query error).
    pub error: Option<String>,
    /// The whole trace, for views that show the journey.
    pub trace: Option<Trace>,
}

// ---------------------------------------------------------------------------
// The file format, as serde reads it.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLesson {
    id: Spanned<String>,
    title: String,
    scenario: Spanned<String>,
    summary: String,
    layers: Vec<Spanned<RawLayer>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLayer {
    level: Spanned<u8>,
    name: String,
    takeaway: String,
    attacker_goal: String,
    trust_question: String,
    failure_mode: String,
    mental_model: String,
    misconceptions: Vec<String>,
    body: String,
    predict: Vec<Spanned<RawPrediction>>,
    hands_on: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrediction {
    question: String,
    #[serde(default)]
    variant: Option<String>,
    from: String,
    to: String,
    #[serde(default)]
    proto: Option<Spanned<String>>,
    #[serde(default)]
    via: Option<String>,
    #[serde(default)]
    ipv6: bool,
    #[serde(default)]
    sport: Option<u16>,
    answer: Spanned<String>,
    #[serde(default)]
    at: Option<String>,
    explain: String,
}

const OUTCOMES: [(&str, OutcomeKind); 10] = [
    ("reached", OutcomeKind::Reached),
    ("refused", OutcomeKind::Refused),
    ("dropped", OutcomeKind::Dropped),
    ("rejected", OutcomeKind::Rejected),
    ("no_route", OutcomeKind::NoRoute),
    ("unresolved", OutcomeKind::Unresolved),
    ("tls_failed", OutcomeKind::TlsFailed),
    ("proxy_denied", OutcomeKind::ProxyDenied),
    ("ttl_exceeded", OutcomeKind::TtlExceeded),
    ("reply_lost", OutcomeKind::ReplyLost),
];

/// The snake_case name of an outcome kind, as lesson files write it.
pub fn outcome_key(kind: OutcomeKind) -> &'static str {
    OUTCOMES
        .iter()
        .find(|(_, k)| *k == kind)
        .map(|(n, _)| *n)
        .unwrap_or("reached")
}

fn err_at(file: &str, loc: &serde_saphyr::Location, message: String) -> LessonError {
    LessonError {
        file: file.to_string(),
        line: loc.line() as u32,
        column: loc.column() as u32,
        message,
    }
}

fn first_line(rendered: &str) -> String {
    rendered
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("the YAML parser rejected the file")
        .to_string()
}

/// Reads one lesson file. `file` is the name errors report.
pub fn parse(file: &str, text: &str) -> Result<Lesson, LessonError> {
    let mut options = serde_saphyr::Options::default();
    options.strict_booleans = true;
    options.with_snippet = false;
    let raw: RawLesson = serde_saphyr::from_str_with_options(text, options).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line() as u32, l.column() as u32))
            .unwrap_or((1, 1));
        LessonError {
            file: file.to_string(),
            line,
            column,
            message: first_line(&e.to_string()),
        }
    })?;

    let id_loc = raw.id.referenced;
    let id = raw.id.value.trim().to_string();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(err_at(
            file,
            &id_loc,
            format!("lesson id `{id}` must be lower-case letters, digits and dashes"),
        ));
    }
    let scenario = raw.scenario.value.trim().to_string();
    if crate::examples::get(&scenario).is_none() {
        let names = crate::examples::ALL.iter().map(|e| e.name);
        let hint = crate::load::diagnostic::nearest(&scenario, names)
            .map(|n| format!(" (did you mean `{n}`?)"))
            .unwrap_or_default();
        return Err(err_at(
            file,
            &raw.scenario.referenced,
            format!("`{scenario}` is not a built-in scenario{hint}"),
        ));
    }
    let mut nonempty = vec![
        ("title", raw.title.trim().is_empty()),
        ("summary", raw.summary.trim().is_empty()),
    ];
    if let Some((key, _)) = nonempty.drain(..).find(|(_, empty)| *empty) {
        return Err(err_at(file, &id_loc, format!("`{key}` is empty")));
    }

    let mut layers = Vec::new();
    let mut seen = [false; 4];
    for raw_layer in raw.layers {
        let at = raw_layer.referenced;
        let l = raw_layer.value;
        let level = l.level.value;
        if !(1..=4).contains(&level) {
            return Err(err_at(
                file,
                &l.level.referenced,
                format!("layer level {level} is not one of 1, 2, 3, 4"),
            ));
        }
        if seen[level as usize - 1] {
            return Err(err_at(
                file,
                &l.level.referenced,
                format!("layer {level} is given twice"),
            ));
        }
        seen[level as usize - 1] = true;
        let texts = [
            ("name", &l.name),
            ("takeaway", &l.takeaway),
            ("attacker_goal", &l.attacker_goal),
            ("trust_question", &l.trust_question),
            ("failure_mode", &l.failure_mode),
            ("mental_model", &l.mental_model),
            ("body", &l.body),
        ];
        for (key, value) in texts {
            if value.trim().is_empty() {
                return Err(err_at(
                    file,
                    &at,
                    format!("`{key}` of layer {level} is empty"),
                ));
            }
        }
        let lists = [
            ("misconceptions", &l.misconceptions),
            ("hands_on", &l.hands_on),
        ];
        for (key, list) in lists {
            if list.is_empty() || list.iter().any(|s| s.trim().is_empty()) {
                return Err(err_at(
                    file,
                    &at,
                    format!("`{key}` of layer {level} needs at least one non-empty item"),
                ));
            }
        }
        if l.predict.is_empty() {
            return Err(err_at(
                file,
                &at,
                format!("layer {level} has no `predict` question"),
            ));
        }
        let mut predict = Vec::new();
        for p in l.predict {
            let p_at = p.referenced;
            let p = p.value;
            let answer = OUTCOMES
                .iter()
                .find(|(n, _)| *n == p.answer.value.trim())
                .map(|(_, k)| *k)
                .ok_or_else(|| {
                    let names: Vec<&str> = OUTCOMES.iter().map(|(n, _)| *n).collect();
                    let hint = crate::load::diagnostic::nearest(
                        p.answer.value.trim(),
                        names.iter().copied(),
                    )
                    .map(|n| format!("did you mean `{n}`?"))
                    .unwrap_or_else(|| format!("one of {}", names.join(", ")));
                    err_at(
                        file,
                        &p.answer.referenced,
                        format!("`{}` is not an outcome: {hint}", p.answer.value),
                    )
                })?;
            let proto = match &p.proto {
                None => Proto::Tcp,
                Some(s) => match s.value.trim() {
                    "tcp" => Proto::Tcp,
                    "udp" => Proto::Udp,
                    "icmp" => Proto::Icmp,
                    other => {
                        return Err(err_at(
                            file,
                            &s.referenced,
                            format!("`{other}` is not a protocol: tcp, udp or icmp"),
                        ))
                    }
                },
            };
            for (key, value) in [
                ("question", &p.question),
                ("from", &p.from),
                ("to", &p.to),
                ("explain", &p.explain),
            ] {
                if value.trim().is_empty() {
                    return Err(err_at(file, &p_at, format!("`{key}` is empty")));
                }
            }
            predict.push(Prediction {
                question: p.question.trim().to_string(),
                variant: p.variant.map(|v| v.trim().to_string()),
                from: p.from.trim().to_string(),
                to: p.to.trim().to_string(),
                proto,
                via: p.via.map(|v| v.trim().to_string()),
                ipv6: p.ipv6,
                sport: p.sport,
                answer,
                at: p.at.map(|a| a.trim().to_string()),
                explain: p.explain.trim().to_string(),
                line: p_at.line() as u32,
            });
        }
        layers.push(Layer {
            level,
            name: l.name.trim().to_string(),
            takeaway: l.takeaway.trim().to_string(),
            attacker_goal: l.attacker_goal.trim().to_string(),
            trust_question: l.trust_question.trim().to_string(),
            failure_mode: l.failure_mode.trim().to_string(),
            mental_model: l.mental_model.trim().to_string(),
            misconceptions: l
                .misconceptions
                .iter()
                .map(|s| s.trim().to_string())
                .collect(),
            body: l.body.trim_end().to_string() + "\n",
            predict,
            hands_on: l.hands_on.iter().map(|s| s.trim().to_string()).collect(),
            line: at.line() as u32,
        });
    }
    if let Some(missing) = seen.iter().position(|s| !s) {
        return Err(err_at(
            file,
            &id_loc,
            format!("lesson `{id}` has no layer {}", missing + 1),
        ));
    }
    layers.sort_by_key(|l| l.level);
    Ok(Lesson {
        id,
        title: raw.title.trim().to_string(),
        scenario,
        summary: raw.summary.trim().to_string(),
        layers,
        file: file.to_string(),
    })
}

/// Every embedded lesson, in file order. The first unreadable file is the error.
pub fn all() -> Result<Vec<Lesson>, LessonError> {
    let mut out: Vec<Lesson> = Vec::new();
    for (file, text) in FILES {
        let lesson = parse(file, text)?;
        if let Some(other) = out.iter().find(|l| l.id == lesson.id) {
            return Err(LessonError {
                file: file.to_string(),
                line: 1,
                column: 1,
                message: format!("lesson id `{}` is also used by {}", lesson.id, other.file),
            });
        }
        out.push(lesson);
    }
    Ok(out)
}

/// One lesson by id (none if it does not exist or the lessons do not load).
pub fn get(id: &str) -> Option<Lesson> {
    all().ok()?.into_iter().find(|l| l.id == id)
}

/// Runs every prediction of a lesson through load and trace and compares the
/// outcome with the lesson's answer. Results are in layer order, then question order.
pub fn check(lesson: &Lesson) -> Vec<PredictionResult> {
    let example = crate::examples::get(&lesson.scenario);
    let mut out = Vec::new();
    for layer in &lesson.layers {
        for (index, p) in layer.predict.iter().enumerate() {
            let mut r = PredictionResult {
                level: layer.level,
                index,
                question: p.question.clone(),
                variant: p.variant.clone(),
                expected: p.answer,
                actual: None,
                expected_at: p.at.clone(),
                actual_at: None,
                ok: false,
                error: None,
                trace: None,
            };
            let result = match example {
                None => Err(format!("`{}` is not a built-in scenario", lesson.scenario)),
                Some(e) => crate::load(&e.file(), e.text, p.variant.as_deref())
                    .map_err(|err| err.to_string())
                    .and_then(|scn| {
                        crate::journey::trace(&scn, &p.query()).map_err(|err| err.to_string())
                    }),
            };
            match result {
                Ok(t) => {
                    r.actual = Some(t.outcome.kind);
                    r.actual_at = t.outcome.at.clone();
                    r.ok = t.outcome.kind == p.answer
                        && p.at
                            .as_ref()
                            .is_none_or(|at| Some(at) == t.outcome.at.as_ref());
                    r.trace = Some(t);
                }
                Err(e) => r.error = Some(e),
            }
            out.push(r);
        }
    }
    out
}

fn pick(level: u8, words: [&'static str; 4]) -> &'static str {
    words[(level.clamp(1, 4) - 1) as usize]
}

/// What a kind of claim means, in the words of one layer (1..=4; other values
/// are clamped). The web page shows this beside each hop's proves/trusts lines.
pub fn fact_words(fact: Fact, level: u8) -> &'static str {
    match fact {
        Fact::SourceAddress => pick(level, [
            "The return address written on the envelope. Anyone can write any return address; a checkpoint can only sometimes tell whether it is real.",
            "The source IP address in the packet header. The sender fills it in; routers do not check it unless reverse-path filtering or a completed TCP handshake backs it up.",
            "The source address your firewall rules, logs and allow lists key on. It is only as good as rp_filter, the handshake, and every NAT between the client and you.",
            "A network location, not an identity. Treat an allow rule on a source address as authorisation only where spoofing is impossible and no NAT or proxy merges many clients into one address.",
        ]),
        Fact::Destination => pick(level, [
            "The address the message is going to. A gate can check it, and a forwarding desk can quietly change it.",
            "The destination IP address (after any DNAT). A filter that names it proves where the packet is headed at this point in the path.",
            "The address after translation: check nft and conntrack for DNAT before you trust what a log line says was dialled.",
            "Where a request lands decides its blast radius. A rule that names the destination narrows it; DNAT can move the target without the client knowing.",
        ]),
        Fact::Service => pick(level, [
            "Which door of the building the message knocks on: the door number.",
            "The protocol and port (tcp/443, udp/53). A rule or a listening socket proves the packet is aimed at that port, not what program answers or what it says.",
            "What `ss -tlnp` shows: the process on the port. A port rule says nothing about which program actually listens there.",
            "A port is a convention, not a guarantee. Anything allowed on a port is reachable by every source the rule admits; inventory what really listens.",
        ]),
        Fact::Connection => pick(level, [
            "The checkpoint remembers letting the first message through, so it lets the answers back without asking again.",
            "A conntrack entry matched: the packet belongs to a connection (5-tuple) the stateful filter already allowed.",
            "`conntrack -L` shows these entries. They outlive a rule change until they time out or you flush them, so an allow you just removed can keep working.",
            "Earlier decisions keep authority after the policy changes. A revocation is only complete when the state that carries old decisions is flushed too.",
        ]),
        Fact::NameMapping => pick(level, [
            "The address book saying which house a name belongs to. If someone changes the book, you visit the wrong house.",
            "A DNS answer mapping a name to an address. Plain DNS is unsigned, and different resolvers can give different answers (split horizon).",
            "What `dig @resolver name` returns from that resolver. Always ask the resolver the client actually uses; the view decides the answer.",
            "Whoever controls the answer controls where requests go. Only server authentication (TLS) turns a poisoned answer into a failed connection rather than a breach.",
        ]),
        Fact::NextHop => pick(level, [
            "The next helper the message is handed to on the same street. Nobody checks the helper's badge.",
            "The neighbour resolved by ARP (IPv4) or neighbour discovery (IPv6) for the next-hop address. Both are unauthenticated.",
            "`ip neigh` shows the mapping. Duplicate-address or spoofing problems on a segment look like random timeouts.",
            "Anyone on the same segment can claim the next hop. Everything one segment shares is one trust zone unless traffic is authenticated end to end.",
        ]),
        Fact::ServerIdentity => pick(level, [
            "Proof that the building you reached is the one you meant, like a seal that only the real owner can make.",
            "A verified TLS certificate: the server holds the private key for a certificate whose name matches and whose issuer the client trusts.",
            "What `openssl s_client -connect host:port -servername name -verify_return_error` checks. With verification off, the handshake succeeds against anyone.",
            "The only hop that binds a name to a key. It moves trust from the network path to the certificate authorities the client trusts, so that trust list is the real perimeter.",
        ]),
        Fact::ClientIdentity => pick(level, [
            "Who is sending the message. An open gate does not know; a gate that checks a badge does.",
            "Who the client is. A packet filter cannot know it; mutual TLS proves it with a client certificate from a trusted CA.",
            "The identity in the client certificate (often a SPIFFE ID). Log it at the server: it is what you authorise on, not the source IP.",
            "Authority should come from a credential the caller holds, issued and revocable per workload. Anything weaker is a network location dressed up as an identity.",
        ]),
        Fact::ClientAddress => pick(level, [
            "A note the helper adds saying who gave it the message. The note is only as honest as every helper who wrote on it.",
            "The X-Forwarded-For header: proxies write the address they saw. A client can write anything in it before the first proxy.",
            "Trust only the entries your own proxies added: take the address your last trusted proxy saw, never the leftmost.",
            "A header is a claim, not evidence. It becomes authority the moment a rate limit, allow list or audit log believes it, so decide exactly which proxy may write it.",
        ]),
        Fact::Confidentiality => pick(level, [
            "The envelope is sealed: nobody on the road can read or change the letter.",
            "Encryption and integrity from TLS. It protects against a man in the middle only if the server was authenticated too.",
            "Verified TLS end to end. Traffic decrypted at a load balancer or proxy is plain text on the next leg.",
            "Secrecy is only as good as the authentication: an encrypted channel to the wrong party leaks everything to that party.",
        ]),
        Fact::Content => pick(level, [
            "What the letter says. Gates that only read the envelope never see it.",
            "The payload. A packet filter reads headers only; the request's meaning is checked, if at all, by the application.",
            "Firewalls allow ports, not requests. Validation, authorisation and logging of what is asked for live in the application or a proxy that reads it.",
            "The attack usually rides inside an allowed connection. Every network control above assumes the application does its own checks.",
        ]),
    }
}

/// What a stage of the journey is, in the words of one layer (1..=4; other values are clamped).
pub fn stage_words(stage: Stage, level: u8) -> &'static str {
    match stage {
        Stage::Resolve => pick(level, [
            "Looking up the name in an address book to find the house number.",
            "DNS resolution: the client's resolver (its view) turns the name into an A or AAAA record.",
            "The resolver the client really uses (`/etc/resolv.conf`, `dig`), with split-horizon views giving different answers inside and out.",
            "The first place a journey can be steered: whoever answers the name decides the destination.",
        ]),
        Stage::Send => pick(level, [
            "The sender writes the addresses on the envelope and posts it.",
            "The sender builds the packet: source and destination address and port, TTL.",
            "The kernel picks the source address from the route and an ephemeral port; the output hook runs.",
            "The sender writes every header field itself; nothing here is evidence yet.",
        ]),
        Stage::Conntrack => pick(level, [
            "The checkpoint looks in its notebook: has it seen this conversation before?",
            "Connection tracking: the packet is classified as new, established or invalid, and NAT is undone for replies.",
            "The conntrack table (`conntrack -L`): what the filter relies on for replies, and what outlives rule changes.",
            "State carried from earlier decisions; it grants passage without re-checking the current policy.",
        ]),
        Stage::Dnat => pick(level, [
            "A forwarding desk changes the address on the envelope to the real house inside.",
            "Destination NAT in prerouting: the destination address (and port) is rewritten, and conntrack remembers it.",
            "Port forwards and load balancer VIPs. Check the nat table (`nft list ruleset`) when a log shows an address nobody dialled.",
            "A published door: every DNAT rule is an entry point to a private host and belongs in the exposure inventory.",
        ]),
        Stage::ReversePath => pick(level, [
            "The gate checks that the return address fits the road the letter came in on.",
            "Reverse-path filtering: the route back to the source must use the incoming interface (strict) or exist (loose).",
            "The `rp_filter` sysctl. Strict mode breaks asymmetric routing; loose mode stops little.",
            "Anti-spoofing: what turns a source address from a claim into weak evidence of where the packet came from.",
        ]),
        Stage::Route => pick(level, [
            "Choosing which road to take next, using the signposts.",
            "A routing decision: the longest matching prefix in the routing table picks the next hop and interface.",
            "`ip route get ADDRESS` shows the same choice the kernel makes; default routes hide mistakes.",
            "Routing decides which checkpoints a packet meets at all; a route around a filter is a hole in it.",
        ]),
        Stage::Filter => pick(level, [
            "The checkpoint guard compares the envelope with a list of rules and lets it pass or stops it.",
            "A packet filter: rules in order, first match wins, else the default policy; stateful filters also use conntrack.",
            "The nftables chain (`nft list ruleset`) with counters; the rule number and line tell you which rule decided.",
            "The policy enforcement point: its rules are the written authority, and its log is the evidence trail.",
        ]),
        Stage::Snat => pick(level, [
            "A desk replaces the return address with its own, so the answer comes back to the desk.",
            "Source NAT or masquerade in postrouting: the source address is rewritten to the router's.",
            "Everything after this hop logs the NAT address; map it back with the router's conntrack table.",
            "A visibility gap: downstream logs and rules can no longer tell clients apart.",
        ]),
        Stage::Link => pick(level, [
            "Handing the envelope to the next helper on the same street.",
            "Delivery on one segment to the neighbour that owns the next-hop address (ARP or neighbour discovery).",
            "`ip neigh` and the switch: where a wrong MAC or missing neighbour shows up.",
            "Everyone on a segment can claim an address; a segment is a trust zone.",
        ]),
        Stage::Socket => pick(level, [
            "Someone inside the house opens the door, or nobody is home.",
            "The socket lookup: a process listening on the protocol, port and bind address accepts, else the connection is refused.",
            "What `ss -tlnp` lists: the process, port and bind address (0.0.0.0 versus 127.0.0.1 matters).",
            "The final asset. Anything listening on a reachable address is attack surface, whatever it was meant for.",
        ]),
        Stage::Tls => pick(level, [
            "Checking the seal on the envelope to be sure who you are talking to, and sealing the letters.",
            "The TLS handshake: certificate name and issuer checked against the client's trusted CAs, optionally a client certificate too.",
            "`openssl s_client -servername NAME -verify_return_error` reproduces it; `verify: false` hides every failure.",
            "Where identity enters the journey: names bound to keys by CAs you choose to trust.",
        ]),
        Stage::Proxy => pick(level, [
            "A helper who takes your letter and sends a new one in their own name, with a note saying it came from you.",
            "An HTTP proxy: a second connection from the proxy, with the original client's address only in X-Forwarded-For.",
            "Proxy logs and allow lists; the upstream sees the proxy's address. Check which proxy writes the header.",
            "A point where a network fact becomes a claim: downstream decisions now rest on what the proxy says.",
        ]),
        Stage::Receive => pick(level, [
            "The sender gets the answer back and knows the conversation has started.",
            "The client receives the reply with exactly the reversed addresses and ports; anything else is not its connection.",
            "A reply that never arrives looks like a timeout to the client, even when the request got through.",
            "Success is only known at the sender: a request can have effects even when the reply is lost.",
        ]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fact_and_stage_has_four_distinct_wordings() {
        let facts = [
            Fact::SourceAddress,
            Fact::Destination,
            Fact::Service,
            Fact::Connection,
            Fact::NameMapping,
            Fact::NextHop,
            Fact::ServerIdentity,
            Fact::ClientIdentity,
            Fact::ClientAddress,
            Fact::Confidentiality,
            Fact::Content,
        ];
        for f in facts {
            let w: Vec<&str> = (1..=4).map(|l| fact_words(f, l)).collect();
            for (i, a) in w.iter().enumerate() {
                assert!(!a.is_empty());
                assert!(!w[i + 1..].contains(a), "{f:?} repeats a wording");
            }
        }
        assert_eq!(fact_words(Fact::Content, 9), fact_words(Fact::Content, 4));
        assert_eq!(stage_words(Stage::Tls, 0), stage_words(Stage::Tls, 1));
    }
}
