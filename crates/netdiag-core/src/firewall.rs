//! The local firewall as data: one model for `iptables-save` text and `nft -j list ruleset` JSON,
//! a kernel-faithful walk of a flow through it, and a fix scoped to exactly that flow.
//!
//! Why here and pure: "which rule drops my connection" is a question about text the probe has
//! already read, so answering it needs no privileges and is table-testable on captured rulesets.
//! The walk follows the kernel: every base chain registered at each hook the packet crosses runs
//! in priority order whatever its backend (iptables-legacy, iptables-nft and nft tables all hook
//! into the same netfilter hooks); an ACCEPT ends one base chain only, a DROP or REJECT ends the
//! packet. A match this module cannot evaluate (ipset, mark, limit, string, bpf, …) never gets a
//! guess: the rule is recorded and the answer becomes [`Outcome::Possible`].
//!
//! This module must never run a command, read a file or panic on input: parse problems are
//! [`ParseError`] values naming the line.

mod eval;
mod fix;
mod iptables;
mod nft;
pub mod rpfilter;

use std::fmt;
use std::net::IpAddr;

use serde::Serialize;

pub use eval::evaluate;
pub use fix::{scoped_fix, ScopedFix};
pub use iptables::parse_iptables_save;
pub use nft::parse_nft_json;

#[cfg(test)]
mod tests;

/// Whether `iptables-save` output comes from the nf_tables backend (its header comment says
/// `(nf_tables)`): then `nft -j` shows the same tables again, as `xt` expressions.
pub fn iptables_uses_nf_tables(save: &str) -> bool {
    save.lines()
        .filter(|l| l.starts_with('#'))
        .take(4)
        .any(|l| l.contains("(nf_tables)"))
}

/// Everything the kernel runs, as one ruleset: the iptables views plus the nft tables, leaving
/// out the nft copies of tables that iptables-nft made when `iptables_on_nf_tables` (the
/// `iptables-save` view of those is complete, the nft view shows opaque `xt` expressions).
pub fn combine(
    iptables: &[Ruleset],
    nft: Option<&Ruleset>,
    iptables_on_nf_tables: bool,
) -> Ruleset {
    let mut out = Ruleset::default();
    for r in iptables {
        out.tables.extend(r.tables.iter().cloned());
    }
    if let Some(nft) = nft {
        for t in &nft.tables {
            let duplicate = iptables_on_nf_tables
                && iptables
                    .iter()
                    .flat_map(|r| &r.tables)
                    .any(|i| i.family == t.family && i.name == t.name);
            if !duplicate {
                out.tables.push(t.clone());
            }
        }
    }
    out
}

/// A parse problem, naming where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// A line of `iptables-save` output that cannot be understood.
    #[error("iptables-save line {line}: {reason}")]
    IptablesLine {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// `nft -j` output that is not the JSON we expect.
    #[error("nft -j output: {0}")]
    NftJson(String),
    /// One object of `nft -j` output that cannot be understood (index in the `nftables` array).
    #[error("nft -j object {index}: {reason}")]
    NftObject {
        /// 0-based index in the `nftables` array.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
}

/// Which tool's view a table comes from; it decides how fixes are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// `iptables-save`/`ip6tables-save` text (legacy or nf_tables backend).
    Iptables,
    /// `nft -j list ruleset`.
    Nft,
}

impl Backend {
    /// The tool name: `iptables` or `nft`.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Iptables => "iptables",
            Backend::Nft => "nft",
        }
    }
}

/// IPv4 or IPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IpFamily {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

/// A netfilter hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Hook {
    /// Before routing, for every received packet.
    Prerouting,
    /// Received packets for this host.
    Input,
    /// Routed packets.
    Forward,
    /// Packets this host sends.
    Output,
    /// After routing, for every sent or forwarded packet.
    Postrouting,
}

impl Hook {
    /// The hook's name as iptables spells it for built-in chains.
    pub fn chain_name(self) -> &'static str {
        match self {
            Hook::Prerouting => "PREROUTING",
            Hook::Input => "INPUT",
            Hook::Forward => "FORWARD",
            Hook::Output => "OUTPUT",
            Hook::Postrouting => "POSTROUTING",
        }
    }
}

/// The transport protocol of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// ICMP or ICMPv6, taken to be an echo request.
    Icmp,
}

/// Where a flow meets the firewall of this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FlowHook {
    /// Sent by this host (OUTPUT, then POSTROUTING).
    Output,
    /// Received by this host (PREROUTING, then INPUT).
    Input,
    /// Routed through this host (PREROUTING, FORWARD, POSTROUTING).
    Forward,
}

impl FlowHook {
    /// The hooks the packet crosses, in order.
    pub fn path(self) -> &'static [Hook] {
        match self {
            FlowHook::Output => &[Hook::Output, Hook::Postrouting],
            FlowHook::Input => &[Hook::Prerouting, Hook::Input],
            FlowHook::Forward => &[Hook::Prerouting, Hook::Forward, Hook::Postrouting],
        }
    }
}

/// The first packet of a new connection, as the firewall sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flow {
    /// IPv4 or IPv6 (must agree with the addresses).
    pub family: IpFamily,
    /// Where the packet meets this host's firewall.
    pub hook: FlowHook,
    /// Transport protocol.
    pub proto: Proto,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Source port, when known (usually an ephemeral port, so usually unknown).
    pub sport: Option<u16>,
    /// Destination port.
    pub dport: Option<u16>,
    /// Input interface, when known.
    pub iif: Option<String>,
    /// Output interface, when known.
    pub oif: Option<String>,
    /// The packet is a reply within a connection this host opened (conntrack ESTABLISHED,
    /// e.g. a SYN-ACK), not the first packet of a new flow.
    pub reply: bool,
    /// The range this host picks ephemeral ports from (`net.ipv4.ip_local_port_range`): the
    /// local side's unknown port (the source port going out, the destination port of a reply)
    /// is somewhere in it, so a rule for port 22 cannot match it.
    pub ephemeral: Option<(u16, u16)>,
}

impl FirewallSources {
    /// No source could be read, for this reason (every source says so).
    pub fn unreadable(why: &str) -> FirewallSources {
        FirewallSources {
            iptables: Err(why.to_string()),
            ip6tables: Err(why.to_string()),
            nft: Err(why.to_string()),
            legacy_tables_loaded: false,
            ephemeral: None,
        }
    }
}

impl fmt::Display for Flow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let proto = match self.proto {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Icmp => "icmp",
        };
        write!(f, "{proto} {}", self.src)?;
        if let Some(p) = self.sport {
            write!(f, ":{p}")?;
        }
        write!(f, " -> {}", self.dst)?;
        if let Some(p) = self.dport {
            write!(f, ":{p}")?;
        }
        Ok(())
    }
}

/// A whole ruleset: the tables of one or more backends.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Ruleset {
    /// Tables in the order they were read.
    pub tables: Vec<Table>,
}

/// One table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Table {
    /// Which tool's view this is.
    pub backend: Backend,
    /// `ip`, `ip6`, `inet` (or `arp`, `bridge`, `netdev`, which IP flows never cross).
    pub family: String,
    /// Table name (`filter`, `raw`, …).
    pub name: String,
    /// Chains in the order they were read.
    pub chains: Vec<Chain>,
}

impl Table {
    /// Whether packets of `family` traverse this table.
    pub fn carries(&self, family: IpFamily) -> bool {
        matches!(
            (self.family.as_str(), family),
            ("inet", _) | ("ip", IpFamily::V4) | ("ip6", IpFamily::V6)
        )
    }
}

/// One chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Chain {
    /// Chain name.
    pub name: String,
    /// Hook, priority and policy when this is a base chain.
    pub base: Option<BaseChain>,
    /// Rules in order.
    pub rules: Vec<Rule>,
    /// Policy counters (iptables prints them for built-in chains).
    pub counters: Option<Counters>,
}

/// What makes a chain a base chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BaseChain {
    /// The hook it is registered at.
    pub hook: Hook,
    /// Lower runs first (raw -300, mangle -150, dstnat -100, filter 0, security 50, srcnat 100).
    pub priority: i32,
    /// What happens to a packet that reaches the end.
    pub policy: Policy,
    /// `filter`, `nat`, `route`.
    pub kind: String,
}

/// A base chain's policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// Let the packet through this chain.
    Accept,
    /// Drop the packet.
    Drop,
}

/// Packet and byte counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
}

/// One rule: all matches must hold for the action to apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rule {
    /// 1-based position in its chain (what `iptables -I CHAIN N` counts).
    pub position: usize,
    /// nft rule handle.
    pub handle: Option<u64>,
    /// The matches.
    pub matches: Vec<Match>,
    /// What happens when all match.
    pub action: Action,
    /// Counters, when the dump has them.
    pub counters: Option<Counters>,
    /// The rule as its tool would print it.
    pub text: String,
}

/// One match, possibly negated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Match {
    /// `!` in iptables, `!=` in nft.
    pub negated: bool,
    /// The test.
    pub test: Test,
}

/// An address prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Cidr {
    /// Network address.
    pub addr: IpAddr,
    /// Prefix length.
    pub len: u8,
}

impl Cidr {
    /// Whether `ip` is inside this prefix (never across families).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let len = u32::from(self.len.min(32));
                let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let len = u32::from(self.len.min(128));
                let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// What a match tests. Anything not listed here is [`Test::Unknown`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Test {
    /// The packet is of this family (nft `ip …`/`ip6 …` imply it).
    Family(IpFamily),
    /// IP protocol number in this set (0 means any).
    Proto(Vec<u8>),
    /// Source address in one of these prefixes.
    Src(Vec<Cidr>),
    /// Destination address in one of these prefixes.
    Dst(Vec<Cidr>),
    /// Source port in one of these inclusive ranges.
    Sport(Vec<(u16, u16)>),
    /// Destination port in one of these inclusive ranges.
    Dport(Vec<(u16, u16)>),
    /// Input interface name matches one of these (`+`/`*` suffix is a wildcard).
    InIface(Vec<String>),
    /// Output interface name matches one of these.
    OutIface(Vec<String>),
    /// Connection tracking state in this set (lowercase).
    CtState(Vec<String>),
    /// ICMP type in this set (names or numbers); a flow's ICMP is an echo request.
    IcmpType(Vec<String>),
    /// TCP SYN without ACK/RST/FIN (`--syn`): true for a connection's first packet.
    TcpSyn,
    /// A match this module cannot evaluate, as text.
    Unknown(String),
}

/// What a rule does when it matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Ends this base chain; the packet goes on to the next one.
    Accept,
    /// Ends the packet silently.
    Drop,
    /// Ends the packet with an error to the sender.
    Reject {
        /// The `--reject-with` type as printed.
        with: String,
    },
    /// Runs a chain, then comes back.
    Jump(String),
    /// Runs a chain and does not come back.
    Goto(String),
    /// Back to the calling chain (or the policy in a base chain).
    Return,
    /// No verdict (counter, LOG, MARK, …): the next rule runs.
    Continue,
    /// A verdict this module cannot follow (NFQUEUE, vmap, …).
    Unknown(String),
}

impl Action {
    fn describe(&self) -> String {
        match self {
            Action::Accept => "accept".into(),
            Action::Drop => "drop".into(),
            Action::Reject { with } => format!("reject with {with}"),
            Action::Jump(c) => format!("jump {c}"),
            Action::Goto(c) => format!("goto {c}"),
            Action::Return => "return".into(),
            Action::Continue => "continue".into(),
            Action::Unknown(t) => t.clone(),
        }
    }
}

/// A rule (or a chain policy) named the way a person finds it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleRef {
    /// `iptables` or `nft`.
    pub backend: Backend,
    /// Table family (`ip`, `ip6`, `inet`).
    pub family: String,
    /// Table name.
    pub table: String,
    /// Chain name.
    pub chain: String,
    /// 1-based position in the chain; `None` for the chain's policy.
    pub position: Option<usize>,
    /// nft handle.
    pub handle: Option<u64>,
    /// The rule text (or `policy drop` for a chain's policy).
    pub text: String,
    /// Packet counter, when the dump has it.
    pub packets: Option<u64>,
    /// Byte counter, when the dump has it.
    pub bytes: Option<u64>,
}

impl RuleRef {
    /// Whether this names a chain's policy rather than a rule.
    pub fn is_policy(&self) -> bool {
        self.position.is_none()
    }
}

impl fmt::Display for RuleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {}",
            self.backend.as_str(),
            self.family,
            self.table,
            self.chain
        )?;
        match (self.position, self.handle) {
            (None, _) => write!(f, " (policy)")?,
            (Some(p), None) => write!(f, " rule {p}")?,
            (Some(p), Some(h)) => write!(f, " rule {p} (handle {h})")?,
        }
        write!(f, ": {}", self.text)?;
        if let (Some(p), Some(b)) = (self.packets, self.bytes) {
            write!(f, " [{p} packets, {b} bytes]")?;
        }
        Ok(())
    }
}

/// A rule whose matches could not all be evaluated, on the flow's path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Uncertain {
    /// The rule.
    pub rule: RuleRef,
    /// What it would do if it matched (`drop`, `accept`, `jump X`, …).
    pub would: String,
    /// The matches that could not be evaluated.
    pub cannot_evaluate: Vec<String>,
    /// The base chain it was reached from (`iptables ip filter INPUT`).
    pub base_chain: String,
}

impl Uncertain {
    /// Whether this rule, if it matched, could stop the packet (drop, reject, or a verdict we
    /// cannot follow).
    pub fn may_block(&self) -> bool {
        !(self.would == "accept" || self.would == "return" || self.would == "continue")
    }
}

/// What the firewall does with the flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Outcome {
    /// Every base chain lets it through.
    Accepted,
    /// Dropped silently: the sender sees a timeout.
    Dropped,
    /// Rejected with an error.
    Rejected {
        /// The reject type (`icmp-admin-prohibited`, `tcp reset`, …).
        with: String,
    },
    /// Rules that could not be evaluated would change the answer.
    Possible {
        /// The rules that might match, in the order met.
        uncertain: Vec<Uncertain>,
        /// The outcome if none of them matches.
        otherwise: Box<Outcome>,
    },
}

impl Outcome {
    /// Whether the packet is dropped or rejected for certain.
    pub fn is_blocked(&self) -> bool {
        matches!(self, Outcome::Dropped | Outcome::Rejected { .. })
    }
}

/// The answer for one flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FirewallVerdict {
    /// What happens.
    pub outcome: Outcome,
    /// The rule (or policy) that decided; for `Possible`, the one deciding when no uncertain rule
    /// matches. `None` when the flow was accepted by every base chain's end.
    pub deciding_rule: Option<RuleRef>,
    /// Base chains and rules visited, in order, for the evidence.
    pub trail: Vec<String>,
    /// The base chain the deciding rule was reached from (`iptables ip filter OUTPUT`).
    pub deciding_base_chain: Option<String>,
    /// Every rule on the path that might block but could not be evaluated, even when the
    /// outcome stays certain (a later rule blocks anyway): a fix must go before these too.
    pub uncertain_blockers: Vec<Uncertain>,
}

/// What the probe reads of this host's firewall, unparsed: the raw text of each source (or why
/// it could not be read) and the two host facts the evaluation needs beside them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirewallSources {
    /// `iptables-save -c` output.
    pub iptables: Result<String, String>,
    /// `ip6tables-save -c` output.
    pub ip6tables: Result<String, String>,
    /// `nft -j list ruleset` output.
    pub nft: Result<String, String>,
    /// Legacy (x_tables) IPv4 tables are loaded next to the nf_tables ones.
    pub legacy_tables_loaded: bool,
    /// `net.ipv4.ip_local_port_range`, when readable.
    pub ephemeral: Option<(u16, u16)>,
}

/// Walks `flow` through the sources the probe read: parses each, combines them the way the
/// kernel runs them, evaluates the flow and computes the scoped fix. Unreadable or unparsable
/// sources become notes. A flow without its ephemeral port range gets this host's.
pub fn explain_sources(flow: &Flow, sources: &FirewallSources) -> FirewallReport {
    let mut flow = flow.clone();
    if flow.ephemeral.is_none() {
        flow.ephemeral = sources.ephemeral;
    }
    let flow = &flow;
    let mut notes = Vec::new();
    let mut iptables: Vec<Ruleset> = Vec::new();
    let mut on_nf_tables = false;
    let mut any = false;
    for (tool, text, family) in [
        ("iptables-save", &sources.iptables, IpFamily::V4),
        ("ip6tables-save", &sources.ip6tables, IpFamily::V6),
    ] {
        match text {
            Ok(t) => match parse_iptables_save(t, family) {
                Ok(r) => {
                    any = true;
                    on_nf_tables |= iptables_uses_nf_tables(t);
                    iptables.push(r);
                }
                Err(e) => notes.push(format!("{tool}: {e}")),
            },
            Err(e) => notes.push(format!("{tool}: {e}")),
        }
    }
    let nft = match &sources.nft {
        Ok(t) => match parse_nft_json(t) {
            Ok(r) => {
                any = true;
                Some(r)
            }
            Err(e) => {
                notes.push(format!("nft: {e}"));
                None
            }
        },
        Err(e) => {
            notes.push(format!("nft: {e}"));
            None
        }
    };
    if on_nf_tables && nft.is_some() {
        notes.push(
            "iptables uses the nf_tables backend: its tables are read from iptables-save, \
             not again from nft"
                .to_owned(),
        );
    }
    if on_nf_tables && sources.legacy_tables_loaded {
        // The kernel runs those too, but iptables-save showed the nf_tables side only.
        notes.push(
            "legacy iptables tables are also loaded (/proc/net/ip_tables_names) and were not \
             read; run iptables-legacy-save to see them"
                .to_owned(),
        );
    }
    if !any {
        return FirewallReport {
            flow: flow.clone(),
            verdict: None,
            fix: ScopedFix::default(),
            notes,
        };
    }
    let ruleset = combine(&iptables, nft.as_ref(), on_nf_tables);
    let verdict = evaluate(&ruleset, flow);
    let fix = scoped_fix(&verdict, flow);
    FirewallReport {
        flow: flow.clone(),
        verdict: Some(verdict),
        fix,
        notes,
    }
}

/// What the firewall does with one flow, with the evidence and the fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FirewallReport {
    /// The flow asked about.
    pub flow: Flow,
    /// The walk through every table read; `None` when no source could be read at all.
    pub verdict: Option<FirewallVerdict>,
    /// The scoped fix, rollback and pre-state (empty when accepted or unknown).
    pub fix: ScopedFix,
    /// Sources that could not be read or parsed, and what was left out and why.
    pub notes: Vec<String>,
}
