//! The answer for one flow, shaped as contract §3's JSON verdict, plus the path evaluated on the
//! way (one [`Step`] per resource looked at) so a person can see *why*.
//!
//! Providers fill a [`Verdict`]; rendering (table/JSON/Markdown) lives in `render` and knows no
//! provider.

use ipnet::IpNet;
use netdiag_core::remedy::{admit_fix, admit_peer};
pub use netdiag_core::report::Fix;
pub use netdiag_core::Cause;
use serde::Serialize;

/// Where in the provider's model the decision was made (contract §3 `layer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum CloudLayer {
    /// AWS security group, ingress side (the destination's SGs).
    #[serde(rename = "sg")]
    Sg,
    /// AWS security group, egress side (the source's SGs).
    #[serde(rename = "sg-egress")]
    SgEgress,
    /// AWS network ACL (either subnet, either direction, or the reply).
    #[serde(rename = "nacl")]
    Nacl,
    /// Routing (AWS route tables, GCP routes).
    #[serde(rename = "route")]
    Route,
    /// GCP VPC firewall rule, ingress.
    #[serde(rename = "firewall")]
    Firewall,
    /// GCP VPC firewall rule, egress.
    #[serde(rename = "firewall-egress")]
    FirewallEgress,
    /// GCP hierarchical / network firewall policy.
    #[serde(rename = "hierarchical-policy")]
    HierarchicalPolicy,
    /// A block the tenant cannot change (GCP egress TCP 25, …).
    #[serde(rename = "platform")]
    Platform,
    /// Azure NSG on the subnet.
    #[serde(rename = "nsg-subnet")]
    NsgSubnet,
    /// Azure NSG on the NIC.
    #[serde(rename = "nsg-nic")]
    NsgNic,
}

impl CloudLayer {
    /// The contract's name for the layer.
    pub fn name(self) -> &'static str {
        match self {
            CloudLayer::Sg => "sg",
            CloudLayer::SgEgress => "sg-egress",
            CloudLayer::Nacl => "nacl",
            CloudLayer::Route => "route",
            CloudLayer::Firewall => "firewall",
            CloudLayer::FirewallEgress => "firewall-egress",
            CloudLayer::HierarchicalPolicy => "hierarchical-policy",
            CloudLayer::Platform => "platform",
            CloudLayer::NsgSubnet => "nsg-subnet",
            CloudLayer::NsgNic => "nsg-nic",
        }
    }
}

/// Which leg of the flow a decision is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Side {
    /// Leaving the source (SG egress, NACL outbound of the source subnet, GCP egress, NSG outbound).
    SourceEgress,
    /// On the way (routing).
    Path,
    /// Arriving at the destination (NACL inbound, SG ingress, GCP ingress, NSG inbound).
    DestinationIngress,
    /// The reply (stateless NACLs only).
    Reply,
}

/// A resource and rule, e.g. `{"resource": "sg-0abc", "rule": "tcp 443 from 10.0.0.0/16"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleRef {
    /// `sg-…`, `acl-…`, `rtb-…`, a GCP rule or policy name, `implied-deny-ingress`,
    /// `nsg-name/rule-name`.
    pub resource: String,
    /// The rule as a person would read it (number/priority, action, match).
    pub rule: String,
}

/// What one evaluated resource said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StepResult {
    /// Passed.
    Allow,
    /// Blocked here.
    Deny,
    /// Cannot be decided from the exports.
    Unknown,
    /// Looked at, does not apply (e.g. NACLs within one subnet).
    Skip,
}

/// One row of the evaluated path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// The layer.
    pub layer: CloudLayer,
    /// Which leg.
    pub side: Side,
    /// The resource evaluated (`sg-…`, `acl-…`, `rtb-…`, rule/policy name, NSG name).
    pub resource: String,
    /// What was tested, e.g. "ingress tcp/443 from 10.0.1.5".
    pub test: String,
    /// The outcome.
    pub result: StepResult,
    /// The deciding rule, when one decided.
    pub rule: Option<String>,
    /// Evidence lines.
    pub evidence: Vec<String>,
}

/// Something the answer depends on that the exports lack, and the command that exports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Missing {
    /// What is missing, e.g. "entries of prefix list pl-0abc".
    pub what: String,
    /// The read-only command that would export it.
    pub export: String,
}

/// Contract §3 verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// `null` when allowed (or unknown), else where it is blocked.
    pub layer: Option<CloudLayer>,
    /// Cause code.
    pub cause: Cause,
    /// Whether the flow is allowed. `false` with cause `cloud_unknown` means "not proven allowed".
    pub allowed: bool,
    /// Which leg is blocked (added).
    pub side: Option<Side>,
    /// The blocking resource and rule (or implied rule).
    pub blocking: Option<RuleRef>,
    /// A rule that would have allowed the flow but is disabled or does not apply, and why (added).
    pub would_allow: Option<RuleRef>,
    /// One sentence a person can act on.
    pub summary: String,
    /// The narrowest fix; `None` when allowed or when no change in the exported scope can help.
    pub fix: Option<Fix>,
    /// How to undo the fix.
    pub rollback: Vec<String>,
    /// Read-only commands that capture the pre-state before applying the fix.
    pub prestate: Vec<String>,
    /// Why there is no fix (organization policy, platform block), when there is none (added).
    pub no_fix_reason: Option<String>,
    /// What the exports lack (added; non-empty with cause `cloud_unknown`).
    pub unknown: Vec<Missing>,
}

impl Verdict {
    /// An allowed flow.
    pub fn allowed(summary: impl Into<String>) -> Verdict {
        Verdict {
            layer: None,
            cause: Cause::Ok,
            allowed: true,
            side: None,
            blocking: None,
            would_allow: None,
            summary: summary.into(),
            fix: None,
            rollback: Vec::new(),
            prestate: Vec::new(),
            no_fix_reason: None,
            unknown: Vec::new(),
        }
    }

    /// A blocked flow (fill `fix`, `rollback`, `prestate`, `would_allow` afterwards).
    pub fn blocked(
        layer: CloudLayer,
        cause: Cause,
        side: Side,
        blocking: RuleRef,
        summary: impl Into<String>,
    ) -> Verdict {
        Verdict {
            layer: Some(layer),
            cause,
            allowed: false,
            side: Some(side),
            blocking: Some(blocking),
            would_allow: None,
            summary: summary.into(),
            fix: None,
            rollback: Vec::new(),
            prestate: Vec::new(),
            no_fix_reason: None,
            unknown: Vec::new(),
        }
    }

    /// The answer depends on data the exports lack.
    pub fn unknown(
        layer: Option<CloudLayer>,
        missing: Vec<Missing>,
        summary: impl Into<String>,
    ) -> Verdict {
        Verdict {
            layer,
            cause: Cause::CloudUnknown,
            allowed: false,
            side: None,
            blocking: None,
            would_allow: None,
            summary: summary.into(),
            fix: None,
            rollback: Vec::new(),
            prestate: Vec::new(),
            no_fix_reason: None,
            unknown: missing,
        }
    }
}

/// Everything one `cloud check` produces: the flow as resolved, the path, the verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CloudReport {
    /// `netdiag.cloud.check/v1`.
    pub schema: &'static str,
    /// The provider.
    pub provider: crate::doc::Provider,
    /// The flow as resolved: `{"src": "...", "dst": "...", "port": 443, "protocol": "tcp"}` plus
    /// what the ids resolved to.
    pub flow: serde_json::Value,
    /// Every resource evaluated, in path order.
    pub path: Vec<Step>,
    /// The answer.
    pub verdict: Verdict,
}

/// Report schema name.
pub const SCHEMA: &str = "netdiag.cloud.check/v1";

/// What a provider's evaluation returns; `check` wraps it into a [`CloudReport`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// The flow as resolved (ids → addresses, subnets, NICs), as JSON for the report.
    pub flow: serde_json::Value,
    /// Every resource evaluated, in path order.
    pub path: Vec<Step>,
    /// The answer.
    pub verdict: Verdict,
}

/// What a provider's structural fix change can say about itself (GCP and Azure share
/// [`conclude_blocks`] through it).
pub(crate) trait ProposedChange: PartialEq {
    /// One clause for the fix description.
    fn describe(&self) -> String;
    /// The provider CLI command that makes the change.
    fn command(&self) -> String;
    /// The commands that make it, in order (a multi-step change has several).
    fn commands(&self) -> Vec<String> {
        vec![self.command()]
    }
    /// The command that undoes it.
    fn rollback(&self) -> String;
    /// The commands that undo it, in the order to run them.
    fn rollbacks(&self) -> Vec<String> {
        vec![self.rollback()]
    }
    /// The read-only command that captures the pre-state.
    fn prestate(&self) -> String;
}

/// The facts of one block on the path that the verdict reports.
pub(crate) struct BlockFacts<'a> {
    pub(crate) layer: CloudLayer,
    pub(crate) cause: Cause,
    pub(crate) side: Side,
    pub(crate) rule: &'a RuleRef,
    pub(crate) would_allow: Option<&'a RuleRef>,
}

/// Wording that differs between providers.
pub(crate) struct ConcludeText<'a> {
    /// The summary when nothing blocks and nothing is unknown.
    pub(crate) allowed: String,
    /// Appended to the fix description when more than one block is fixed.
    pub(crate) several_blocks: Option<&'a str>,
    /// What could not be decided ("NSGs", "layers").
    pub(crate) undecided: &'a str,
}

/// Turns the blocks found on a path (in path order) and the unknowns into the verdict: the
/// first block is reported, every block gets a change (each distinct change once), and the
/// changes give the fix, rollback (in reverse) and pre-state. A block without a possible change
/// makes the verdict say why instead.
pub(crate) fn conclude_blocks<B, C: ProposedChange>(
    flow: &str,
    blocks: &[B],
    missing: Vec<Missing>,
    text: ConcludeText<'_>,
    facts: impl Fn(&B) -> BlockFacts<'_>,
    mut change_for: impl FnMut(&B) -> Result<C, String>,
) -> (Verdict, Vec<C>) {
    let Some(first) = blocks.first().map(&facts) else {
        if missing.is_empty() {
            return (Verdict::allowed(text.allowed), Vec::new());
        }
        let v = Verdict::unknown(
            None,
            missing,
            format!("{flow}: the answer depends on data the exports lack (see unknown); export it and ask again"),
        );
        return (v, Vec::new());
    };
    let mut v = Verdict::blocked(
        first.layer,
        first.cause,
        first.side,
        first.rule.clone(),
        format!(
            "{flow} is blocked by {} ({})",
            first.rule.resource, first.rule.rule
        ),
    );
    v.would_allow = first.would_allow.cloned();
    let mut changes = Vec::new();
    let mut reasons = Vec::new();
    for b in blocks {
        match change_for(b) {
            // One resource on two places of the path (or one rule for two legs) needs it once.
            Ok(c) if changes.contains(&c) => {}
            Ok(c) => changes.push(c),
            Err(r) => reasons.push(r),
        }
    }
    if !reasons.is_empty() {
        v.no_fix_reason = Some(reasons.join(" "));
        v.unknown = missing;
        return (v, Vec::new());
    }
    let mut description = format!(
        "The narrowest change that lets {flow} through: {}.",
        changes
            .iter()
            .map(|c| c.describe())
            .collect::<Vec<_>>()
            .join("; ")
    );
    if let (Some(note), true) = (text.several_blocks, blocks.len() > 1) {
        description += note;
    }
    if !missing.is_empty() {
        description += &format!(
            " Some {} could not be decided from the exports (see unknown); check them before relying on this fix.",
            text.undecided
        );
        v.unknown = missing;
    }
    v.fix = Some(Fix {
        description,
        commands: changes.iter().flat_map(|c| c.commands()).collect(),
        ..Fix::default()
    });
    v.rollback = changes.iter().rev().flat_map(|c| c.rollbacks()).collect();
    for c in &changes {
        let p = c.prestate();
        if !v.prestate.contains(&p) {
            v.prestate.push(p);
        }
    }
    (v, changes)
}

/// Core's one world guard ([`admit_peer`]) on the flow's other end, with the wording GCP and
/// Azure give when they refuse.
pub(crate) fn refuse_any(net: &IpNet) -> Result<(), String> {
    admit_peer(&net.to_string()).map_err(|_| {
        format!(
            "The flow's other end is {net}: netdiag never proposes opening 0.0.0.0/0 or ::/0. Ask again with the addresses that need access."
        )
    })
}

/// The last check of every provider's verdict before it leaves the crate: a fix whose commands
/// would open access to everyone (core's [`admit_fix`]) is withdrawn with its pre-state, rollback
/// and structural changes, and the guard's refusal becomes the reason there is no fix. The
/// generators refuse such peers first; this catches one that forgot.
pub(crate) fn admitted<C>((mut verdict, changes): (Verdict, Vec<C>)) -> (Verdict, Vec<C>) {
    let Some(refusal) = verdict.fix.as_ref().and_then(|f| admit_fix(f).err()) else {
        return (verdict, changes);
    };
    verdict.fix = None;
    verdict.prestate.clear();
    verdict.rollback.clear();
    verdict.no_fix_reason = Some(refusal.to_string());
    (verdict, Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_other_end_goes_through_the_core_guard() {
        for world in ["0.0.0.0/0", "::/0"] {
            let net: IpNet = world.parse().expect("literal");
            let why = refuse_any(&net).expect_err(world);
            assert!(
                why.contains("never proposes opening 0.0.0.0/0 or ::/0"),
                "{why}"
            );
        }
        assert!(refuse_any(&"10.0.0.0/8".parse().expect("literal")).is_ok());
    }

    #[test]
    fn a_world_open_fix_never_leaves_the_crate() {
        let mut v = Verdict::blocked(
            CloudLayer::Firewall,
            Cause::CloudNoAllowRule,
            Side::DestinationIngress,
            RuleRef {
                resource: "implied-deny-ingress".into(),
                rule: "deny all".into(),
            },
            "blocked",
        );
        v.fix = Some(Fix {
            description: "open it".into(),
            commands: vec![
                "gcloud compute firewall-rules create x --source-ranges=0.0.0.0/0".into(),
            ],
            ..Fix::default()
        });
        v.rollback = vec!["gcloud compute firewall-rules delete x".into()];
        v.prestate = vec!["gcloud compute firewall-rules list".into()];
        let (v, changes) = admitted((v, vec![1]));
        assert_eq!(v.fix, None);
        assert!(v.rollback.is_empty() && v.prestate.is_empty() && changes.is_empty());
        assert!(v.no_fix_reason.is_some_and(|r| r.contains("0.0.0.0/0")));

        let mut narrow = Verdict::allowed("ok");
        narrow.fix = Some(Fix {
            description: "narrow".into(),
            commands: vec!["az network nsg rule create --source-address-prefixes 10.0.0.5/32 --source-port-ranges '*'".into()],
            ..Fix::default()
        });
        let (kept, changes) = admitted((narrow.clone(), vec![1]));
        assert_eq!((kept, changes), (narrow, vec![1]));
    }
}
