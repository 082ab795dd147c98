//! Review findings on the Azure engine, each on a small, realistic `az … -o json` export.
#![allow(clippy::unwrap_used, missing_docs)]

use netdiag_cloud::azure::{self, Estate};
use netdiag_cloud::doc::Document;
use netdiag_cloud::flow::Query;
use netdiag_cloud::verdict::{Cause, Evaluation};

const SUB: &str = "/subscriptions/0b1f6471-1bf0-4dda-aec3-111122223333/resourceGroups/rg-app/providers/Microsoft.Network";

fn doc(name: &str, text: &str) -> Document {
    Document::from_str(name, &text.replace("$SUB", SUB)).unwrap()
}

const VNET: &str = r#"{
  "id": "$SUB/virtualNetworks/vnet-app",
  "name": "vnet-app",
  "type": "Microsoft.Network/virtualNetworks",
  "resourceGroup": "rg-app",
  "location": "westeurope",
  "addressSpace": {"addressPrefixes": ["10.20.0.0/16", "fd00:20::/48"]},
  "subnets": [
    {"id": "$SUB/virtualNetworks/vnet-app/subnets/snet-app", "name": "snet-app",
     "addressPrefix": null, "addressPrefixes": ["10.20.1.0/24", "fd00:20:0:1::/64"],
     "networkSecurityGroup": {"id": "$SUB/networkSecurityGroups/nsg-app", "resourceGroup": "rg-app"},
     "type": "Microsoft.Network/virtualNetworks/subnets"}
  ],
  "virtualNetworkPeerings": []
}"#;

/// A dual-stack NIC with a second IP configuration that carries the public IP.
const NIC: &str = r#"{
  "id": "$SUB/networkInterfaces/nic-app-1",
  "name": "nic-app-1",
  "type": "Microsoft.Network/networkInterfaces",
  "resourceGroup": "rg-app",
  "ipConfigurations": [
    {"id": "$SUB/networkInterfaces/nic-app-1/ipConfigurations/ipconfig1", "name": "ipconfig1",
     "primary": true, "privateIPAddress": "10.20.1.4", "privateIPAddressVersion": "IPv4",
     "subnet": {"id": "$SUB/virtualNetworks/vnet-app/subnets/snet-app", "resourceGroup": "rg-app"}},
    {"id": "$SUB/networkInterfaces/nic-app-1/ipConfigurations/ipconfig-v6", "name": "ipconfig-v6",
     "primary": false, "privateIPAddress": "fd00:20:0:1::4", "privateIPAddressVersion": "IPv6",
     "subnet": {"id": "$SUB/virtualNetworks/vnet-app/subnets/snet-app", "resourceGroup": "rg-app"}},
    {"id": "$SUB/networkInterfaces/nic-app-1/ipConfigurations/ipconfig-pub", "name": "ipconfig-pub",
     "primary": false, "privateIPAddress": "10.20.1.5", "privateIPAddressVersion": "IPv4",
     "subnet": {"id": "$SUB/virtualNetworks/vnet-app/subnets/snet-app", "resourceGroup": "rg-app"},
     "publicIPAddress": {"id": "$SUB/publicIPAddresses/pip-app-1", "resourceGroup": "rg-app"}}
  ],
  "networkSecurityGroup": null,
  "virtualMachine": {"id": "/subscriptions/0b1f6471-1bf0-4dda-aec3-111122223333/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/vm-app-1", "resourceGroup": "rg-app"}
}"#;

const PIP: &str = r#"{
  "id": "$SUB/publicIPAddresses/pip-app-1",
  "name": "pip-app-1",
  "type": "Microsoft.Network/publicIPAddresses",
  "ipAddress": "20.61.7.8",
  "publicIPAddressVersion": "IPv4",
  "ipConfiguration": {"id": "$SUB/networkInterfaces/nic-app-1/ipConfigurations/ipconfig-pub", "resourceGroup": "rg-app"}
}"#;

fn nsg(rules: &str) -> String {
    format!(
        r#"{{
  "id": "$SUB/networkSecurityGroups/nsg-app",
  "name": "nsg-app",
  "type": "Microsoft.Network/networkSecurityGroups",
  "resourceGroup": "rg-app",
  "location": "westeurope",
  "securityRules": {rules},
  "subnets": [{{"id": "$SUB/virtualNetworks/vnet-app/subnets/snet-app", "resourceGroup": "rg-app"}}]
}}"#
    )
}

fn rule(name: &str, priority: u32, access: &str, src: &str, dst_ip: &str, port: &str) -> String {
    format!(
        r#"{{"name": "{name}", "priority": {priority}, "direction": "Inbound", "access": "{access}",
  "protocol": "Tcp", "sourceAddressPrefix": "{src}", "sourceAddressPrefixes": [],
  "sourcePortRange": "*", "sourcePortRanges": [],
  "destinationAddressPrefix": "{dst_ip}", "destinationAddressPrefixes": [],
  "destinationPortRange": "{port}", "destinationPortRanges": [],
  "type": "Microsoft.Network/networkSecurityGroups/securityRules", "provisioningState": "Succeeded"}}"#
    )
}

fn load(rules: &[String]) -> Estate {
    let nsg = nsg(&format!("[{}]", rules.join(",")));
    azure::load(&[
        doc("vnet.json", VNET),
        doc("nic.json", NIC),
        doc("pip.json", PIP),
        doc("nsg.json", &nsg),
    ])
    .unwrap()
}

fn check(e: &Estate, src: &str, dst: &str, port: &str) -> Evaluation {
    e.evaluate(&Query::parse(src, dst, port, "tcp").unwrap())
        .unwrap()
}

/// `0.0.0.0/0` is an IPv4 prefix: it does not match IPv6 traffic (only `*`/`Any` match both).
#[test]
fn ipv4_any_prefix_does_not_match_ipv6_sources() {
    let e = load(&[rule(
        "allow-https-v4-any",
        200,
        "Allow",
        "0.0.0.0/0",
        "*",
        "443",
    )]);
    let ev = check(&e, "2001:db8::7", "fd00:20:0:1::4", "443");
    assert!(!ev.verdict.allowed, "{:?}", ev.verdict);
    assert_eq!(
        ev.verdict.cause,
        Cause::CloudNoAllowRule,
        "{:?}",
        ev.verdict
    );
    let ev = check(&e, "203.0.113.7", "10.20.1.4", "443");
    assert!(ev.verdict.allowed, "{:?}", ev.verdict);
}

/// A public IP on a secondary IP configuration reaches that configuration's private address,
/// not the NIC's first one.
#[test]
fn public_ip_on_a_secondary_ip_configuration_reaches_its_own_private_address() {
    // Only the secondary configuration's address is open.
    let e = load(&[rule(
        "allow-https-pub",
        200,
        "Allow",
        "Internet",
        "10.20.1.5",
        "443",
    )]);
    let ev = check(&e, "203.0.113.7", "20.61.7.8", "443");
    assert!(ev.verdict.allowed, "{:?}", ev.verdict);
    let e = load(&[rule(
        "allow-https-primary",
        200,
        "Allow",
        "Internet",
        "10.20.1.4",
        "443",
    )]);
    let ev = check(&e, "203.0.113.7", "20.61.7.8", "443");
    assert!(!ev.verdict.allowed, "{:?}", ev.verdict);
}

/// A VM connecting to another VM's *public* address leaves the VNet: its outbound NSGs see the
/// public destination (Internet, not VirtualNetwork) and the destination's inbound NSGs see the
/// source's public address, so `AllowVnetInBound` does not let it in.
#[test]
fn connecting_to_a_public_address_is_not_virtual_network_traffic() {
    let vnet_only = rule(
        "allow-https-vnet",
        200,
        "Allow",
        "VirtualNetwork",
        "*",
        "443",
    );
    let deny_rest = rule("deny-https", 300, "Deny", "*", "*", "443");
    let e = load(&[vnet_only, deny_rest]);
    // Inside the VNet: allowed by the VirtualNetwork rule.
    let ev = check(&e, "10.20.1.5", "10.20.1.4", "443");
    assert!(ev.verdict.allowed, "{:?}", ev.verdict);
    // To the public address from the ipconfig that owns it: the source is 20.61.7.8.
    let ev = check(&e, "10.20.1.5", "20.61.7.8", "443");
    assert!(!ev.verdict.allowed, "{:?}", ev.verdict);
    assert_eq!(ev.verdict.cause, Cause::CloudDenyRule, "{:?}", ev.verdict);
    // From an ipconfig without a public address: its outbound address is not in the exports.
    let ev = check(&e, "10.20.1.4", "20.61.7.8", "443");
    assert!(!ev.verdict.allowed, "{:?}", ev.verdict);
}
