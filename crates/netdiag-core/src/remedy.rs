//! The remedy model every domain speaks, the one "narrower fix first" rule, and the one guard
//! that every fix generator goes through.
//!
//! A remedy is what a person should do about a failure: the fix (a description, commands to
//! paste, complete manifests to apply), the commands that capture the state before it, how to
//! undo it, and a runbook entry. The live walk, the Kubernetes check and the cloud check all
//! build one; when a narrower, evidence-backed fix is known (this host's blocking rule, the
//! cloud rule that blocks the failed flow, the cluster DNS hint) it goes first through
//! [`Remedy::put_first`], so the reader sees the most specific step at the top.
//!
//! The guard ([`admit_peer`], [`admit_text`], [`Remedy::admitted`]) refuses any fix that opens
//! access to the whole world (`0.0.0.0/0`, `::/0`, `*`, `Any`, `Internet`, an `ipBlock` of
//! everything): netdiag never proposes one. Generators that compute a peer range call
//! [`admit_peer`] and explain the refusal instead of printing the fix; every finished fix is
//! checked again with [`admit_text`], so a generator that forgot the first check still cannot
//! print a world-open rule. This module must never relax that rule for any input.

use crate::report::Fix;
use std::net::IpAddr;

/// What a person should do about a failure.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Remedy {
    /// The fix.
    pub fix: Fix,
    /// Commands that capture the state before the change.
    pub prestate: Vec<String>,
    /// How to undo the fix.
    pub rollback: Vec<String>,
    /// Markdown runbook entry.
    pub runbook: String,
}

/// Whether the generic remedy's rollback still applies once a narrower fix is put first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenericRollback {
    /// Keep it after the narrower fix's rollback: the generic commands remain steps to take.
    Keep,
    /// Drop it: the narrower fix is the exact change (this host's own rule, known), the generic
    /// commands become background advice, and the rollback must undo exactly what was done.
    Drop,
}

impl Remedy {
    /// Puts a narrower, evidence-backed remedy in front of this one: its description before ours,
    /// its commands, pre-state and rollback first. The runbook stays the cause's own.
    pub fn put_first(&mut self, narrower: Remedy, generic_rollback: GenericRollback) {
        if !narrower.fix.description.is_empty() {
            self.fix.description = format!("{} {}", narrower.fix.description, self.fix.description);
        }
        self.fix.commands = prepend(
            narrower.fix.commands,
            std::mem::take(&mut self.fix.commands),
        );
        self.fix.manifests = prepend(
            narrower.fix.manifests,
            std::mem::take(&mut self.fix.manifests),
        );
        self.prestate = prepend(narrower.prestate, std::mem::take(&mut self.prestate));
        self.rollback = match generic_rollback {
            GenericRollback::Keep => prepend(narrower.rollback, std::mem::take(&mut self.rollback)),
            GenericRollback::Drop => narrower.rollback,
        };
    }

    /// This remedy if its fix opens nothing to the world, else the guard's refusal.
    pub fn admitted(self) -> Result<Remedy, OpensTheWorld> {
        admit_fix(&self.fix)?;
        Ok(self)
    }

    /// This remedy if the guard admits it; otherwise the same remedy with its fix withdrawn
    /// (no commands, manifests, pre-state or rollback) and the refusal said instead. What every
    /// verdict passes through last.
    pub fn guarded(self) -> Remedy {
        match admit_fix(&self.fix) {
            Ok(()) => self,
            Err(refusal) => Remedy {
                fix: Fix {
                    description: format!("No fix is proposed: {refusal}."),
                    ..Fix::default()
                },
                prestate: Vec::new(),
                rollback: Vec::new(),
                runbook: self.runbook,
            },
        }
    }
}

fn prepend<T>(first: Vec<T>, mut rest: Vec<T>) -> Vec<T> {
    if first.is_empty() {
        return rest;
    }
    let mut out = first;
    out.append(&mut rest);
    out
}

/// The guard's refusal: a fix would open access to everyone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("netdiag never proposes opening {what} (everyone); name the addresses that need access")]
pub struct OpensTheWorld {
    /// The peer or text that would open the world, as written.
    pub what: String,
}

/// Checks the peer a fix would allow (a CIDR, an address, a service tag, a wildcard).
///
/// Refuses a prefix of length 0 in either family (`0.0.0.0/0`, `::/0`, `0/0`), the unspecified
/// address alone (`0.0.0.0`, `::`), and the wildcards and tags that mean "anyone": `*`, `any`,
/// `all`, `internet`, `anywhere` (case-insensitive).
pub fn admit_peer(peer: &str) -> Result<(), OpensTheWorld> {
    if is_world(peer.trim()) {
        Err(OpensTheWorld {
            what: peer.trim().to_string(),
        })
    } else {
        Ok(())
    }
}

/// Checks the text of a finished fix (a command line or a serialized manifest): refuses any
/// token that is a CIDR of everything (`0.0.0.0/0`, `::/0`). Wildcards are not refused here,
/// because commands use `*` legitimately (Azure's "any source port"); generators check the peer
/// itself with [`admit_peer`].
pub fn admit_text(text: &str) -> Result<(), OpensTheWorld> {
    for token in text.split(|c: char| {
        c.is_whitespace()
            || matches!(
                c,
                ',' | '=' | '"' | '\'' | '[' | ']' | '{' | '}' | '(' | ')'
            )
    }) {
        let token = token.trim_end_matches(['.', ';']);
        if token.contains('/') && is_world(token) {
            return Err(OpensTheWorld {
                what: token.to_string(),
            });
        }
    }
    Ok(())
}

/// Checks every command and manifest of a fix with [`admit_text`].
pub fn admit_fix(fix: &Fix) -> Result<(), OpensTheWorld> {
    for command in &fix.commands {
        admit_text(command)?;
    }
    for manifest in &fix.manifests {
        admit_text(&manifest.to_string())?;
    }
    Ok(())
}

fn is_world(peer: &str) -> bool {
    let lower = peer.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "*" | "any" | "all" | "internet" | "anywhere" | "0.0.0.0" | "::" | "0/0"
    ) {
        return true;
    }
    match lower.split_once('/') {
        Some((address, len)) => {
            let zero_len = len.trim().parse::<u8>() == Ok(0);
            zero_len && (address.parse::<IpAddr>().is_ok() || address == "0")
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_world_is_refused_in_every_spelling() {
        for peer in [
            "0.0.0.0/0",
            "::/0",
            "0/0",
            "*",
            "Any",
            "ANY",
            "Internet",
            "all",
            "0.0.0.0",
            "::",
            " 0.0.0.0/0 ",
            "10.0.0.0/0",
            "2001:db8::/0",
        ] {
            assert!(admit_peer(peer).is_err(), "{peer}");
        }
        for peer in [
            "10.0.1.2/32",
            "192.0.2.0/24",
            "2001:db8::1/128",
            "VirtualNetwork",
            "web",
        ] {
            assert!(admit_peer(peer).is_ok(), "{peer}");
        }
    }

    #[test]
    fn finished_fix_text_with_a_world_cidr_is_refused() {
        for text in [
            "aws ec2 authorize-security-group-ingress --ip-permissions IpProtocol=tcp,FromPort=22,ToPort=22,IpRanges=[{CidrIp=0.0.0.0/0}]",
            "gcloud compute firewall-rules create x --source-ranges=0.0.0.0/0",
            "iptables -I INPUT -s ::/0 -j ACCEPT",
            r#"{"ipBlock":{"cidr":"0.0.0.0/0"}}"#,
        ] {
            assert!(admit_text(text).is_err(), "{text}");
        }
        assert!(admit_text("az network nsg rule create --source-port-ranges '*' --source-address-prefixes 10.0.1.4/32").is_ok());
        assert!(admit_text("iptables -I INPUT -s 10.0.1.2/32 -d 10.0.2.2/32 -j ACCEPT").is_ok());
    }

    #[test]
    fn a_world_opening_remedy_is_withdrawn_with_the_reason() {
        let open = Remedy {
            fix: Fix {
                description: "open it".into(),
                commands: vec!["iptables -I INPUT -s 0.0.0.0/0 -j ACCEPT".into()],
                ..Fix::default()
            },
            prestate: vec!["iptables-save".into()],
            rollback: vec!["iptables -D INPUT -s 0.0.0.0/0 -j ACCEPT".into()],
            runbook: "### r".into(),
        };
        let guarded = open.guarded();
        assert!(guarded.fix.commands.is_empty() && guarded.rollback.is_empty());
        assert!(guarded
            .fix
            .description
            .contains("never proposes opening 0.0.0.0/0"));
        let scoped = Remedy {
            fix: Fix {
                description: "scoped".into(),
                commands: vec!["iptables -I INPUT -s 10.0.0.1/32 -j ACCEPT".into()],
                ..Fix::default()
            },
            ..Remedy::default()
        };
        assert_eq!(scoped.clone().guarded(), scoped);
    }

    #[test]
    fn narrower_fix_goes_first() {
        let mut generic = Remedy {
            fix: Fix {
                description: "generic.".into(),
                commands: vec!["g".into()],
                ..Fix::default()
            },
            prestate: vec!["gp".into()],
            rollback: vec!["gr".into()],
            runbook: "### r".into(),
        };
        let narrower = Remedy {
            fix: Fix {
                description: "narrow.".into(),
                commands: vec!["n".into()],
                ..Fix::default()
            },
            prestate: vec!["np".into()],
            rollback: vec!["nr".into()],
            runbook: String::new(),
        };
        let mut dropped = generic.clone();
        generic.put_first(narrower.clone(), GenericRollback::Keep);
        assert_eq!(generic.fix.description, "narrow. generic.");
        assert_eq!(generic.fix.commands, ["n", "g"]);
        assert_eq!(generic.prestate, ["np", "gp"]);
        assert_eq!(generic.rollback, ["nr", "gr"]);
        assert_eq!(generic.runbook, "### r");
        dropped.put_first(narrower, GenericRollback::Drop);
        assert_eq!(dropped.rollback, ["nr"]);
    }
}
