//! Review findings on the GCP engine, each on a small, realistic `gcloud … --format=json` export.
#![allow(clippy::unwrap_used, missing_docs)]

use netdiag_cloud::doc::Document;
use netdiag_cloud::flow::Query;
use netdiag_cloud::gcp::{self, Estate};
use netdiag_cloud::verdict::{Cause, Evaluation};

const INSTANCES: &str = r#"[
  {
    "kind": "compute#instance",
    "id": "7001",
    "name": "app-1",
    "machineType": "https://www.googleapis.com/compute/v1/projects/p/zones/europe-west1-b/machineTypes/e2-small",
    "zone": "https://www.googleapis.com/compute/v1/projects/p/zones/europe-west1-b",
    "tags": {"items": ["app"], "fingerprint": "x"},
    "serviceAccounts": [{"email": "app@p.iam.gserviceaccount.com", "scopes": []}],
    "networkInterfaces": [{
      "kind": "compute#networkInterface",
      "name": "nic0",
      "network": "https://www.googleapis.com/compute/v1/projects/p/global/networks/prod",
      "subnetwork": "https://www.googleapis.com/compute/v1/projects/p/regions/europe-west1/subnetworks/app",
      "networkIP": "10.0.1.10",
      "stackType": "IPV4_IPV6",
      "ipv6Address": "2600:1900:4010:1:0:a::",
      "accessConfigs": [{"kind": "compute#accessConfig", "name": "External NAT", "natIP": "34.77.1.10", "type": "ONE_TO_ONE_NAT", "networkTier": "PREMIUM"}],
      "aliasIpRanges": [{"ipCidrRange": "10.4.0.0/24", "subnetworkRangeName": "pods"}]
    }]
  },
  {
    "kind": "compute#instance",
    "id": "7002",
    "name": "client-1",
    "machineType": "https://www.googleapis.com/compute/v1/projects/p/zones/europe-west1-b/machineTypes/e2-small",
    "zone": "https://www.googleapis.com/compute/v1/projects/p/zones/europe-west1-b",
    "tags": {"items": ["client"], "fingerprint": "y"},
    "serviceAccounts": [{"email": "client@p.iam.gserviceaccount.com", "scopes": []}],
    "networkInterfaces": [{
      "kind": "compute#networkInterface",
      "name": "nic0",
      "network": "https://www.googleapis.com/compute/v1/projects/p/global/networks/prod",
      "subnetwork": "https://www.googleapis.com/compute/v1/projects/p/regions/europe-west1/subnetworks/app",
      "networkIP": "10.0.1.20",
      "stackType": "IPV4_IPV6",
      "ipv6Address": "2600:1900:4010:1:0:b::"
    }]
  }
]"#;

const SUBNETS: &str = r#"[
  {
    "kind": "compute#subnetwork",
    "name": "app",
    "network": "https://www.googleapis.com/compute/v1/projects/p/global/networks/prod",
    "ipCidrRange": "10.0.1.0/24",
    "secondaryIpRanges": [{"rangeName": "pods", "ipCidrRange": "10.4.0.0/14"}],
    "ipv6CidrRange": "2600:1900:4010:1::/64",
    "region": "https://www.googleapis.com/compute/v1/projects/p/regions/europe-west1"
  }
]"#;

const NETWORKS: &str = r#"[
  {"kind": "compute#network", "name": "prod", "autoCreateSubnetworks": false,
   "networkFirewallPolicyEnforcementOrder": "AFTER_CLASSIC_FIREWALL"}
]"#;

fn load(extra: &[(&str, &str)]) -> Estate {
    let mut docs = vec![
        Document::from_str("instances.json", INSTANCES).unwrap(),
        Document::from_str("subnets.json", SUBNETS).unwrap(),
        Document::from_str("networks.json", NETWORKS).unwrap(),
    ];
    for (name, text) in extra {
        docs.push(Document::from_str(name, text).unwrap());
    }
    gcp::load(&docs).unwrap()
}

fn check(e: &Estate, src: &str, dst: &str, port: &str, proto: &str) -> Evaluation {
    e.evaluate(&Query::parse(src, dst, port, proto).unwrap())
        .unwrap()
}

/// Only the default-network style "allow internal" for tcp; nothing for the pod range.
const RULES_TCP_ONLY: &str = r#"[
  {
    "kind": "compute#firewall",
    "name": "allow-client-to-app-8080",
    "network": "https://www.googleapis.com/compute/v1/projects/p/global/networks/prod",
    "direction": "INGRESS",
    "priority": 1000,
    "sourceTags": ["client"],
    "targetTags": ["app"],
    "allowed": [{"IPProtocol": "tcp", "ports": ["8080"]}],
    "disabled": false,
    "logConfig": {"enable": false}
  }
]"#;

/// A private destination inside the network's subnets that is no exported instance (here: an
/// address of another instance's pod alias range, or any instance the export lacks) has
/// ingress rules too: the answer is not "allowed" on the egress leg alone.
#[test]
fn private_destination_inside_the_vpc_that_is_no_exported_instance_is_not_allowed_blindly() {
    let e = load(&[("fw.json", RULES_TCP_ONLY)]);
    let ev = check(&e, "client-1", "10.0.1.99", "5432", "tcp");
    assert!(!ev.verdict.allowed, "{:?}", ev.verdict);
    assert_eq!(ev.verdict.cause, Cause::CloudUnknown, "{:?}", ev.verdict);
    assert!(
        ev.verdict
            .unknown
            .iter()
            .any(|m| m.export.contains("gcloud compute instances list")),
        "{:?}",
        ev.verdict.unknown
    );
}

/// An alias IP (`networkInterfaces[].aliasIpRanges`) belongs to the instance: its ingress rules
/// apply, so port 5432 to a pod on app-1 is denied by implied-deny-ingress.
#[test]
fn alias_ip_destination_is_the_instance_and_its_ingress_rules_apply() {
    let e = load(&[("fw.json", RULES_TCP_ONLY)]);
    let ev = check(&e, "client-1", "10.4.0.7", "5432", "tcp");
    assert!(!ev.verdict.allowed, "{:?}", ev.verdict);
    assert_eq!(
        ev.verdict.cause,
        Cause::CloudNoAllowRule,
        "{:?}",
        ev.verdict
    );
    assert_eq!(
        ev.verdict.blocking.as_ref().unwrap().resource,
        "implied-deny-ingress"
    );
    // And the allowed port is allowed (source tag matches the client's primary address).
    let ev = check(&e, "client-1", "10.4.0.7", "8080", "tcp");
    assert!(ev.verdict.allowed, "{:?}", ev.verdict);
}

/// GCP's `icmp` protocol is ICMPv4 only; ICMPv6 is protocol 58. An IPv4-only `icmp` allow does
/// not let IPv6 pings in, and a `58` allow does not let IPv4 pings in.
#[test]
fn icmp_and_icmpv6_are_different_protocols() {
    let rules = r#"[
  {
    "kind": "compute#firewall",
    "name": "allow-icmp-from-v6",
    "network": "https://www.googleapis.com/compute/v1/projects/p/global/networks/prod",
    "sourceRanges": ["::/0"],
    "allowed": [{"IPProtocol": "icmp"}]
  },
  {
    "kind": "compute#firewall",
    "name": "allow-58-from-v4",
    "network": "https://www.googleapis.com/compute/v1/projects/p/global/networks/prod",
    "sourceRanges": ["0.0.0.0/0"],
    "allowed": [{"IPProtocol": "58"}]
  }
]"#;
    let e = load(&[("fw.json", rules)]);
    let ev = check(
        &e,
        "2600:1900:4010:1:0:b::",
        "2600:1900:4010:1:0:a::",
        "0",
        "icmp",
    );
    assert!(!ev.verdict.allowed, "{:?}", ev.verdict);
    assert_eq!(
        ev.verdict.cause,
        Cause::CloudNoAllowRule,
        "{:?}",
        ev.verdict
    );
    // The fix for an IPv6 ping names ICMPv6: `--rules=icmp` would not match it.
    let fix = ev.verdict.fix.as_ref().unwrap();
    assert!(
        fix.commands.iter().all(|c| c.contains("--rules=58 ")),
        "{:?}",
        fix.commands
    );
    let ev = check(&e, "10.0.1.20", "10.0.1.10", "0", "icmp");
    assert!(!ev.verdict.allowed, "{:?}", ev.verdict);
    assert_eq!(
        ev.verdict.cause,
        Cause::CloudNoAllowRule,
        "{:?}",
        ev.verdict
    );
}

/// A client that connects to another instance's *external* address leaves the VPC: the
/// destination's ingress rules see the client's external address (source tags and service
/// accounts do not match it), and the client's egress rules see the external destination.
#[test]
fn connecting_to_an_external_address_is_not_internal_traffic() {
    let e = load(&[("fw.json", RULES_TCP_ONLY)]);
    // client-1 has no external address: its source on the internet is a Cloud NAT address.
    let ev = check(&e, "client-1", "34.77.1.10", "8080", "tcp");
    assert!(!ev.verdict.allowed, "{:?}", ev.verdict);
    assert!(
        ev.path
            .iter()
            .all(|s| s.resource != "allow-client-to-app-8080"),
        "{:?}",
        ev.path
    );
    // app-1 to itself through its own external address: the source is 34.77.1.10, which no
    // rule allows; the fix names that address, not the internal one or a source tag.
    let ev = check(&e, "app-1", "34.77.1.10", "8080", "tcp");
    assert_eq!(
        ev.verdict.cause,
        Cause::CloudNoAllowRule,
        "{:?}",
        ev.verdict
    );
    let fix = ev.verdict.fix.as_ref().unwrap();
    assert!(
        fix.commands
            .iter()
            .any(|c| c.contains("--source-ranges=34.77.1.10/32")),
        "{:?}",
        fix.commands
    );
    // Egress rules see the external destination.
    let egress_deny = r#"[
  {
    "kind": "compute#firewall",
    "name": "deny-egress-to-34-77",
    "network": "https://www.googleapis.com/compute/v1/projects/p/global/networks/prod",
    "direction": "EGRESS",
    "priority": 900,
    "destinationRanges": ["34.77.0.0/16"],
    "denied": [{"IPProtocol": "all"}]
  }
]"#;
    let e = load(&[("fw.json", RULES_TCP_ONLY), ("egress.json", egress_deny)]);
    let ev = check(&e, "client-1", "34.77.1.10", "8080", "tcp");
    assert_eq!(ev.verdict.cause, Cause::CloudDenyRule, "{:?}", ev.verdict);
    assert_eq!(
        ev.verdict.blocking.as_ref().unwrap().resource,
        "deny-egress-to-34-77"
    );
}
