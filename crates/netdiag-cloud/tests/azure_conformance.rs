//! Azure conformance: one test per documented rule of network security groups, service tags,
//! application security groups and the fix, on realistic `az network … -o json` exports
//! (`tests/fixtures/azure/`), in both the CLI's flattened form and the ARM `properties` form.
#![allow(clippy::unwrap_used, missing_docs)]

use netdiag_cloud::azure::{self, Estate, FixChange};
use netdiag_cloud::doc::Document;
use netdiag_cloud::flow::Query;
use netdiag_cloud::verdict::{Cause, CloudLayer, Evaluation, Side};
use std::path::PathBuf;

fn fixture(name: &str) -> Document {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/azure")
        .join(name);
    Document::from_str(name, &std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn estate(files: &[&str]) -> Estate {
    let docs: Vec<Document> = files.iter().map(|f| fixture(f)).collect();
    azure::load(&docs).unwrap()
}

const BASE: &[&str] = &[
    "nsgs.json",
    "nics.json",
    "vnets.json",
    "asgs.json",
    "public-ip-web-1.json",
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
        assert!(
            !c.contains("0.0.0.0/0") && !c.contains("::/0") && !c.contains(" * "),
            "{c}"
        );
    }
}

const ASG_WEB_ID: &str = "/subscriptions/0b1f6471-1bf0-4dda-aec3-111122223333/resourceGroups/rg-prod/providers/Microsoft.Network/applicationSecurityGroups/asg-web";

#[test]
fn recognizes_az_exports_and_ignores_other_providers() {
    for f in BASE {
        assert!(azure::recognizes(&fixture(f).value), "{f}");
    }
    let gcp =
        Document::from_str("fw.json", r#"[{"kind": "compute#firewall", "name": "x"}]"#).unwrap();
    assert!(!azure::recognizes(&gcp.value));
    let mut docs = vec![gcp];
    docs.extend(BASE.iter().map(|f| fixture(f)));
    assert!(azure::load(&docs).is_ok());
}

#[test]
fn internet_to_web_allowed_by_subnet_nsg_also_via_the_public_ip() {
    let e = base();
    for dst in ["nic-web-1", "10.1.1.4", "20.50.1.4", "vm-web-1"] {
        let ev = check(&e, "203.0.113.9", dst, "443", "tcp");
        assert!(ev.verdict.allowed, "{dst}: {:?}", ev.verdict);
    }
}

#[test]
fn default_deny_all_inbound_blocks_and_fix_uses_a_same_role_asg() {
    let ev = check(&base(), "203.0.113.9", "nic-web-1", "8080", "tcp");
    let v = &ev.verdict;
    assert_eq!(v.cause, Cause::CloudNoAllowRule);
    assert_eq!(v.layer, Some(CloudLayer::NsgSubnet));
    assert_eq!(v.side, Some(Side::DestinationIngress));
    assert_eq!(
        v.blocking.as_ref().unwrap().resource,
        "nsg-web-subnet/DenyAllInBound"
    );
    let cmds = commands(&ev);
    assert_eq!(cmds.len(), 1);
    assert_eq!(
        cmds[0],
        "az network nsg rule create -g rg-prod --nsg-name nsg-web-subnet -n netdiag-allow-in-tcp-8080-203-0-113-9-to-asg-web --priority 4096 --direction Inbound --access Allow --protocol Tcp --source-address-prefixes 203.0.113.9/32 --destination-asgs asg-web --destination-port-ranges 8080"
    );
    assert_eq!(v.rollback, vec!["az network nsg rule delete -g rg-prod --nsg-name nsg-web-subnet -n netdiag-allow-in-tcp-8080-203-0-113-9-to-asg-web".to_string()]);
    assert_eq!(
        v.prestate,
        vec!["az network nsg show -g rg-prod -n nsg-web-subnet -o json".to_string()]
    );
    assert_never_any(&ev);
}

#[test]
fn custom_deny_first_match_by_priority_and_fix_outranks_it() {
    let ev = check(&base(), "203.0.113.9", "nic-web-1", "3389", "tcp");
    let v = &ev.verdict;
    assert_eq!(v.cause, Cause::CloudDenyRule);
    assert_eq!(
        v.blocking.as_ref().unwrap().resource,
        "nsg-web-subnet/DenyRdpInbound"
    );
    assert!(
        commands(&ev)[0].contains("--priority 199 "),
        "{:?}",
        commands(&ev)
    );
}

#[test]
fn asgs_as_source_and_destination() {
    let e = base();
    let ev = check(&e, "nic-web-1", "nic-db-1", "5432", "tcp");
    assert!(ev.verdict.allowed, "{:?}", ev.verdict);
    assert!(ev
        .path
        .iter()
        .any(|s| s.rule.as_deref().is_some_and(|r| r.contains("asg:asg-web"))));
}

#[test]
fn lower_priority_deny_wins_over_later_allow() {
    let ev = check(&base(), "nic-app-1", "nic-db-1", "5432", "tcp");
    let v = &ev.verdict;
    assert_eq!(
        v.blocking.as_ref().unwrap().resource,
        "nsg-db-subnet/DenyAppToDb"
    );
    // The fix sits between AllowWebToDb (100) and the deny (110).
    assert!(
        commands(&ev)[0].contains("--priority 109 "),
        "{:?}",
        commands(&ev)
    );
    // A near miss is reported.
    assert_eq!(
        v.would_allow.as_ref().unwrap().resource,
        "nsg-db-subnet/AllowWebToDb"
    );
}

#[test]
fn both_nsgs_must_allow_and_the_fix_opens_every_blocking_nsg() {
    let ev = check(&base(), "nic-web-1", "nic-db-1", "22", "tcp");
    let v = &ev.verdict;
    assert_eq!(
        v.layer,
        Some(CloudLayer::NsgSubnet),
        "inbound: subnet NSG first"
    );
    assert_eq!(
        v.blocking.as_ref().unwrap().resource,
        "nsg-db-subnet/DenyVnetInbound"
    );
    let cmds = commands(&ev);
    assert_eq!(cmds.len(), 2, "{cmds:?}");
    assert!(cmds[0].contains("--nsg-name nsg-db-subnet") && cmds[0].contains("--priority 3999 "));
    // The NIC NSG lives in rg-data (from its ARM id); asg-web is in rg-prod, so it is named by id.
    assert!(
        cmds[1].starts_with("az network nsg rule create -g rg-data --nsg-name nsg-db-1-nic"),
        "{}",
        cmds[1]
    );
    assert!(
        cmds[1].contains(&format!("--source-asgs {ASG_WEB_ID}")),
        "{}",
        cmds[1]
    );
    assert!(cmds[1].contains("--priority 4095 "));
    assert_eq!(v.rollback.len(), 2);
    assert_eq!(v.prestate.len(), 2);
    // Applying both opens the flow.
    let mut e = base();
    let q = Query::parse("nic-web-1", "nic-db-1", "22", "tcp").unwrap();
    for c in e.proposed_changes(&q).unwrap() {
        e.apply(&c);
    }
    assert!(e.evaluate(&q).unwrap().verdict.allowed);
}

#[test]
fn nic_nsg_in_arm_form_blocks_after_the_subnet_allows() {
    let ev = check(&base(), "nic-web-1", "nic-db-1", "6379", "tcp");
    let v = &ev.verdict;
    assert_eq!(v.layer, Some(CloudLayer::NsgNic));
    assert_eq!(
        v.blocking.as_ref().unwrap().resource,
        "nsg-db-1-nic/DenyVnetInbound"
    );
    assert_eq!(commands(&ev).len(), 1);
}

#[test]
fn outbound_nic_nsg_first_then_subnet_nsg() {
    let ev = check(&base(), "nic-db-1", "198.51.100.7", "25", "tcp");
    let v = &ev.verdict;
    assert_eq!(v.layer, Some(CloudLayer::NsgNic));
    assert_eq!(v.side, Some(Side::SourceEgress));
    assert_eq!(
        v.blocking.as_ref().unwrap().resource,
        "nsg-db-1-nic/DenySmtpToInternet"
    );
    let cmds = commands(&ev);
    assert_eq!(
        cmds.len(),
        2,
        "the subnet NSG blocks Internet too: {cmds:?}"
    );
    assert!(
        cmds[0].contains("--direction Outbound")
            && cmds[0].contains("--destination-address-prefixes 198.51.100.7/32")
    );
    assert!(
        cmds[1].contains("--nsg-name nsg-db-subnet") && cmds[1].contains("--source-asgs asg-db"),
        "{}",
        cmds[1]
    );
    let ev = check(&base(), "nic-db-1", "198.51.100.7", "443", "tcp");
    assert_eq!(ev.verdict.layer, Some(CloudLayer::NsgSubnet));
}

#[test]
fn port_ranges_and_lists() {
    let e = base();
    assert!(
        check(&e, "10.1.1.4", "nic-db-1", "8000", "tcp")
            .verdict
            .allowed
    );
    assert!(
        check(&e, "10.1.1.4", "nic-db-1", "8100", "tcp")
            .verdict
            .allowed
    );
    assert!(
        check(&e, "10.1.1.4", "nic-db-1", "9000", "tcp")
            .verdict
            .allowed
    );
    assert!(
        !check(&e, "10.1.1.4", "nic-db-1", "8101", "tcp")
            .verdict
            .allowed
    );
    assert!(
        !check(&e, "10.1.1.4", "nic-db-1", "8050", "udp")
            .verdict
            .allowed
    );
}

#[test]
fn default_rules_apply_even_when_not_exported() {
    // nsg-db-subnet's export has no defaultSecurityRules; AllowVnetOutBound still applies.
    let ev = check(&base(), "nic-db-1", "nic-web-1", "8080", "tcp");
    assert!(ev.path.iter().any(|s| {
        s.rule.as_deref().is_some_and(|r| {
            r.contains("AllowVnetOutBound") || r.contains("priority 65000 Outbound")
        })
    }));
    let ev = check(&base(), "nic-web-1", "nic-web-2", "8080", "tcp");
    assert!(ev.verdict.allowed, "{:?}", ev.verdict);
}

#[test]
fn traffic_inside_one_subnet_is_still_filtered_by_the_subnet_nsg() {
    let ev = check(&base(), "nic-web-1", "nic-web-2", "3389", "tcp");
    assert_eq!(
        ev.verdict.blocking.as_ref().unwrap().resource,
        "nsg-web-subnet/DenyRdpInbound"
    );
}

#[test]
fn azure_load_balancer_tag_is_168_63_129_16() {
    let e = base();
    assert!(
        check(&e, "168.63.129.16", "nic-db-1", "5432", "tcp")
            .verdict
            .allowed
    );
    assert!(
        !check(&e, "168.63.129.17", "nic-db-1", "5432", "tcp")
            .verdict
            .allowed
    );
}

#[test]
fn virtual_network_tag_includes_connected_peerings_only() {
    let e = base();
    assert!(
        check(&e, "10.50.0.10", "nic-web-1", "8080", "tcp")
            .verdict
            .allowed,
        "connected peering"
    );
    assert!(
        !check(&e, "10.70.0.10", "nic-web-1", "8080", "tcp")
            .verdict
            .allowed,
        "disconnected peering"
    );
    assert!(
        !check(&e, "10.60.0.10", "nic-web-1", "8080", "tcp")
            .verdict
            .allowed,
        "not peered"
    );
}

#[test]
fn internet_tag_is_outside_the_virtual_network_space() {
    let e = base();
    // DenyInternetOutbound on the db subnet does not match a peered address.
    assert!(
        check(&e, "nic-db-1", "10.50.0.10", "443", "tcp")
            .verdict
            .allowed
    );
    assert!(
        !check(&e, "nic-db-1", "198.51.100.7", "443", "tcp")
            .verdict
            .allowed
    );
}

#[test]
fn asg_membership_of_an_unexported_address_is_unknown() {
    let ev = check(&base(), "10.1.9.9", "nic-db-1", "5432", "tcp");
    assert_eq!(ev.verdict.cause, Cause::CloudUnknown);
    assert!(!ev.verdict.allowed);
    assert_eq!(ev.verdict.unknown[0].export, "az network nic list -o json");
}

#[test]
fn missing_peering_data_is_unknown() {
    let e = estate(&[
        "nsgs.json",
        "nics.json",
        "vnet-no-peerings.json",
        "asgs.json",
    ]);
    let ev = check(&e, "10.50.0.10", "nic-web-1", "8080", "tcp");
    assert_eq!(ev.verdict.cause, Cause::CloudUnknown);
    assert!(ev.verdict.unknown[0]
        .export
        .starts_with("az network vnet show --ids "));
}

#[test]
fn gateway_learned_prefixes_are_unknown() {
    let e = estate(&[
        "nsgs.json",
        "nics.json",
        "vnet-with-gateway.json",
        "asgs.json",
    ]);
    let ev = check(&e, "192.168.10.5", "nic-web-1", "8080", "tcp");
    assert_eq!(ev.verdict.cause, Cause::CloudUnknown);
    assert!(ev.verdict.unknown[0]
        .export
        .contains("az network nic show-effective-route-table"));
}

#[test]
fn other_service_tags_are_unknown_for_public_addresses() {
    let ev = check(&base(), "nic-web-1", "52.239.1.1", "443", "tcp");
    assert_eq!(ev.verdict.cause, Cause::CloudUnknown);
    assert!(ev.verdict.unknown[0]
        .export
        .starts_with("az network list-service-tags"));
}

#[test]
fn nsg_referenced_but_not_exported_is_unknown() {
    let e = estate(&["nics.json", "vnets.json", "asgs.json"]);
    let ev = check(&e, "203.0.113.9", "nic-db-1", "5432", "tcp");
    assert_eq!(ev.verdict.cause, Cause::CloudUnknown);
    assert!(ev.verdict.unknown.iter().any(|m| m
        .export
        .starts_with("az network nsg show --ids /subscriptions/")));
}

#[test]
fn vnets_without_peering_have_no_path() {
    let ev = check(&base(), "nic-web-1", "nic-iso-1", "443", "tcp");
    let v = &ev.verdict;
    assert_eq!(v.cause, Cause::CloudNoRoute);
    assert_eq!(v.layer, Some(CloudLayer::Route));
    assert!(v.fix.is_none());
    assert!(v.no_fix_reason.as_ref().unwrap().contains("peering"));
}

fn tight(rules: &str) -> Estate {
    let text = format!(
        r#"{{"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/tight",
      "name": "tight", "type": "Microsoft.Network/networkSecurityGroups",
      "securityRules": [{rules}],
      "subnets": [{{"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/a"}}]}}"#
    );
    let nic = r#"{"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/n1", "name": "n1",
      "type": "Microsoft.Network/networkInterfaces",
      "ipConfigurations": [{"privateIPAddress": "10.2.0.4", "subnet": {"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/a"}}]}"#;
    azure::load(&[
        Document::from_str("nsg.json", &text).unwrap(),
        Document::from_str("nic.json", nic).unwrap(),
    ])
    .unwrap()
}

const DENY_ALL_100: &str = r#"{"name": "DenyAll", "priority": 100, "direction": "Inbound", "access": "Deny", "protocol": "*",
        "sourceAddressPrefix": "*", "destinationAddressPrefix": "*", "sourcePortRange": "*", "destinationPortRange": "*"}"#;

#[test]
fn a_deny_at_priority_100_is_moved_down_and_the_allow_takes_its_place() {
    let e = tight(DENY_ALL_100);
    let q = Query::parse("203.0.113.9", "n1", "443", "tcp").unwrap();
    let ev = e.evaluate(&q).unwrap();
    let v = &ev.verdict;
    assert_eq!(
        commands(&ev),
        [
            "az network nsg rule update -g rg --nsg-name tight -n DenyAll --priority 101",
            "az network nsg rule create -g rg --nsg-name tight -n netdiag-allow-in-tcp-443-203-0-113-9-to-10-2-0-4 --priority 100 --direction Inbound --access Allow --protocol Tcp --source-address-prefixes 203.0.113.9/32 --destination-address-prefixes 10.2.0.4/32 --destination-port-ranges 443",
        ]
    );
    // Both steps undone, in reverse.
    assert_eq!(
        v.rollback,
        [
            "az network nsg rule delete -g rg --nsg-name tight -n netdiag-allow-in-tcp-443-203-0-113-9-to-10-2-0-4",
            "az network nsg rule update -g rg --nsg-name tight -n DenyAll --priority 100",
        ]
    );
    let d = &v.fix.as_ref().unwrap().description;
    assert!(
        d.contains("two steps") && d.contains("no rule in between"),
        "{d}"
    );
    assert_never_any(&ev);
    // Applied to the estate, the flow passes and the deny still blocks everything else.
    let mut fixed = e.clone();
    for c in e.proposed_changes(&q).unwrap() {
        fixed.apply(&c);
    }
    assert!(fixed.evaluate(&q).unwrap().verdict.allowed);
    for (src, port) in [("203.0.113.9", "444"), ("203.0.113.10", "443")] {
        let other = Query::parse(src, "n1", port, "tcp").unwrap();
        let after = fixed.evaluate(&other).unwrap();
        assert_eq!(after.verdict.cause, Cause::CloudDenyRule, "{src} {port}");
        assert_eq!(
            after.verdict.blocking.as_ref().unwrap().resource,
            "tight/DenyAll"
        );
    }
}

#[test]
fn the_deny_is_moved_only_when_no_rule_lies_in_between() {
    let next = r#"{"name": "AllowMgmt", "priority": 101, "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
        "sourceAddressPrefix": "10.9.0.0/16", "destinationAddressPrefix": "*", "sourcePortRange": "*", "destinationPortRange": "22"}"#;
    let e = tight(&format!("{DENY_ALL_100}, {next}"));
    let ev = check(&e, "203.0.113.9", "n1", "443", "tcp");
    assert!(ev.verdict.fix.is_none());
    let why = ev.verdict.no_fix_reason.as_ref().unwrap();
    assert!(
        why.contains("no free priority") && why.contains("AllowMgmt at 101"),
        "{why}"
    );
    // An outbound rule at 101 does not stand between two inbound rules.
    let out = r#"{"name": "DenyOut", "priority": 101, "direction": "Outbound", "access": "Deny", "protocol": "*",
        "sourceAddressPrefix": "*", "destinationAddressPrefix": "*", "sourcePortRange": "*", "destinationPortRange": "*"}"#;
    let e = tight(&format!("{DENY_ALL_100}, {out}"));
    let ev = check(&e, "203.0.113.9", "n1", "443", "tcp");
    assert!(commands(&ev)[0].ends_with("-n DenyAll --priority 101"));
}

#[test]
fn every_priority_below_the_deny_taken_gives_the_two_step_change() {
    let mut rules: Vec<String> = (100..=102)
        .map(|p| format!(r#"{{"name": "AllowOps{p}", "priority": {p}, "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
        "sourceAddressPrefix": "10.9.{p}.0/24", "destinationAddressPrefix": "*", "sourcePortRange": "*", "destinationPortRange": "22"}}"#))
        .collect();
    rules.push(r#"{"name": "DenyWeb", "priority": 103, "direction": "Inbound", "access": "Deny", "protocol": "Tcp",
        "sourceAddressPrefix": "*", "destinationAddressPrefix": "*", "sourcePortRange": "*", "destinationPortRange": "443"}"#.into());
    let e = tight(&rules.join(", "));
    let ev = check(&e, "203.0.113.9", "n1", "443", "tcp");
    let c = commands(&ev);
    assert_eq!(
        c[0],
        "az network nsg rule update -g rg --nsg-name tight -n DenyWeb --priority 104"
    );
    assert!(c[1].contains("--priority 103 "), "{}", c[1]);
}

#[test]
fn never_opens_any_address() {
    let ev = check(&base(), "0.0.0.0/0", "nic-web-1", "8080", "tcp");
    assert!(ev.verdict.fix.is_none());
    assert!(ev
        .verdict
        .no_fix_reason
        .as_ref()
        .unwrap()
        .contains("0.0.0.0/0"));
}

#[test]
fn fix_uses_an_address_when_the_asg_mixes_roles() {
    // web-1 and web-2 share asg-web and everything else → the ASG. db-1 is alone in asg-db → the
    // ASG. An unexported external address → a /32.
    let ev = check(&base(), "nic-app-1", "nic-web-2", "3389", "tcp");
    let c = &commands(&ev)[0];
    assert!(
        c.contains("--source-address-prefixes 10.1.3.4/32")
            && c.contains("--destination-asgs asg-web"),
        "{c}"
    );
}

#[test]
fn usage_errors_name_the_exports_searched() {
    let e = base();
    let err = e
        .evaluate(&Query::parse("nic-nope", "nic-db-1", "22", "tcp").unwrap())
        .unwrap_err();
    assert!(
        err.contains("nic-nope") && err.contains("nics.json"),
        "{err}"
    );
    let err = e
        .evaluate(&Query::parse("203.0.113.9", "198.51.100.7", "22", "tcp").unwrap())
        .unwrap_err();
    assert!(
        err.contains("searched") && err.contains("nsgs.json"),
        "{err}"
    );
}

#[test]
fn bad_port_names_the_file_and_object_path() {
    let text = r#"[{"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/x", "name": "x",
      "type": "Microsoft.Network/networkSecurityGroups",
      "securityRules": [
        {"name": "a", "priority": 100, "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
         "sourceAddressPrefix": "*", "destinationAddressPrefix": "*", "destinationPortRange": "443"},
        {"name": "b", "priority": 110, "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
         "sourceAddressPrefix": "*", "destinationAddressPrefix": "*", "destinationPortRanges": ["80-x"]}]}]"#;
    let err = azure::load(&[Document::from_str("nsg.json", text).unwrap()]).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"nsg.json: [0].securityRules[1].destinationPortRanges[0]: "80-x" is not a port or range"#
    );
}

#[test]
fn proposed_changes_are_nsg_rules() {
    let e = base();
    let q = Query::parse("203.0.113.9", "nic-web-1", "8080", "tcp").unwrap();
    let c = e.proposed_changes(&q).unwrap();
    assert!(
        matches!(&c[0], FixChange::NsgRule { priority: 4096, nsg, .. } if nsg == "nsg-web-subnet")
    );
}

#[test]
fn a_2000_nic_estate_answers_fast() {
    let sub = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/big/subnets/s";
    let mut items = Vec::new();
    for i in 0..2000u32 {
        items.push(serde_json::json!({
            "id": format!("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/nic-{i}"),
            "name": format!("nic-{i}"), "type": "Microsoft.Network/networkInterfaces",
            "ipConfigurations": [{"privateIPAddress": format!("10.0.{}.{}", i / 250, i % 250 + 1), "subnet": {"id": sub},
              "applicationSecurityGroups": [{"id": format!("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/applicationSecurityGroups/asg-{}", i % 40)}]}]
        }));
    }
    let rules: Vec<serde_json::Value> = (0..400u32).map(|i| serde_json::json!({
        "name": format!("r{i}"), "priority": 100 + i, "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
        "sourceApplicationSecurityGroups": [{"id": format!("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/applicationSecurityGroups/asg-{}", i % 40)}],
        "destinationAddressPrefix": "*", "destinationPortRange": format!("{}", 20000 + i)})).collect();
    items.push(serde_json::json!({"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/big",
        "name": "big", "type": "Microsoft.Network/networkSecurityGroups", "securityRules": rules, "subnets": [{"id": sub}]}));
    items.push(serde_json::json!({"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/big",
        "name": "big", "type": "Microsoft.Network/virtualNetworks", "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
        "subnets": [{"id": sub, "addressPrefix": "10.0.0.0/16",
          "networkSecurityGroup": {"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/big"}}],
        "virtualNetworkPeerings": []}));
    let e = azure::load(&[Document {
        path: "big.json".into(),
        value: serde_json::Value::Array(items),
    }])
    .unwrap();
    let q = Query::parse("203.0.113.9", "nic-1999", "443", "tcp").unwrap();
    let t = std::time::Instant::now();
    let ev = e.evaluate(&q).unwrap();
    let took = t.elapsed();
    assert!(!ev.verdict.allowed);
    assert!(took.as_millis() < 100, "{took:?}");
}

#[test]
fn icmp_ignores_ports() {
    let e = base();
    assert!(
        check(&e, "nic-web-1", "nic-web-2", "0", "icmp")
            .verdict
            .allowed
    );
    let ev = check(&e, "203.0.113.9", "nic-web-1", "0", "icmp");
    assert!(!ev.verdict.allowed);
    let c = &commands(&ev)[0];
    assert!(
        c.contains("--protocol Icmp") && c.ends_with("--destination-port-ranges '*'"),
        "{c}"
    );
}

#[test]
fn source_port_restricted_allow_cannot_be_relied_on() {
    let text = r#"{"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/sp",
      "name": "sp", "type": "Microsoft.Network/networkSecurityGroups",
      "securityRules": [{"name": "AllowFromPort53", "priority": 100, "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
        "sourceAddressPrefix": "*", "destinationAddressPrefix": "*", "sourcePortRange": "53", "destinationPortRange": "443"}],
      "subnets": [{"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/a"}]}"#;
    let nic = r#"{"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/n1", "name": "n1",
      "type": "Microsoft.Network/networkInterfaces",
      "ipConfigurations": [{"privateIPAddress": "10.2.0.4", "subnet": {"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/a"}}]}"#;
    let vnet = r#"{"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v", "name": "v",
      "type": "Microsoft.Network/virtualNetworks", "addressSpace": {"addressPrefixes": ["10.2.0.0/16"]},
      "subnets": [{"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/a", "addressPrefix": "10.2.0.0/24"}],
      "virtualNetworkPeerings": []}"#;
    let docs = [
        Document::from_str("nsg.json", text).unwrap(),
        Document::from_str("nic.json", nic).unwrap(),
        Document::from_str("vnet.json", vnet).unwrap(),
    ];
    let e = azure::load(&docs).unwrap();
    let ev = check(&e, "203.0.113.9", "n1", "443", "tcp");
    assert!(!ev.verdict.allowed);
    assert_eq!(
        ev.verdict.cause,
        Cause::CloudNoAllowRule,
        "{:?}",
        ev.verdict
    );
    let w = ev.verdict.would_allow.as_ref().unwrap();
    assert!(w.rule.contains("ephemeral"), "{}", w.rule);
}
