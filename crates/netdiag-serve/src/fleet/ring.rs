//! Which peers a member probes: the K members after it on a hash ring (members ordered by the
//! SHA-256 of their node name), as kubenurse does. Every member is then probed by exactly K
//! others, the choice is the same on every member without coordination, and a node joining or
//! leaving changes only its neighbours' choices, so series churn stays small.

use super::members::Member;

/// The ring position of a node.
fn position(node: &str) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, node.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// The K members after `me` on the ring (never `me`; fewer when there are fewer others).
/// `me` need not be listed (a member whose own pod is not Ready yet still probes).
pub fn peers<'a>(me: &str, members: &'a [Member], k: usize) -> Vec<&'a Member> {
    let mut ring: Vec<([u8; 32], &Member)> = members
        .iter()
        .filter(|m| m.node != me)
        .map(|m| (position(&m.node), m))
        .collect();
    ring.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.node.cmp(&b.1.node)));
    let mine = position(me);
    let start = ring.partition_point(|(p, _)| *p <= mine);
    (0..ring.len().min(k))
        .map(|i| ring[(start + i) % ring.len()].1)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn fleet(n: usize) -> Vec<Member> {
        (0..n)
            .map(|i| Member {
                node: format!("node-{i}"),
                pod: format!("netdiag-{i}"),
                ip: std::net::IpAddr::from([10, 0, (i / 250) as u8, (i % 250) as u8 + 1]),
            })
            .collect()
    }

    #[test]
    fn every_member_is_probed_by_exactly_k_others() {
        for (n, k) in [(1, 10), (2, 10), (5, 10), (11, 10), (50, 10), (200, 3)] {
            let members = fleet(n);
            let mut incoming: BTreeMap<&str, usize> = BTreeMap::new();
            for m in &members {
                let chosen = peers(&m.node, &members, k);
                assert_eq!(chosen.len(), k.min(n - 1), "n={n} k={k}");
                assert!(chosen.iter().all(|p| p.node != m.node));
                let mut names: Vec<&str> = chosen.iter().map(|p| p.node.as_str()).collect();
                names.dedup();
                assert_eq!(names.len(), chosen.len(), "no peer twice");
                for p in chosen {
                    *incoming.entry(p.node.as_str()).or_default() += 1;
                }
            }
            for m in &members {
                assert_eq!(
                    incoming.get(m.node.as_str()).copied().unwrap_or(0),
                    k.min(n - 1)
                );
            }
        }
    }

    #[test]
    fn the_choice_does_not_depend_on_list_order_and_churn_is_local() {
        let members = fleet(40);
        let mut reversed = members.clone();
        reversed.reverse();
        for m in &members {
            assert_eq!(peers(&m.node, &members, 10), peers(&m.node, &reversed, 10));
        }
        // One node leaves: only members that had it as a peer change their choice.
        let gone = "node-17";
        let fewer: Vec<Member> = members.iter().filter(|m| m.node != gone).cloned().collect();
        let mut changed = 0;
        for m in &fewer {
            let before: Vec<&str> = peers(&m.node, &members, 10)
                .iter()
                .map(|p| p.node.as_str())
                .collect();
            let after: Vec<&str> = peers(&m.node, &fewer, 10)
                .iter()
                .map(|p| p.node.as_str())
                .collect();
            if before != after {
                assert!(
                    before.contains(&gone),
                    "{} changed without losing {gone}",
                    m.node
                );
                changed += 1;
            }
        }
        assert_eq!(changed, 10);
    }

    #[test]
    fn an_unlisted_member_still_gets_k_peers() {
        let members = fleet(20);
        assert_eq!(peers("node-99", &members, 10).len(), 10);
    }
}
