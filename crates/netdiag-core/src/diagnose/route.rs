//! The route layer: does the kernel have a route to each address, and which source and interface?
//!
//! Facts come from RTM_GETROUTE (what `ip route get ADDR` prints). No route, or a route of type
//! unreachable/prohibit/blackhole, for every address is `no_route`; for some addresses only, a
//! warning. When netlink cannot be asked, the layer says so and lets the walk go on.

use super::{errno_name, Failure, FixContext, LayerFindings};
use crate::cause::Cause;
use crate::layer::Layer;
use crate::observe::{RouteKind, RouteObservation, RouteOutcome};
use crate::report::{Row, RowVerdict, Warning};
use std::net::IpAddr;

/// Describes a chosen route like `ip route get` does.
pub fn describe_route(outcome: &RouteOutcome) -> String {
    match outcome {
        RouteOutcome::Route {
            kind,
            gateway,
            interface,
            source,
            table,
        } => {
            let mut s = match kind {
                RouteKind::Unicast => String::new(),
                RouteKind::Local => "local (an address of this host) ".to_string(),
                RouteKind::Broadcast => "broadcast ".to_string(),
                RouteKind::Multicast => "multicast ".to_string(),
                RouteKind::Blackhole => "blackhole ".to_string(),
                RouteKind::Unreachable => "unreachable ".to_string(),
                RouteKind::Prohibit => "prohibit ".to_string(),
                RouteKind::Other(n) => format!("type {n} "),
            };
            match gateway {
                Some(g) => s.push_str(&format!("via {g} ")),
                None if *kind == RouteKind::Unicast => s.push_str("directly connected "),
                None => {}
            }
            if let Some(i) = interface {
                s.push_str(&format!("dev {i} "));
            }
            if let Some(src) = source {
                s.push_str(&format!("src {src} "));
            }
            if let Some(t) = table {
                if *t != 254 && *t != 255 {
                    s.push_str(&format!("table {t} "));
                }
            }
            s.trim_end().to_string()
        }
        RouteOutcome::NoRoute { errno, message } => {
            format!("no route: {} ({message})", errno_name(*errno))
        }
        RouteOutcome::Unavailable { reason } => format!("could not ask the kernel: {reason}"),
    }
}

fn unusable(outcome: &RouteOutcome) -> bool {
    match outcome {
        RouteOutcome::Route { kind, .. } => matches!(
            kind,
            RouteKind::Blackhole | RouteKind::Unreachable | RouteKind::Prohibit
        ),
        RouteOutcome::NoRoute { .. } => true,
        RouteOutcome::Unavailable { .. } => false,
    }
}

/// Classifies the routes. Returns the addresses that have a usable route (or could not be
/// checked), in order.
pub fn classify(observations: &[RouteObservation], host: &str) -> (Vec<IpAddr>, LayerFindings) {
    let mut findings = LayerFindings::default();
    let mut usable = Vec::new();
    for o in observations {
        let bad = unusable(&o.outcome);
        let verdict = if bad {
            RowVerdict::Fail
        } else if matches!(o.outcome, RouteOutcome::Unavailable { .. }) {
            RowVerdict::Warn
        } else {
            RowVerdict::Pass
        };
        let mut evidence = vec![format!(
            "ip route get {} -> {}",
            o.destination,
            describe_route(&o.outcome)
        )];
        if let RouteOutcome::Unavailable { .. } = o.outcome {
            evidence.push(
                "netlink route lookup unavailable; the walk goes on without route evidence"
                    .to_string(),
            );
        }
        findings.rows.push(
            Row::new(
                Layer::Route,
                format!("route to {}", o.destination),
                describe_route(&o.outcome),
                verdict,
                if bad { Cause::NoRoute } else { Cause::Ok },
            )
            .with_evidence(evidence),
        );
        if !bad {
            usable.push(o.destination);
        }
    }
    let bad: Vec<&RouteObservation> = observations
        .iter()
        .filter(|o| unusable(&o.outcome))
        .collect();
    if let Some(first) = bad.first() {
        if usable.is_empty() {
            let text = describe_route(&first.outcome);
            let all: Vec<String> = bad.iter().map(|o| o.destination.to_string()).collect();
            findings.failure = Some(Failure {
                cause: Cause::NoRoute,
                summary: format!("This host has no usable route to {} ({}).", host, all.join(", ")),
                root_cause: format!(
                    "The kernel's answer for {}: {text}. Packets are never sent, so nothing beyond this host is at fault yet.",
                    first.destination
                ),
                context: FixContext { host: host.to_string(), address: Some(first.destination), ..FixContext::default() },
            });
        } else {
            for o in &bad {
                findings.warnings.push(Warning {
                    cause: Cause::NoRoute,
                    message: format!(
                        "no usable route to {} ({}); other addresses of {host} are routable",
                        o.destination,
                        describe_route(&o.outcome)
                    ),
                });
                if let Some(row) = findings
                    .rows
                    .iter_mut()
                    .find(|r| r.test == format!("route to {}", o.destination))
                {
                    row.verdict = RowVerdict::Warn;
                }
            }
        }
    }
    (usable, findings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(dest: &str, gw: Option<&str>) -> RouteObservation {
        RouteObservation {
            destination: dest.parse().unwrap(),
            outcome: RouteOutcome::Route {
                kind: RouteKind::Unicast,
                gateway: gw.map(|g| g.parse().unwrap()),
                interface: Some("eth0".into()),
                source: Some("10.0.0.2".parse().unwrap()),
                table: Some(254),
            },
        }
    }

    fn none(dest: &str) -> RouteObservation {
        RouteObservation {
            destination: dest.parse().unwrap(),
            outcome: RouteOutcome::NoRoute {
                errno: 101,
                message: "Network is unreachable".into(),
            },
        }
    }

    #[test]
    fn routes() {
        let (usable, f) = classify(&[route("192.0.2.1", Some("10.0.0.1"))], "h");
        assert_eq!(usable.len(), 1);
        assert!(f.failure.is_none());
        assert_eq!(f.rows[0].result, "via 10.0.0.1 dev eth0 src 10.0.0.2");
        let (usable, f) = classify(&[none("192.0.2.1")], "h");
        assert!(usable.is_empty());
        assert_eq!(f.failure.map(|x| x.cause), Some(Cause::NoRoute));
        let (usable, f) = classify(&[none("2001:db8::1"), route("192.0.2.1", None)], "h");
        assert_eq!(usable.len(), 1);
        assert!(f.failure.is_none());
        assert_eq!(f.warnings.len(), 1);
    }

    #[test]
    fn blackhole_is_no_route() {
        let o = RouteObservation {
            destination: "192.0.2.1".parse().unwrap(),
            outcome: RouteOutcome::Route {
                kind: RouteKind::Blackhole,
                gateway: None,
                interface: None,
                source: None,
                table: None,
            },
        };
        let (_, f) = classify(&[o], "h");
        assert_eq!(f.failure.map(|x| x.cause), Some(Cause::NoRoute));
    }
}
