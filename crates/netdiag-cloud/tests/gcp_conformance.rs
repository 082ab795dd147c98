//! GCP conformance: one test per documented rule of Compute Engine VPC firewalls, firewall
//! policies, routes and platform blocks, on realistic `gcloud … --format=json` exports
//! (`tests/fixtures/gcp/`).
#![allow(clippy::unwrap_used, missing_docs)]

use netdiag_cloud::doc::Document;
use netdiag_cloud::flow::Query;
use netdiag_cloud::gcp::{self, Estate, FixChange};
use netdiag_cloud::verdict::{Cause, CloudLayer, Evaluation, Side};
use std::path::PathBuf;

fn fixture(name: &str) -> Document {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/gcp")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    Document::from_str(name, &text).unwrap()
}

fn estate(files: &[&str]) -> Estate {
    let docs: Vec<Document> = files.iter().map(|f| fixture(f)).collect();
    gcp::load(&docs).unwrap()
}

const BASE: &[&str] = &[
    "instances.json",
    "firewall-rules.json",
    "networks.json",
    "routes.json",
];

fn base() -> Estate {
    estate(BASE)
}

fn check(e: &Estate, src: &str, dst: &str, port: &str, proto: &str) -> Evaluation {
    e.evaluate(&Query::parse(src, dst, port, proto).unwrap())
        .unwrap()
}

fn commands(ev: &Evaluation) -> Vec<String> {
    ev.verdict
        .fix
        .as_ref()
        .map(|f| f.commands.clone())
        .unwrap_or_default()
}

fn assert_never_any(ev: &Evaluation) {
    for c in commands(ev) {
        assert!(!c.contains("0.0.0.0/0") && !c.contains("::/0"), "{c}");
    }
}

#[test]
fn recognizes_gcloud_exports_and_ignores_other_providers() {
    assert!(gcp::recognizes(&fixture("instances.json").value));
    assert!(gcp::recognizes(&fixture("network-policy.json").value));
    let aws = Document::from_str("sg.json", r#"{"SecurityGroups": []}"#).unwrap();
    assert!(!gcp::recognizes(&aws.value));
    let mut docs = vec![aws, fixture("instances.json")];
    docs.push(
        Document::from_str(
            "nsg.json",
            r#"{"type": "Microsoft.Network/networkSecurityGroups", "name": "x"}"#,
        )
        .unwrap(),
    );
    assert!(gcp::load(&docs).is_ok());
}

#[test]
fn target_tags_allow_internet_to_web() {
    let ev = check(&base(), "203.0.113.9", "web-1", "443", "tcp");
    assert!(ev.verdict.allowed, "{:?}", ev.verdict);
    assert_eq!(ev.verdict.cause, Cause::Ok);
    assert!(ev.path.iter().any(|s| s.resource == "allow-web-https"));
}

#[test]
fn implied_deny_ingress_blocks_and_fix_is_narrow() {
    let ev = check(&base(), "203.0.113.9", "db-1", "5432", "tcp");
    let v = &ev.verdict;
    assert!(!v.allowed);
    assert_eq!(v.cause, Cause::CloudNoAllowRule);
    assert_eq!(v.layer, Some(CloudLayer::Firewall));
    assert_eq!(v.side, Some(Side::DestinationIngress));
    assert_eq!(
        v.blocking.as_ref().unwrap().resource,
        "implied-deny-ingress"
    );
    let cmds = commands(&ev);
    assert_eq!(cmds.len(), 1);
    let c = &cmds[0];
    assert!(
        c.starts_with("gcloud compute firewall-rules create netdiag-allow-in-tcp-5432"),
        "{c}"
    );
    assert!(
        c.contains(
            "--network=prod --direction=INGRESS --priority=65534 --action=ALLOW --rules=tcp:5432"
        ),
        "{c}"
    );
    assert!(c.contains("--source-ranges=203.0.113.9/32"), "{c}");
    assert!(c.contains("--target-tags=db"), "{c}");
    let name = c.split_whitespace().nth(4).unwrap();
    assert_eq!(
        v.rollback,
        vec![format!(
            "gcloud compute firewall-rules delete {name} --quiet"
        )]
    );
    assert_eq!(
        v.prestate,
        vec![
            "gcloud compute firewall-rules list --filter=\"network:prod\" --format=json"
                .to_string()
        ]
    );
    assert_never_any(&ev);
}

#[test]
fn source_tags_match_instances_primary_address_in_the_same_network() {
    let e = base();
    assert!(check(&e, "web-1", "db-1", "5432", "tcp").verdict.allowed);
    assert!(
        check(&e, "10.0.1.5", "10.0.2.4", "5432", "tcp")
            .verdict
            .allowed
    );
    // ci-1 carries tag `web` but lives in the peered network `shared`: source tags do not match
    // across peering.
    let ev = check(&e, "ci-1", "db-1", "5432", "tcp");
    assert!(!ev.verdict.allowed);
    assert_eq!(
        ev.verdict.blocking.as_ref().unwrap().resource,
        "implied-deny-ingress"
    );
    // The fix uses an address, not the tag.
    let c = &commands(&ev)[0];
    assert!(c.contains("--source-ranges=10.8.0.2/32"), "{c}");
}

#[test]
fn lower_priority_number_wins_deny_over_allow() {
    let ev = check(&base(), "app-1", "db-1", "5432", "tcp");
    let v = &ev.verdict;
    assert_eq!(v.cause, Cause::CloudDenyRule);
    assert_eq!(v.blocking.as_ref().unwrap().resource, "deny-db-from-app");
    // The fix must outrank the deny at 900.
    let c = &commands(&ev)[0];
    assert!(c.contains("--priority=899"), "{c}");
    // app-1 alone carries `web-client` (its `app` tag is shared with app-2, a different role).
    assert!(c.contains("--source-tags=web-client"), "{c}");
}

#[test]
fn equal_priority_deny_beats_allow() {
    let ev = check(&base(), "10.0.1.5", "db-1", "53", "udp");
    assert_eq!(ev.verdict.cause, Cause::CloudDenyRule);
    assert_eq!(
        ev.verdict.blocking.as_ref().unwrap().resource,
        "deny-dns-to-db"
    );
}

#[test]
fn disabled_rule_is_ignored_and_reported_as_would_allow() {
    let ev = check(&base(), "web-1", "db-1", "9100", "tcp");
    let v = &ev.verdict;
    assert!(!v.allowed);
    assert_eq!(
        v.blocking.as_ref().unwrap().resource,
        "implied-deny-ingress"
    );
    let w = v.would_allow.as_ref().unwrap();
    assert_eq!(w.resource, "allow-db-metrics");
    assert!(w.rule.contains("disabled"), "{}", w.rule);
}

#[test]
fn near_miss_is_reported_as_would_allow_with_the_reason() {
    // allow-app-ports allows tcp:8000-8100 to tag app; db-1 does not carry it.
    let ev = check(&base(), "10.0.1.5", "db-1", "8050", "tcp");
    let w = ev.verdict.would_allow.as_ref().unwrap();
    assert_eq!(w.resource, "allow-app-ports");
    assert!(w.rule.contains("targets tags [app]"), "{}", w.rule);
}

#[test]
fn service_accounts_as_source_and_target() {
    let e = base();
    assert!(check(&e, "web-1", "db-1", "8443", "tcp").verdict.allowed);
    let ev = check(&e, "app-1", "db-1", "8443", "tcp");
    assert!(!ev.verdict.allowed);
    // db-1 runs as a service account only it uses; the rule targets it (tags and service
    // accounts cannot mix, so the source is an address).
    let c = &commands(&ev)[0];
    assert!(
        c.contains("--target-tags=db")
            || c.contains("--target-service-accounts=db-sa@acme-prod.iam.gserviceaccount.com"),
        "{c}"
    );
    assert!(
        !(c.contains("--source-tags") && c.contains("--target-service-accounts")),
        "{c}"
    );
}

#[test]
fn port_ranges_and_protocol_lists() {
    let e = base();
    assert!(
        check(&e, "10.0.1.5", "app-1", "8000", "tcp")
            .verdict
            .allowed
    );
    assert!(
        check(&e, "10.0.1.5", "app-1", "8100", "tcp")
            .verdict
            .allowed
    );
    assert!(
        !check(&e, "10.0.1.5", "app-1", "8101", "tcp")
            .verdict
            .allowed
    );
    assert!(
        check(&e, "10.0.1.5", "app-1", "8125", "udp")
            .verdict
            .allowed
    );
    assert!(
        !check(&e, "10.0.1.5", "app-1", "8125", "tcp")
            .verdict
            .allowed
    );
}

#[test]
fn rule_without_target_applies_to_all_instances() {
    let e = base();
    for dst in ["web-1", "db-1", "app-1"] {
        assert!(
            check(&e, "35.235.241.7", dst, "22", "tcp").verdict.allowed,
            "{dst}"
        );
    }
    assert!(
        !check(&e, "203.0.113.9", "db-1", "22", "tcp")
            .verdict
            .allowed
    );
}

#[test]
fn egress_deny_blocks_at_the_source() {
    let ev = check(&base(), "web-1", "198.51.100.7", "23", "tcp");
    let v = &ev.verdict;
    assert_eq!(v.layer, Some(CloudLayer::FirewallEgress));
    assert_eq!(v.side, Some(Side::SourceEgress));
    assert_eq!(v.blocking.as_ref().unwrap().resource, "deny-egress-telnet");
    let c = &commands(&ev)[0];
    assert!(c.contains("--direction=EGRESS --priority=999"), "{c}");
    assert!(c.contains("--destination-ranges=198.51.100.7/32"), "{c}");
    assert!(c.contains("--target-tags=web"), "{c}");
    assert_never_any(&ev);
}

#[test]
fn implied_allow_egress() {
    let ev = check(&base(), "web-1", "198.51.100.7", "443", "tcp");
    assert!(ev.verdict.allowed, "{:?}", ev.verdict);
    assert!(ev.path.iter().any(|s| s.resource == "implied-allow-egress"));
}

#[test]
fn instance_to_instance_evaluates_egress_then_ingress_and_fixes_both() {
    // deny-egress-partner-lab is irrelevant here; use telnet: egress denied everywhere, and
    // no ingress rule for tcp/23 either.
    let ev = check(&base(), "web-1", "db-1", "23", "tcp");
    let v = &ev.verdict;
    assert_eq!(
        v.layer,
        Some(CloudLayer::FirewallEgress),
        "egress is met first"
    );
    let cmds = commands(&ev);
    assert_eq!(cmds.len(), 2, "{cmds:?}");
    assert!(cmds[0].contains("--direction=EGRESS"));
    assert!(cmds[1].contains("--direction=INGRESS"));
    assert_eq!(v.rollback.len(), 2);
}

#[test]
fn platform_blocks_egress_smtp_to_external_addresses() {
    let ev = check(&base(), "web-1", "198.51.100.7", "25", "tcp");
    let v = &ev.verdict;
    assert_eq!(v.cause, Cause::CloudPlatformBlock);
    assert_eq!(v.layer, Some(CloudLayer::Platform));
    assert!(v.fix.is_none());
    assert!(v.no_fix_reason.as_ref().unwrap().contains("587"));
    // Internal SMTP is not blocked by the platform (the firewall decides).
    let ev = check(&base(), "web-1", "10.0.9.9", "25", "tcp");
    assert_ne!(ev.verdict.cause, Cause::CloudPlatformBlock);
}

#[test]
fn metadata_server_is_always_reachable() {
    let ev = check(&base(), "web-1", "169.254.169.254", "80", "tcp");
    assert!(ev.verdict.allowed);
    assert_eq!(ev.path[0].layer, CloudLayer::Platform);
}

#[test]
fn no_route_to_an_external_address_without_a_default_route() {
    let e = estate(&[
        "instances.json",
        "firewall-rules.json",
        "networks.json",
        "routes-no-default.json",
    ]);
    let ev = check(&e, "web-1", "198.51.100.7", "443", "tcp");
    let v = &ev.verdict;
    assert_eq!(v.cause, Cause::CloudNoRoute);
    assert_eq!(v.layer, Some(CloudLayer::Route));
    assert_eq!(v.side, Some(Side::Path));
    let c = &commands(&ev)[0];
    assert!(c.starts_with("gcloud compute routes create netdiag-route-to-198-51-100-7 --network=prod --destination-range=198.51.100.7/32 --next-hop-gateway=default-internet-gateway"), "{c}");
    assert_eq!(
        v.rollback,
        vec!["gcloud compute routes delete netdiag-route-to-198-51-100-7 --quiet".to_string()]
    );
    assert_eq!(
        v.prestate,
        vec!["gcloud compute routes list --filter=\"network:prod\" --format=json".to_string()]
    );
}

#[test]
fn routes_not_exported_is_unknown_naming_the_export() {
    let e = estate(&["instances.json", "firewall-rules.json", "networks.json"]);
    let ev = check(&e, "web-1", "198.51.100.7", "443", "tcp");
    assert_eq!(ev.verdict.cause, Cause::CloudUnknown);
    assert!(ev.verdict.unknown[0]
        .export
        .contains("gcloud compute routes list"));
}

#[test]
fn peered_networks_route_and_the_peer_firewall_decides() {
    let e = base();
    let ev = check(&e, "web-1", "ci-1", "5432", "tcp");
    assert!(ev.verdict.allowed, "{:?}", ev.verdict);
    assert!(ev
        .path
        .iter()
        .any(|s| s.layer == CloudLayer::Route
            && s.rule.as_deref().is_some_and(|r| r.contains("ACTIVE"))));
}

#[test]
fn hierarchical_deny_has_no_tenant_fix() {
    let mut files = BASE.to_vec();
    files.push("hierarchical-policies.json");
    let e = estate(&files);
    let ev = check(&e, "203.0.113.9", "web-1", "3389", "tcp");
    let v = &ev.verdict;
    assert_eq!(v.cause, Cause::CloudDenyRule);
    assert_eq!(v.layer, Some(CloudLayer::HierarchicalPolicy));
    assert!(v.fix.is_none());
    let why = v.no_fix_reason.as_ref().unwrap();
    assert!(
        why.contains("org-guardrails") && why.contains("organizations/123456789012"),
        "{why}"
    );
}

#[test]
fn hierarchical_allow_decides_before_vpc_rules() {
    let mut files = BASE.to_vec();
    files.push("hierarchical-policies.json");
    let e = estate(&files);
    // No VPC rule allows tcp/9000 to db-1; the organization policy does.
    let ev = check(&e, "app-1", "db-1", "9000", "tcp");
    assert!(ev.verdict.allowed, "{:?}", ev.verdict);
    // The organization allow wins even over a VPC deny (deny-db-from-app is for 5432 only, so
    // compare with the same flow without the policy).
    assert!(
        !check(&base(), "app-1", "db-1", "9000", "tcp")
            .verdict
            .allowed
    );
}

#[test]
fn goto_next_passes_down_to_the_folder_then_the_vpc() {
    let mut files = BASE.to_vec();
    files.push("hierarchical-policies.json");
    let e = estate(&files);
    let ev = check(&e, "web-1", "db-1", "6379", "tcp");
    let v = &ev.verdict;
    assert_eq!(v.layer, Some(CloudLayer::HierarchicalPolicy));
    assert!(v.no_fix_reason.as_ref().unwrap().contains("folders/456789"));
    // goto_next for 10.0.0.0/8 then no folder rule: the VPC rules decide.
    assert!(check(&e, "web-1", "db-1", "5432", "tcp").verdict.allowed);
}

#[test]
fn hierarchical_policy_without_rules_is_unknown() {
    let mut files = BASE.to_vec();
    files.push("hierarchical-policies-no-rules.json");
    let e = estate(&files);
    let ev = check(&e, "web-1", "db-1", "5432", "tcp");
    assert_eq!(ev.verdict.cause, Cause::CloudUnknown);
    assert_eq!(
        ev.verdict.unknown[0].export,
        "gcloud compute firewall-policies describe 801234567890 --format=json"
    );
}

#[test]
fn network_policy_after_classic_vpc_rules_decide_first() {
    let mut files = BASE.to_vec();
    files.push("network-policy.json");
    let e = estate(&files);
    // allow-app-8080 (VPC) decides before prod-policy's deny.
    assert!(check(&e, "web-1", "app-1", "8080", "tcp").verdict.allowed);
}

#[test]
fn network_policy_before_classic_decides_first_and_the_fix_goes_in_the_policy() {
    let e = estate(&[
        "instances.json",
        "firewall-rules.json",
        "networks-policy-first.json",
        "routes.json",
        "network-policy.json",
    ]);
    let ev = check(&e, "web-1", "app-1", "8080", "tcp");
    let v = &ev.verdict;
    assert_eq!(v.cause, Cause::CloudDenyRule);
    assert_eq!(v.layer, Some(CloudLayer::HierarchicalPolicy));
    assert_eq!(
        v.blocking.as_ref().unwrap().resource,
        "prod-policy/priority 1000"
    );
    let c = &commands(&ev)[0];
    assert!(c.starts_with("gcloud compute network-firewall-policies rules create 999 --firewall-policy=prod-policy --global-firewall-policy --direction=INGRESS --action=allow --layer4-configs=tcp:8080 --src-ip-ranges=10.0.1.5/32"), "{c}");
    assert_eq!(v.rollback[0], "gcloud compute network-firewall-policies rules delete 999 --firewall-policy=prod-policy --global-firewall-policy");
    assert_eq!(
        v.prestate[0],
        "gcloud compute network-firewall-policies describe prod-policy --global --format=json"
    );
}

#[test]
fn network_policy_referenced_but_not_exported_is_unknown() {
    let e = estate(&[
        "instances.json",
        "firewall-rules.json",
        "networks-policy-first.json",
        "routes.json",
    ]);
    let ev = check(&e, "web-1", "app-1", "8080", "tcp");
    assert_eq!(ev.verdict.cause, Cause::CloudUnknown);
    assert!(ev.verdict.unknown[0]
        .export
        .contains("network-firewall-policies describe prod-policy"));
}

#[test]
fn unexported_internal_address_against_source_tags_is_unknown() {
    let ev = check(&base(), "10.0.9.9", "db-1", "5432", "tcp");
    assert_eq!(ev.verdict.cause, Cause::CloudUnknown);
    assert!(!ev.verdict.allowed);
    assert_eq!(
        ev.verdict.unknown[0].export,
        "gcloud compute instances list --format=json"
    );
}

#[test]
fn instance_exported_without_tags_is_unknown() {
    let text = r#"[{"kind": "compute#instance", "name": "lean-1", "zone": "projects/acme-prod/zones/europe-west1-b",
        "networkInterfaces": [{"network": "projects/acme-prod/global/networks/prod", "networkIP": "10.0.2.9"}]}]"#;
    let docs = vec![
        Document::from_str("lean.json", text).unwrap(),
        fixture("firewall-rules.json"),
    ];
    let e = gcp::load(&docs).unwrap();
    let ev = check(&e, "203.0.113.9", "lean-1", "443", "tcp");
    assert_eq!(ev.verdict.cause, Cause::CloudUnknown);
    assert_eq!(
        ev.verdict.unknown[0].export,
        "gcloud compute instances describe lean-1 --zone=europe-west1-b --format=json"
    );
}

#[test]
fn fix_prefers_a_tag_only_same_role_instances_carry() {
    // web-1 is the only instance tagged web in prod → the tag; app-1 shares `app` with app-2,
    // which has different tags → an address.
    let ev = check(&base(), "203.0.113.9", "web-1", "8443", "tcp");
    assert!(commands(&ev)[0].contains("--target-tags=web"));
    let ev = check(&base(), "203.0.113.9", "app-1", "9999", "tcp");
    let c = &commands(&ev)[0];
    assert!(
        c.contains("--target-tags=web-client") || c.contains("--destination-ranges=10.0.1.6/32"),
        "{c}"
    );
    let ev = check(&base(), "203.0.113.9", "app-2", "9999", "tcp");
    let c = &commands(&ev)[0];
    assert!(c.contains("--destination-ranges=10.0.1.7/32"), "{c}");
}

#[test]
fn never_opens_any_address() {
    let ev = check(&base(), "0.0.0.0/0", "db-1", "5432", "tcp");
    assert!(!ev.verdict.allowed);
    assert!(ev.verdict.fix.is_none());
    assert!(ev
        .verdict
        .no_fix_reason
        .as_ref()
        .unwrap()
        .contains("0.0.0.0/0"));
}

#[test]
fn a_cidr_source_must_be_covered_whole() {
    let e = base();
    assert!(
        check(&e, "35.235.240.0/22", "db-1", "22", "tcp")
            .verdict
            .allowed
    );
    assert!(
        !check(&e, "35.235.0.0/16", "db-1", "22", "tcp")
            .verdict
            .allowed
    );
}

#[test]
fn usage_errors_name_the_exports_searched() {
    let e = base();
    let err = e
        .evaluate(&Query::parse("web-9", "db-1", "22", "tcp").unwrap())
        .unwrap_err();
    assert!(
        err.contains("web-9") && err.contains("instances.json"),
        "{err}"
    );
    let err = e
        .evaluate(&Query::parse("203.0.113.9", "198.51.100.7", "22", "tcp").unwrap())
        .unwrap_err();
    assert!(
        err.contains("searched") && err.contains("firewall-rules.json"),
        "{err}"
    );
}

#[test]
fn bad_port_names_the_file_and_object_path() {
    let text = r#"[
      {"kind": "compute#firewall", "name": "a", "network": "n", "allowed": [{"IPProtocol": "tcp"}]},
      {"kind": "compute#firewall", "name": "b", "network": "n", "allowed": [{"IPProtocol": "tcp"}]},
      {"kind": "compute#firewall", "name": "c", "network": "n", "allowed": [{"IPProtocol": "tcp"}]},
      {"kind": "compute#firewall", "name": "d", "network": "n", "allowed": [{"IPProtocol": "tcp", "ports": ["80", "80-x"]}]}
    ]"#;
    let err = gcp::load(&[Document::from_str("fw.json", text).unwrap()]).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"fw.json: [3].allowed[0].ports[1]: "80-x" is not a port or range"#
    );
    let err = gcp::load(&[Document::from_str(
        "fw.json",
        r#"[{"kind": "compute#firewall", "name": "a", "network": "n", "priority": "high", "allowed": []}]"#,
    )
    .unwrap()])
    .unwrap_err();
    assert!(
        err.to_string().starts_with("fw.json: [0].priority:"),
        "{err}"
    );
}

#[test]
fn proposed_changes_apply_and_allow_the_flow() {
    let mut e = base();
    let q = Query::parse("app-1", "db-1", "5432", "tcp").unwrap();
    let changes = e.proposed_changes(&q).unwrap();
    assert!(matches!(
        changes[0],
        FixChange::FirewallRule { priority: 899, .. }
    ));
    for c in &changes {
        e.apply(c);
    }
    assert!(e.evaluate(&q).unwrap().verdict.allowed);
}

#[test]
fn a_2000_instance_estate_answers_fast() {
    let mut items = Vec::new();
    for i in 0..2000u32 {
        items.push(serde_json::json!({
            "kind": "compute#instance", "name": format!("vm-{i}"), "machineType": "e2-small",
            "zone": "projects/p/zones/europe-west1-b",
            "tags": {"items": [format!("role-{}", i % 50)]},
            "serviceAccounts": [{"email": format!("sa-{}@p.iam.gserviceaccount.com", i % 20)}],
            "networkInterfaces": [{"network": "projects/p/global/networks/big",
                "networkIP": format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256)}]
        }));
    }
    for i in 0..500u32 {
        items.push(serde_json::json!({
            "kind": "compute#firewall", "name": format!("fw-{i}"), "network": "projects/p/global/networks/big",
            "priority": 1000 + i, "direction": "INGRESS",
            "allowed": [{"IPProtocol": "tcp", "ports": [format!("{}", 10000 + i)]}],
            "sourceTags": [format!("role-{}", i % 50)], "targetTags": [format!("role-{}", (i + 1) % 50)]
        }));
    }
    let doc = Document {
        path: "big.json".into(),
        value: serde_json::Value::Array(items),
    };
    let e = gcp::load(&[doc]).unwrap();
    let q = Query::parse("vm-7", "vm-1999", "443", "tcp").unwrap();
    let t = std::time::Instant::now();
    let ev = e.evaluate(&q).unwrap();
    let took = t.elapsed();
    assert!(!ev.verdict.allowed);
    assert!(took.as_millis() < 100, "{took:?}");
}

#[test]
fn ipv6_ranges_and_addresses() {
    let e = base();
    assert!(
        check(&e, "2001:db8::1", "2600:1900:4010:1:0:5::", "443", "tcp")
            .verdict
            .allowed
    );
    let ev = check(&e, "2001:db8::1", "2600:1900:4010:1:0:5::", "22", "tcp");
    assert!(!ev.verdict.allowed);
    let c = &commands(&ev)[0];
    assert!(c.contains("--source-ranges=2001:db8::1/128"), "{c}");
    assert_never_any(&ev);
    // An IPv4 name against an IPv6 address is a usage error.
    assert!(e
        .evaluate(&Query::parse("2001:db8::1", "db-1", "22", "tcp").unwrap())
        .is_err());
}

#[test]
fn icmp_ignores_ports() {
    let e = base();
    assert!(check(&e, "web-1", "db-1", "0", "icmp").verdict.allowed);
    let ev = check(&e, "203.0.113.9", "db-1", "0", "icmp");
    assert!(!ev.verdict.allowed);
    assert!(
        commands(&ev)[0].contains("--rules=icmp "),
        "{:?}",
        commands(&ev)
    );
}

#[test]
fn an_instance_named_by_its_external_address() {
    let e = base();
    // As destination: the firewall sees the internal address; web-1 allows https from anywhere.
    assert!(
        check(&e, "203.0.113.9", "34.76.10.5", "443", "tcp")
            .verdict
            .allowed
    );
    // As source: the packet carries the external address, so the source tag does not match.
    let ev = check(&e, "34.76.10.5", "db-1", "5432", "tcp");
    assert!(!ev.verdict.allowed);
    assert!(
        commands(&ev)[0].contains("--source-ranges=34.76.10.5/32"),
        "{:?}",
        commands(&ev)
    );
    // SMTP to an instance's external address is external traffic: the platform blocks it.
    let ev = check(&e, "db-1", "34.76.10.5", "25", "tcp");
    assert_eq!(ev.verdict.cause, Cause::CloudPlatformBlock);
}

#[test]
fn network_policy_exported_without_rules_is_unknown() {
    let text = r#"{"kind": "compute#firewallPolicy", "name": "prod-policy", "ruleTupleCount": 4,
        "associations": [{"attachmentTarget": "projects/acme-prod/global/networks/prod", "name": "a"}]}"#;
    let mut docs: Vec<Document> = BASE.iter().map(|f| fixture(f)).collect();
    docs.push(Document::from_str("np.json", text).unwrap());
    let e = gcp::load(&docs).unwrap();
    let ev = check(&e, "203.0.113.9", "db-1", "5432", "tcp");
    assert_eq!(ev.verdict.cause, Cause::CloudUnknown);
    assert!(ev.verdict.unknown[0]
        .export
        .contains("network-firewall-policies describe prod-policy"));
}

#[test]
fn folder_policies_deciding_differently_depend_on_the_folder_chain() {
    let other = r#"[{"kind": "compute#firewallPolicy", "name": "803", "shortName": "team-folder", "parent": "folders/999",
        "associations": [{"attachmentTarget": "folders/999", "name": "a"}],
        "rules": [{"priority": 10, "action": "allow", "direction": "INGRESS",
                   "match": {"srcIpRanges": ["10.0.0.0/8"], "layer4Configs": [{"ipProtocol": "tcp", "ports": ["6379"]}]}}]}]"#;
    let mut docs: Vec<Document> = BASE.iter().map(|f| fixture(f)).collect();
    docs.push(fixture("hierarchical-policies.json"));
    docs.push(Document::from_str("team-folder.json", other).unwrap());
    let e = gcp::load(&docs).unwrap();
    let ev = check(&e, "web-1", "db-1", "6379", "tcp");
    assert_eq!(ev.verdict.cause, Cause::CloudUnknown, "{:?}", ev.verdict);
    assert_eq!(
        ev.verdict.unknown[0].export,
        "gcloud compute networks get-effective-firewalls prod --format=json"
    );
    // With that export the chain is known: the prod folder's deny is listed first and decides.
    let mut eff = fixture("effective-firewalls-prod.json");
    eff.value["firewallPolicys"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"type": "HIERARCHY", "name": "803", "shortName": "team-folder",
            "rules": [{"priority": 10, "action": "allow", "direction": "INGRESS",
                       "match": {"srcIpRanges": ["10.0.0.0/8"], "layer4Configs": [{"ipProtocol": "tcp", "ports": ["6379"]}]}}]}));
    docs.push(eff);
    let e = gcp::load(&docs).unwrap();
    let ev = check(&e, "web-1", "db-1", "6379", "tcp");
    assert_eq!(ev.verdict.cause, Cause::CloudDenyRule, "{:?}", ev.verdict);
    assert_eq!(
        ev.verdict.blocking.as_ref().unwrap().resource,
        "prod-folder/priority 500"
    );
}

// `gcloud compute networks get-effective-firewalls prod --format=json`: the VPC rules and, in
// evaluation order, the hierarchical and network policies of network prod.
const EFFECTIVE: &[&str] = &[
    "instances.json",
    "effective-firewalls-prod.json",
    "networks.json",
    "routes.json",
];

#[test]
fn effective_firewalls_export_is_recognized_by_its_shape() {
    let doc = fixture("effective-firewalls-prod.json");
    assert!(doc.value.get("kind").is_none());
    assert!(gcp::recognizes(&doc.value));
    assert_eq!(
        netdiag_cloud::check::detect(&[doc]).unwrap(),
        netdiag_cloud::doc::Provider::Gcp
    );
}

#[test]
fn effective_hierarchical_deny_overrides_a_vpc_allow() {
    // allow-app-8080 admits 10.0.0.0/8 to app instances; the prod folder denies tcp/8080.
    assert!(
        check(&base(), "web-1", "app-2", "8080", "tcp")
            .verdict
            .allowed
    );
    let ev = check(&estate(EFFECTIVE), "web-1", "app-2", "8080", "tcp");
    let v = &ev.verdict;
    assert!(!v.allowed, "{v:?}");
    assert_eq!(v.cause, Cause::CloudDenyRule);
    assert_eq!(v.layer, Some(CloudLayer::HierarchicalPolicy));
    assert_eq!(
        v.blocking.as_ref().unwrap().resource,
        "prod-folder/priority 300"
    );
    assert!(v.fix.is_none());
    let why = v.no_fix_reason.as_ref().unwrap();
    assert!(
        why.contains("prod-folder")
            && why.contains("priority 300")
            && why.contains("gcloud compute firewall-policies describe 802345678901"),
        "{why}"
    );
    // The organization policy was evaluated first and passed the flow down (goto_next).
    let org = ev
        .path
        .iter()
        .position(|s| s.resource.contains("org-guardrails"))
        .unwrap();
    let folder = ev
        .path
        .iter()
        .position(|s| s.resource.contains("prod-folder"))
        .unwrap();
    assert!(org < folder);
    assert!(!ev.path.iter().any(|s| s.resource == "allow-app-8080"));
}

#[test]
fn effective_goto_next_reaches_the_vpc_rules_and_org_allow_decides() {
    let e = estate(EFFECTIVE);
    assert!(check(&e, "web-1", "db-1", "5432", "tcp").verdict.allowed);
    assert!(check(&e, "app-1", "db-1", "9000", "tcp").verdict.allowed);
    let rdp = check(&e, "203.0.113.9", "web-1", "3389", "tcp");
    assert_eq!(
        rdp.verdict.blocking.as_ref().unwrap().resource,
        "org-guardrails/priority 100"
    );
    // The VPC rules come from the effective export: the implied deny still holds elsewhere.
    let ev = check(&e, "203.0.113.9", "db-1", "5432", "tcp");
    assert_eq!(ev.verdict.cause, Cause::CloudNoAllowRule);
}

#[test]
fn effective_network_policy_follows_the_enforcement_order() {
    // Default AFTER_CLASSIC_FIREWALL: allow-app-ports decides before prod-policy's deny.
    let ev = check(&estate(EFFECTIVE), "web-1", "app-2", "8090", "tcp");
    assert!(ev.verdict.allowed, "{:?}", ev.verdict);
    // BEFORE_CLASSIC_FIREWALL: the network policy's deny decides first.
    let mut files = EFFECTIVE.to_vec();
    files.retain(|f| *f != "networks.json");
    files.push("networks-policy-first.json");
    let ev = check(&estate(&files), "web-1", "app-2", "8090", "tcp");
    let v = &ev.verdict;
    assert_eq!(v.cause, Cause::CloudDenyRule);
    assert_eq!(
        v.blocking.as_ref().unwrap().resource,
        "prod-policy/priority 1000"
    );
}

#[test]
fn effective_export_replaces_the_vpc_rules_and_other_policy_exports_for_its_network() {
    // The same rules given twice (firewall-rules list and the effective export) are read once;
    // the folder-chain question of hierarchical-policies.json does not arise: the effective
    // export lists the chain in order.
    let mut files = EFFECTIVE.to_vec();
    files.push("firewall-rules.json");
    files.push("hierarchical-policies.json");
    let e = estate(&files);
    let ev = check(&e, "web-1", "app-2", "8080", "tcp");
    assert_eq!(
        ev.verdict.blocking.as_ref().unwrap().resource,
        "prod-folder/priority 300"
    );
    let steps = ev
        .path
        .iter()
        .filter(|s| s.side == Side::DestinationIngress && s.resource.starts_with("firewall-policy"))
        .count();
    assert_eq!(steps, 2, "{:?}", ev.path);
    // Network shared is not covered by the export: its VPC rules still come from the list.
    assert!(check(&e, "web-1", "ci-1", "5432", "tcp").verdict.allowed);
}

#[test]
fn effective_export_shape_errors_name_the_field() {
    let bad = Document::from_str(
        "eff.json",
        r#"{"firewalls": [], "firewallPolicys": [{"name": "x", "type": "FOLDER", "rules": []}]}"#,
    )
    .unwrap();
    let err = gcp::load(&[bad]).unwrap_err().to_string();
    assert!(
        err.contains("eff.json") && err.contains("firewallPolicys[0].type"),
        "{err}"
    );
    let bad = Document::from_str(
        "eff.json",
        r#"{"firewallPolicys": [{"name": "x", "type": "HIERARCHY", "rules": [{"priority": 1, "action": "maybe"}]}]}"#,
    )
    .unwrap();
    let err = gcp::load(&[bad]).unwrap_err().to_string();
    assert!(err.contains("firewallPolicys[0].rules[0].action"), "{err}");
}

#[test]
fn effective_system_policy_deny_names_the_google_service() {
    let sys = Document::from_str(
        "eff-system.json",
        r#"{"firewalls": [], "firewallPolicys": [{"name": "gke-system-1", "shortName": "gke-system-1", "type": "SYSTEM_REGIONAL",
            "rules": [{"action": "deny", "direction": "INGRESS", "priority": 10,
                       "match": {"srcIpRanges": ["10.0.0.0/8"], "layer4Configs": [{"ipProtocol": "tcp", "ports": ["10250"]}]}}]}]}"#,
    )
    .unwrap();
    let mut docs: Vec<Document> = BASE.iter().map(|f| fixture(f)).collect();
    docs.push(sys);
    let e = gcp::load(&docs).unwrap();
    let ev = check(&e, "web-1", "app-2", "10250", "tcp");
    assert_eq!(ev.verdict.cause, Cause::CloudDenyRule);
    let why = ev.verdict.no_fix_reason.as_ref().unwrap();
    assert!(why.contains("system firewall policy gke-system-1"), "{why}");
}

#[test]
fn an_effective_export_without_vpc_rules_names_no_network_unless_the_estate_has_one() {
    let policies_only = |value: serde_json::Value| {
        let mut v = fixture("effective-firewalls-prod.json").value;
        v["firewalls"] = value;
        Document::from_str("eff.json", &v.to_string()).unwrap()
    };
    // Two networks (prod, shared) and no VPC rules listed: the VPC rules stay unknown.
    let docs = vec![
        fixture("instances.json"),
        policies_only(serde_json::json!([])),
    ];
    let e = gcp::load(&docs).unwrap();
    let ev = check(&e, "web-1", "db-1", "5432", "tcp");
    assert_eq!(ev.verdict.cause, Cause::CloudUnknown, "{:?}", ev.verdict);
    assert!(ev.verdict.unknown[0]
        .export
        .starts_with("gcloud compute firewall-rules list"));
    // The policies still apply: the folder deny decides tcp/8080 before any VPC rule.
    let ev = check(&e, "web-1", "app-2", "8080", "tcp");
    assert_eq!(
        ev.verdict.blocking.as_ref().unwrap().resource,
        "prod-folder/priority 300"
    );
    // The same network exported twice is read once.
    let mut docs: Vec<Document> = EFFECTIVE.iter().map(|f| fixture(f)).collect();
    docs.push(fixture("effective-firewalls-prod.json"));
    let ev = check(&gcp::load(&docs).unwrap(), "web-1", "app-2", "8080", "tcp");
    let org_steps = ev
        .path
        .iter()
        .filter(|s| s.side == Side::DestinationIngress && s.resource.contains("org-guardrails"))
        .count();
    assert_eq!(org_steps, 1);
}
