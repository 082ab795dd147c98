//! The mtu layer: do full-size packets cross the path, or does the path black-hole them?
//!
//! A smaller path MTU is healthy when routers say so (ICMP fragmentation needed / packet too
//! big): the kernel learns it and adapts. It is a fault only when large packets vanish without
//! that ICMP while small ones pass, which is what a tunnel plus an over-eager firewall does.
//! Never report a black hole on a path where frag-needed flows.

use super::{Failure, FixContext, LayerFindings};
use crate::cause::Cause;
use crate::layer::Layer;
use crate::observe::{LiveSegment, MtuObservation, MtuProbeResult};
use crate::report::{Row, RowVerdict, Warning};

/// The usual suspect for a path MTU, by size.
pub fn likely_encapsulation(mtu: u32) -> &'static str {
    match mtu {
        1500.. => "no encapsulation",
        1492..=1499 => "PPPoE (1492)",
        1480..=1491 => "GRE or IP-in-IP (1476-1480)",
        1450..=1479 => "VXLAN/Geneve overlay (1450)",
        1436..=1449 => "IPsec ESP (about 1436-1446)",
        1420..=1435 => "WireGuard (1420)",
        1280..=1419 => "nested tunnels or a very small link (IPv6 minimum is 1280)",
        _ => "a very small link MTU",
    }
}

/// What the full-size segment on the live session showed, as evidence lines.
fn live_evidence(seg: &LiveSegment) -> Vec<String> {
    let mut ev = vec![format!(
        "sent on the session: {}, {} bytes in a {}-byte segment{}; {}",
        seg.carried,
        seg.bytes,
        seg.size,
        if seg.full { " (full size)" } else { "" },
        if seg.acked {
            "acknowledged (TCP_INFO)".to_string()
        } else {
            format!(
                "not acknowledged after {} retransmissions (TCP_INFO)",
                seg.retransmits
            )
        }
    )];
    if !seg.full {
        ev.push(format!(
            "not a full-size segment: the path's MSS is larger than a request head may safely \
             be, so sizes above {} bytes were not tried on the session",
            seg.size
        ));
    }
    if seg.acked && seg.retransmits > 0 {
        ev.push(format!(
            "{} retransmissions on the connection while it was outstanding",
            seg.retransmits
        ));
    }
    if seg.pmtu_after != 0 && seg.pmtu_after < seg.pmtu_before {
        ev.push(format!(
            "the kernel learned PMTU {} (from {}) from an ICMP fragmentation-needed while sending it",
            seg.pmtu_after, seg.pmtu_before
        ));
    }
    ev
}

/// IPv6's minimum link MTU (RFC 8200 §5), where the probe's search for IPv6 stops.
const IPV6_MIN_MTU: u32 = 1280;

/// Classifies the path-MTU probes.
pub fn classify(obs: &MtuObservation) -> LayerFindings {
    let mut f = LayerFindings::default();
    let addr = obs.address;
    let test = format!("path MTU to {addr} ({})", obs.method);
    let live: Vec<String> = obs.live_segment.iter().flat_map(live_evidence).collect();
    if let Some(why) = &obs.unavailable {
        f.rows.push(
            Row::new(
                Layer::Mtu,
                test,
                format!("not measured: {why}"),
                RowVerdict::Warn,
                Cause::Ok,
            )
            .with_evidence(live),
        );
        return f;
    }
    if obs.probes.is_empty() {
        return passive(obs, test);
    }
    let mut ev: Vec<String> = obs
        .probes
        .iter()
        .map(|p| match &p.result {
            MtuProbeResult::Passed => format!("{} bytes: passed", p.size),
            MtuProbeResult::TooBig { mtu, from } => format!(
                "{} bytes: too big{}{}",
                p.size,
                mtu.map(|m| format!(", MTU {m}")).unwrap_or_default(),
                from.map(|r| format!(" (ICMP from {r})"))
                    .unwrap_or_default()
            ),
            MtuProbeResult::Lost => format!("{} bytes: lost, no ICMP", p.size),
        })
        .collect();
    ev.extend(live);
    if let Some(m) = obs.interface_mtu {
        ev.push(format!("interface MTU {m}"));
    }
    if let Some(m) = obs.kernel_path_mtu {
        ev.push(format!("kernel path MTU {m}"));
    }
    let largest_pass = obs
        .probes
        .iter()
        .filter(|p| p.result == MtuProbeResult::Passed)
        .map(|p| p.size)
        .max();
    let icmp_seen = obs
        .probes
        .iter()
        .any(|p| matches!(p.result, MtuProbeResult::TooBig { from: Some(_), .. }));
    let lost_above = obs
        .probes
        .iter()
        .filter(|p| p.result == MtuProbeResult::Lost && largest_pass.is_some_and(|l| p.size > l))
        .map(|p| p.size)
        .min();
    // The session's own full-size segment counts as a lost size when it went unacknowledged
    // and no ICMP lowered the path MTU: new connections may not reach that size (the server
    // learned a smaller path MTU since and announces a smaller MSS), the session did.
    let live_lost = obs
        .live_segment
        .as_ref()
        .filter(|s| !s.acked && s.retransmits > 0 && s.pmtu_after >= s.pmtu_before)
        .map(|s| s.size)
        .filter(|&size| largest_pass.is_some_and(|l| size > l));
    let lost_above = match (lost_above, live_lost) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    match (largest_pass, lost_above) {
        (Some(ok), Some(lost)) if !icmp_seen => {
            let encaps = likely_encapsulation(ok);
            if addr.ip().to_canonical().is_ipv6() && ok <= IPV6_MIN_MTU {
                // The search stops at the IPv6 minimum: a path that carries only that much is
                // legal, and nothing below it needs to be tried.
                ev.push(format!(
                    "{IPV6_MIN_MTU} bytes is IPv6's minimum link MTU (RFC 8200), the smallest size \
                     searched: every IPv6 path must carry it"
                ));
            }
            f.rows.push(
                Row::new(
                    Layer::Mtu,
                    test,
                    format!("black hole above {ok} bytes"),
                    RowVerdict::Fail,
                    Cause::MtuBlackhole,
                )
                .with_evidence(ev),
            );
            f.failure = Some(Failure {
                cause: Cause::MtuBlackhole,
                summary: format!("Packets larger than {ok} bytes to {addr} vanish: small requests work, large ones hang."),
                root_cause: format!("{ok}-byte packets pass, {lost}-byte packets are lost, and no router sends ICMP 'fragmentation needed'; the path MTU is about {ok} (likely {encaps}) and the ICMP that would tell the sender is dropped."),
                context: FixContext { address: Some(addr.ip()), port: Some(addr.port()), mtu: Some(ok), ..FixContext::default() },
            });
        }
        (Some(ok), _) => {
            let reduced = obs.interface_mtu.is_some_and(|m| ok < m) || icmp_seen;
            if reduced {
                f.warnings.push(Warning {
                    cause: Cause::MtuPathReduced,
                    message: format!(
                        "path MTU to {addr} is {ok} ({}); routers report it, so the kernel adapts",
                        likely_encapsulation(ok)
                    ),
                });
            }
            f.rows.push(
                Row::new(
                    Layer::Mtu,
                    test,
                    format!("{ok}-byte packets cross the path"),
                    if reduced {
                        RowVerdict::Warn
                    } else {
                        RowVerdict::Pass
                    },
                    Cause::Ok,
                )
                .with_evidence(ev),
            );
        }
        (None, _) => {
            f.rows.push(
                Row::new(
                    Layer::Mtu,
                    test,
                    "no probe size was answered".to_string(),
                    RowVerdict::Warn,
                    Cause::Ok,
                )
                .with_evidence(ev),
            );
        }
    }
    f
}

/// No probe was sent: report what the kernel learned on the live connection. A path MTU below
/// the interface's means routers said so (ICMP frag-needed reached us): healthy, noted.
fn passive(obs: &MtuObservation, test: String) -> LayerFindings {
    let mut f = LayerFindings::default();
    let mut ev = vec![obs.method.clone()];
    ev.extend(obs.live_segment.iter().flat_map(live_evidence));
    if let Some(m) = obs.interface_mtu {
        ev.push(format!("interface MTU {m}"));
    }
    let (result, verdict) = match (obs.kernel_path_mtu, obs.interface_mtu) {
        // IP_MTU is capped at 65535 while loopback's MTU is 65536: not a reduction.
        (Some(path), Some(iface)) if path < iface.min(65535) => {
            f.warnings.push(Warning {
                cause: Cause::MtuPathReduced,
                message: format!("path MTU to {} is {path} < interface MTU {iface} ({}); the kernel learned it from ICMP and adapts", obs.address, likely_encapsulation(path)),
            });
            (
                format!(
                    "path MTU {path} (interface {iface}): reduced on the path, learned from ICMP"
                ),
                RowVerdict::Warn,
            )
        }
        (Some(path), _) => (
            format!("path MTU {path}: full-size packets crossed the session"),
            RowVerdict::Pass,
        ),
        (None, _) => (
            "path MTU not known for this session".to_string(),
            RowVerdict::Pass,
        ),
    };
    let (result, verdict) = match &obs.live_segment {
        Some(seg) if !seg.acked => (
            format!(
                "the {}-byte segment sent on the session was not acknowledged",
                seg.size
            ),
            RowVerdict::Warn,
        ),
        Some(seg) if seg.pmtu_after != 0 && seg.pmtu_after < seg.pmtu_before => {
            if f.warnings.is_empty() {
                f.warnings.push(Warning {
                    cause: Cause::MtuPathReduced,
                    message: format!(
                        "path MTU to {} is {} ({}); the kernel learned it from ICMP and adapts",
                        obs.address,
                        seg.pmtu_after,
                        likely_encapsulation(seg.pmtu_after)
                    ),
                });
            }
            (
                format!(
                    "the {}-byte segment sent on the session drew an ICMP fragmentation-needed; \
                 the kernel learned PMTU {}, resent it smaller and it was acknowledged",
                    seg.size, seg.pmtu_after
                ),
                RowVerdict::Warn,
            )
        }
        Some(seg) => {
            let what = if seg.full { "full-size " } else { "" };
            (
                format!(
                    "a {what}{}-byte segment crossed the session and was acknowledged; {result}",
                    seg.size
                ),
                verdict,
            )
        }
        None => (result, verdict),
    };
    f.rows
        .push(Row::new(Layer::Mtu, test, result, verdict, Cause::Ok).with_evidence(ev));
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::MtuProbe;

    fn obs(probes: Vec<(u32, MtuProbeResult)>) -> MtuObservation {
        MtuObservation {
            address: "192.0.2.1:443".parse().unwrap(),
            method: "test".into(),
            interface_mtu: Some(1500),
            kernel_path_mtu: None,
            probes: probes
                .into_iter()
                .map(|(size, result)| MtuProbe { size, result })
                .collect(),
            unavailable: None,
            live_segment: None,
        }
    }

    #[test]
    fn black_hole_vs_reduced() {
        let hole = classify(&obs(vec![
            (1500, MtuProbeResult::Lost),
            (1400, MtuProbeResult::Passed),
            (1450, MtuProbeResult::Lost),
            (1420, MtuProbeResult::Passed),
        ]));
        assert_eq!(
            hole.failure.as_ref().map(|f| f.cause),
            Some(Cause::MtuBlackhole)
        );
        assert_eq!(hole.failure.and_then(|f| f.context.mtu), Some(1420));
        let reduced = classify(&obs(vec![
            (
                1500,
                MtuProbeResult::TooBig {
                    mtu: Some(1400),
                    from: Some("10.0.0.1".parse().unwrap()),
                },
            ),
            (1400, MtuProbeResult::Passed),
        ]));
        assert!(reduced.failure.is_none());
        assert_eq!(reduced.warnings[0].cause, Cause::MtuPathReduced);
        let healthy = classify(&obs(vec![(1500, MtuProbeResult::Passed)]));
        assert!(healthy.failure.is_none() && healthy.warnings.is_empty());
    }

    #[test]
    fn ipv6_black_hole_at_the_minimum_names_1280_and_says_it_is_the_floor() {
        let mut o = obs(vec![
            (1500, MtuProbeResult::Lost),
            (1280, MtuProbeResult::Passed),
            (1390, MtuProbeResult::Lost),
            (1283, MtuProbeResult::Lost),
        ]);
        o.address = "[2001:db8::1]:443".parse().unwrap();
        let hole = classify(&o);
        let failure = hole.failure.as_ref().unwrap();
        assert_eq!(failure.cause, Cause::MtuBlackhole);
        assert_eq!(failure.context.mtu, Some(1280));
        assert!(hole.rows[0].result.contains("black hole above 1280"));
        assert!(
            hole.rows[0]
                .evidence
                .iter()
                .any(|e| e.contains("IPv6's minimum link MTU")),
            "{:?}",
            hole.rows[0].evidence
        );
        // IPv4 at the same sizes: no IPv6 note.
        o.address = "192.0.2.1:443".parse().unwrap();
        let v4 = classify(&o);
        assert!(!v4.rows[0].evidence.iter().any(|e| e.contains("IPv6")));
    }

    fn segment(acked: bool, pmtu_after: u32) -> LiveSegment {
        LiveSegment {
            size: 1500,
            full: true,
            carried: "the HTTP request, padded".into(),
            bytes: 1448,
            acked,
            retransmits: u32::from(!acked) * 2,
            pmtu_before: 1500,
            pmtu_after,
        }
    }

    #[test]
    fn live_segment_acknowledged_is_a_pass_with_what_was_sent() {
        let mut o = obs(vec![]);
        o.kernel_path_mtu = Some(1500);
        o.live_segment = Some(segment(true, 1500));
        let f = classify(&o);
        assert!(f.failure.is_none() && f.warnings.is_empty(), "{f:?}");
        let row = &f.rows[0];
        assert_eq!(row.verdict, RowVerdict::Pass);
        assert!(
            row.result.contains("full-size 1500-byte segment"),
            "{row:?}"
        );
        assert!(
            row.evidence.iter().any(|e| e.contains("1448 bytes")),
            "{row:?}"
        );
    }

    #[test]
    fn live_segment_that_taught_the_kernel_a_smaller_pmtu_is_healthy_and_noted() {
        let mut o = obs(vec![]);
        o.kernel_path_mtu = Some(1400);
        o.live_segment = Some(segment(true, 1400));
        let f = classify(&o);
        assert!(f.failure.is_none());
        assert_eq!(f.warnings[0].cause, Cause::MtuPathReduced);
        assert!(
            f.rows[0]
                .evidence
                .iter()
                .any(|e| e.contains("the kernel learned PMTU 1400")),
            "{:?}",
            f.rows[0]
        );
    }

    #[test]
    fn a_lost_live_segment_above_what_new_connections_can_send_is_a_black_hole() {
        // The server learned a smaller path MTU after the session opened and announces MSS
        // 1360 to the probe's connections: they pass at 1400 and cannot try more.
        let mut o = obs(vec![(1400, MtuProbeResult::Passed)]);
        o.live_segment = Some(segment(false, 1500));
        let f = classify(&o);
        assert_eq!(
            f.failure.as_ref().map(|f| (f.cause, f.context.mtu)),
            Some((Cause::MtuBlackhole, Some(1400)))
        );
        // Where ICMP taught the kernel (the segment shrank), it is not a black hole.
        o.live_segment = Some(segment(false, 1400));
        assert!(classify(&o).failure.is_none());
        // A search that passed the live size itself says the loss was something else.
        let mut o = obs(vec![(1500, MtuProbeResult::Passed)]);
        o.live_segment = Some(segment(false, 1500));
        assert!(classify(&o).failure.is_none());
    }

    #[test]
    fn live_segment_not_acknowledged_warns_and_shows_in_an_active_search() {
        let mut o = obs(vec![]);
        o.live_segment = Some(segment(false, 1500));
        let f = classify(&o);
        assert_eq!(f.rows[0].verdict, RowVerdict::Warn);
        assert!(
            f.rows[0].result.contains("not acknowledged"),
            "{:?}",
            f.rows[0]
        );
        let mut o = obs(vec![
            (1500, MtuProbeResult::Lost),
            (1400, MtuProbeResult::Passed),
        ]);
        o.live_segment = Some(segment(false, 1500));
        let f = classify(&o);
        assert_eq!(f.failure.map(|f| f.cause), Some(Cause::MtuBlackhole));
        assert!(
            f.rows[0]
                .evidence
                .iter()
                .any(|e| e.contains("not acknowledged after 2 retransmissions")),
            "{:?}",
            f.rows[0]
        );
    }
}
