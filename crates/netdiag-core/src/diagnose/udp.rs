//! The udp layer: does the service answer, or does an ICMP error say why not?
//!
//! UDP has no handshake, so silence proves little: many UDP services never answer a stray
//! datagram. The probe speaks the port's protocol where it is known (DNS on 53, NTP on 123) so a
//! healthy service does answer; only then is silence a failure. ICMP port unreachable, on the
//! other hand, is a definite answer: nothing listens.

use super::{errno_name, human, ms, Failure, FixContext, LayerFindings};
use crate::cause::Cause;
use crate::layer::Layer;
use crate::observe::{IcmpKind, UdpObservation, UdpOutcome};
use crate::report::{Row, RowVerdict, Warning};

/// Classifies UDP probes.
pub fn classify(probes: &[UdpObservation], host: &str) -> LayerFindings {
    let mut findings = LayerFindings::default();
    let mut failures: Vec<(usize, Cause, String, bool)> = Vec::new();
    for (i, p) in probes.iter().enumerate() {
        let took = human(p.elapsed);
        let addr = p.address;
        let (result, outcome): (String, Option<(Cause, String, bool)>) = match &p.outcome {
            UdpOutcome::Reply { bytes } => (format!("reply of {bytes} bytes in {took}"), None),
            UdpOutcome::Refused => (
                format!("ICMP port unreachable in {took}"),
                Some((Cause::UdpPortUnreachable, format!("{addr} answered with ICMP port unreachable: nothing listens on UDP port {}", addr.port()), true)),
            ),
            UdpOutcome::Icmp(icmp) => {
                let text = icmp.describe();
                let c = match icmp.kind() {
                    IcmpKind::PortUnreachable => (Cause::UdpPortUnreachable, format!("{addr}: {text}: nothing listens on UDP port {}", addr.port())),
                    IcmpKind::AdminProhibited => (Cause::UdpAdminProhibited, format!("{addr}: {text}: a firewall rule rejects the flow")),
                    IcmpKind::NetUnreachable => (Cause::NetUnreachable, format!("{addr}: {text}: that router has no route")),
                    _ => (Cause::HostUnreachable, format!("{addr}: {text}")),
                };
                (format!("{text} in {took}"), Some((c.0, c.1, true)))
            }
            UdpOutcome::NoResponse => {
                let text = if p.reply_expected {
                    format!("{addr}: no reply to a {} in {took} and no ICMP error: the datagram or the reply is dropped, or the service is down", p.payload)
                } else {
                    format!("{addr}: no reply in {took} and no ICMP error: the port is open or filtered; many UDP services stay silent to a probe they do not understand")
                };
                (format!("no reply in {took}"), Some((Cause::UdpNoResponse, text, p.reply_expected)))
            }
            UdpOutcome::Error { errno, message } => (
                format!("{} ({message})", errno_name(*errno)),
                Some((if *errno == 101 { Cause::NoRoute } else { Cause::HostUnreachable }, format!("{addr}: {} ({message})", errno_name(*errno)), true)),
            ),
        };
        let verdict = match &outcome {
            None => RowVerdict::Pass,
            Some((_, _, true)) => RowVerdict::Fail,
            Some((_, _, false)) => RowVerdict::Warn,
        };
        let mut evidence = vec![format!("sent: {}", p.payload)];
        if let Some((_, text, _)) = &outcome {
            evidence.push(text.clone());
        }
        findings.rows.push(
            Row::new(
                Layer::Udp,
                format!("udp {addr}"),
                result,
                verdict,
                outcome.as_ref().map(|o| o.0).unwrap_or(Cause::Ok),
            )
            .with_evidence(evidence)
            .with_duration_ms(ms(p.elapsed)),
        );
        if let Some((c, t, hard)) = outcome {
            failures.push((i, c, t, hard));
        }
    }
    let any_ok = probes
        .iter()
        .any(|p| matches!(p.outcome, UdpOutcome::Reply { .. }));
    let hard: Vec<&(usize, Cause, String, bool)> = failures.iter().filter(|f| f.3).collect();
    if any_ok || hard.is_empty() {
        for (i, c, t, _) in &failures {
            findings.warnings.push(Warning {
                cause: *c,
                message: t.clone(),
            });
            findings.rows[*i].verdict = RowVerdict::Warn;
        }
        return findings;
    }
    if let Some((i, cause, text, _)) = hard.first() {
        let p = &probes[*i];
        let offender = match &p.outcome {
            UdpOutcome::Icmp(icmp) => icmp.offender,
            _ => None,
        };
        let summary = match cause {
            Cause::UdpPortUnreachable => format!(
                "Nothing listens on UDP port {} at {}.",
                p.address.port(),
                p.address.ip()
            ),
            Cause::UdpNoResponse => format!("{} does not answer a {}.", p.address, p.payload),
            Cause::UdpAdminProhibited => format!("A firewall rejects UDP to {}.", p.address),
            other => other.meaning().to_string(),
        };
        findings.failure = Some(Failure {
            cause: *cause,
            summary,
            root_cause: format!("{text}."),
            context: FixContext {
                host: host.to_string(),
                port: Some(p.address.port()),
                protocol: "udp",
                address: Some(p.address.ip()),
                offender,
                ..FixContext::default()
            },
        });
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn probe(outcome: UdpOutcome, expected: bool) -> UdpObservation {
        UdpObservation {
            address: "10.0.2.2:53".parse().unwrap(),
            payload: "DNS query . NS".into(),
            reply_expected: expected,
            outcome,
            elapsed: Duration::from_millis(2),
        }
    }

    #[test]
    fn outcomes() {
        assert!(
            classify(&[probe(UdpOutcome::Reply { bytes: 40 }, true)], "h")
                .failure
                .is_none()
        );
        assert_eq!(
            classify(&[probe(UdpOutcome::Refused, true)], "h")
                .failure
                .map(|f| f.cause),
            Some(Cause::UdpPortUnreachable)
        );
        assert_eq!(
            classify(&[probe(UdpOutcome::NoResponse, true)], "h")
                .failure
                .map(|f| f.cause),
            Some(Cause::UdpNoResponse)
        );
        let silent = classify(&[probe(UdpOutcome::NoResponse, false)], "h");
        assert!(silent.failure.is_none());
        assert_eq!(silent.warnings[0].cause, Cause::UdpNoResponse);
    }
}
