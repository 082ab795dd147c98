//! Review findings on the AWS engine, each on a small, realistic `aws ec2 describe-* --output
//! json` estate. Every estate is also read by the fast path, which must build the same model.
#![allow(clippy::unwrap_used, missing_docs)]

use netdiag_cloud::aws::{self, Diagnosis, Estate};
use netdiag_cloud::doc::Document;
use netdiag_cloud::flow::Query;
use netdiag_cloud::verdict::{Cause, CloudLayer, Side, StepResult};
use std::path::PathBuf;

const VPCS: &str = r#"{"Vpcs": [{
  "CidrBlock": "10.0.0.0/16", "DhcpOptionsId": "dopt-1", "State": "available", "VpcId": "vpc-1",
  "OwnerId": "111122223333", "InstanceTenancy": "default", "IsDefault": false,
  "CidrBlockAssociationSet": [{"AssociationId": "vpc-cidr-assoc-1", "CidrBlock": "10.0.0.0/16", "CidrBlockState": {"State": "associated"}}],
  "Ipv6CidrBlockAssociationSet": [{"AssociationId": "vpc-cidr-assoc-6", "Ipv6CidrBlock": "2600:1f18:1:100::/56", "Ipv6CidrBlockState": {"State": "associated"}, "NetworkBorderGroup": "us-east-1", "Ipv6Pool": "Amazon"}]
}]}"#;

const SUBNETS: &str = r#"{"Subnets": [
  {"AvailabilityZone": "us-east-1a", "CidrBlock": "10.0.1.0/24", "State": "available", "SubnetId": "subnet-a", "VpcId": "vpc-1",
   "Ipv6CidrBlockAssociationSet": [{"AssociationId": "subnet-cidr-assoc-a", "Ipv6CidrBlock": "2600:1f18:1:101::/64", "Ipv6CidrBlockState": {"State": "associated"}}]},
  {"AvailabilityZone": "us-east-1b", "CidrBlock": "10.0.2.0/24", "State": "available", "SubnetId": "subnet-b", "VpcId": "vpc-1",
   "Ipv6CidrBlockAssociationSet": [{"AssociationId": "subnet-cidr-assoc-b", "Ipv6CidrBlock": "2600:1f18:1:102::/64", "Ipv6CidrBlockState": {"State": "associated"}}]}
]}"#;

/// i-a (eni-a, 10.0.1.10, no public address, sg-a) in subnet-a; i-b (eni-b, 10.0.2.20 with the
/// Elastic IP 54.0.0.20, sg-b) in subnet-b. Both have an IPv6 address.
const INSTANCES: &str = r#"{"Reservations": [{"ReservationId": "r-1", "OwnerId": "111122223333", "Groups": [], "Instances": [
  {"InstanceId": "i-a", "ImageId": "ami-1", "InstanceType": "t3.micro", "State": {"Code": 16, "Name": "running"},
   "PrivateIpAddress": "10.0.1.10", "SubnetId": "subnet-a", "VpcId": "vpc-1",
   "SecurityGroups": [{"GroupName": "a", "GroupId": "sg-a"}],
   "NetworkInterfaces": [{
     "Attachment": {"AttachmentId": "eni-attach-a", "DeleteOnTermination": true, "DeviceIndex": 0, "Status": "attached", "NetworkCardIndex": 0},
     "Groups": [{"GroupName": "a", "GroupId": "sg-a"}],
     "Ipv6Addresses": [{"Ipv6Address": "2600:1f18:1:101::10", "IsPrimaryIpv6": false}],
     "MacAddress": "0a:00:00:00:00:0a", "NetworkInterfaceId": "eni-a", "OwnerId": "111122223333",
     "PrivateIpAddress": "10.0.1.10",
     "PrivateIpAddresses": [{"Primary": true, "PrivateIpAddress": "10.0.1.10"}],
     "SourceDestCheck": true, "Status": "in-use", "SubnetId": "subnet-a", "VpcId": "vpc-1", "InterfaceType": "interface"
   }]},
  {"InstanceId": "i-b", "ImageId": "ami-1", "InstanceType": "t3.micro", "State": {"Code": 16, "Name": "running"},
   "PrivateIpAddress": "10.0.2.20", "PublicIpAddress": "54.0.0.20", "SubnetId": "subnet-b", "VpcId": "vpc-1",
   "SecurityGroups": [{"GroupName": "b", "GroupId": "sg-b"}],
   "NetworkInterfaces": [{
     "Association": {"IpOwnerId": "111122223333", "PublicDnsName": "", "PublicIp": "54.0.0.20"},
     "Attachment": {"AttachmentId": "eni-attach-b", "DeleteOnTermination": true, "DeviceIndex": 0, "Status": "attached", "NetworkCardIndex": 0},
     "Groups": [{"GroupName": "b", "GroupId": "sg-b"}],
     "Ipv6Addresses": [{"Ipv6Address": "2600:1f18:1:102::20", "IsPrimaryIpv6": false}],
     "MacAddress": "0a:00:00:00:00:0b", "NetworkInterfaceId": "eni-b", "OwnerId": "111122223333",
     "PrivateIpAddress": "10.0.2.20",
     "PrivateIpAddresses": [{"Association": {"IpOwnerId": "111122223333", "PublicDnsName": "", "PublicIp": "54.0.0.20"}, "Primary": true, "PrivateIpAddress": "10.0.2.20"}],
     "SourceDestCheck": true, "Status": "in-use", "SubnetId": "subnet-b", "VpcId": "vpc-1", "InterfaceType": "interface"
   }]}
]}]}"#;

/// sg-a: all egress. sg-b: tcp 443 from sg-a and from the VPC's IPv6 range.
const SGS: &str = r#"{"SecurityGroups": [
  {"Description": "a", "GroupName": "a", "IpPermissions": [], "OwnerId": "111122223333", "GroupId": "sg-a",
   "IpPermissionsEgress": [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}], "Ipv6Ranges": [{"CidrIpv6": "::/0"}], "PrefixListIds": [], "UserIdGroupPairs": []}],
   "VpcId": "vpc-1"},
  {"Description": "b", "GroupName": "b", "OwnerId": "111122223333", "GroupId": "sg-b",
   "IpPermissions": [{"FromPort": 443, "IpProtocol": "tcp", "IpRanges": [], "Ipv6Ranges": [{"CidrIpv6": "2600:1f18:1:100::/56"}], "PrefixListIds": [], "ToPort": 443,
                      "UserIdGroupPairs": [{"GroupId": "sg-a", "UserId": "111122223333"}]}],
   "IpPermissionsEgress": [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}], "Ipv6Ranges": [{"CidrIpv6": "::/0"}], "PrefixListIds": [], "UserIdGroupPairs": []}],
   "VpcId": "vpc-1"}
]}"#;

/// The default ACL as AWS creates it, associated with both subnets.
const DEFAULT_ACL: &str = r#"{"NetworkAcls": [{
  "Associations": [
    {"NetworkAclAssociationId": "aclassoc-a", "NetworkAclId": "acl-default", "SubnetId": "subnet-a"},
    {"NetworkAclAssociationId": "aclassoc-b", "NetworkAclId": "acl-default", "SubnetId": "subnet-b"}],
  "Entries": [
    {"CidrBlock": "0.0.0.0/0", "Egress": true, "Protocol": "-1", "RuleAction": "allow", "RuleNumber": 100},
    {"Egress": true, "Ipv6CidrBlock": "::/0", "Protocol": "-1", "RuleAction": "allow", "RuleNumber": 101},
    {"CidrBlock": "0.0.0.0/0", "Egress": true, "Protocol": "-1", "RuleAction": "deny", "RuleNumber": 32767},
    {"Egress": true, "Ipv6CidrBlock": "::/0", "Protocol": "-1", "RuleAction": "deny", "RuleNumber": 32768},
    {"CidrBlock": "0.0.0.0/0", "Egress": false, "Protocol": "-1", "RuleAction": "allow", "RuleNumber": 100},
    {"Egress": false, "Ipv6CidrBlock": "::/0", "Protocol": "-1", "RuleAction": "allow", "RuleNumber": 101},
    {"CidrBlock": "0.0.0.0/0", "Egress": false, "Protocol": "-1", "RuleAction": "deny", "RuleNumber": 32767},
    {"Egress": false, "Ipv6CidrBlock": "::/0", "Protocol": "-1", "RuleAction": "deny", "RuleNumber": 32768}],
  "IsDefault": true, "NetworkAclId": "acl-default", "Tags": [], "VpcId": "vpc-1", "OwnerId": "111122223333"
}]}"#;

/// The main table: local routes and the internet through igw-1.
const ROUTES: &str = r#"{"RouteTables": [{
  "Associations": [{"Main": true, "RouteTableAssociationId": "rtbassoc-main", "RouteTableId": "rtb-main", "AssociationState": {"State": "associated"}}],
  "PropagatingVgws": [], "RouteTableId": "rtb-main",
  "Routes": [
    {"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local", "Origin": "CreateRouteTable", "State": "active"},
    {"DestinationIpv6CidrBlock": "2600:1f18:1:100::/56", "GatewayId": "local", "Origin": "CreateRouteTable", "State": "active"},
    {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": "igw-1", "Origin": "CreateRoute", "State": "active"},
    {"DestinationIpv6CidrBlock": "::/0", "GatewayId": "igw-1", "Origin": "CreateRoute", "State": "active"}],
  "Tags": [], "VpcId": "vpc-1", "OwnerId": "111122223333"
}]}"#;

/// Loads the exports through the generic parser and through the fast path; both must agree.
fn load(files: &[(&str, &str)]) -> Estate {
    let docs: Vec<Document> = files
        .iter()
        .map(|(name, text)| Document::from_str(*name, text).unwrap())
        .collect();
    let generic = aws::load(&docs).unwrap();
    let dir = std::env::temp_dir().join(format!(
        "netdiag-review-aws-{}-{}",
        std::process::id(),
        std::thread::current()
            .name()
            .unwrap_or("t")
            .replace("::", "-")
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let paths: Vec<PathBuf> = files
        .iter()
        .map(|(name, text)| {
            let p = dir.join(name);
            std::fs::write(&p, text).unwrap();
            p
        })
        .collect();
    if let Some(fast) = aws::fast::load_files(&paths) {
        assert_eq!(
            fast, generic,
            "the fast path and the generic parser disagree"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    generic
}

fn ask(e: &Estate, src: &str, dst: &str, port: &str, proto: &str) -> Diagnosis {
    let d = e
        .diagnose(&Query::parse(src, dst, port, proto).unwrap())
        .unwrap();
    let v = &d.evaluation.verdict;
    for c in v.fix.iter().flat_map(|f| &f.commands).chain(&v.rollback) {
        assert!(!c.contains("0.0.0.0/0") && !c.contains("::/0"), "{c}");
    }
    d
}

fn commands(d: &Diagnosis) -> Vec<String> {
    d.evaluation
        .verdict
        .fix
        .as_ref()
        .map(|f| f.commands.clone())
        .unwrap_or_default()
}

fn base() -> Vec<(&'static str, &'static str)> {
    vec![
        ("vpcs.json", VPCS),
        ("subnets.json", SUBNETS),
        ("instances.json", INSTANCES),
        ("sgs.json", SGS),
        ("acls.json", DEFAULT_ACL),
        ("rtbs.json", ROUTES),
    ]
}

#[test]
fn the_base_estate_allows_the_flow() {
    let e = load(&base());
    let d = ask(&e, "i-a", "i-b", "443", "tcp");
    assert!(d.evaluation.verdict.allowed, "{:#?}", d.evaluation);
}

/// One custom ACL on both subnets (common): the forward leg out of subnet-a and the reply out
/// of subnet-b both need an egress entry in the same ACL, and both sit below `*`. Two
/// `create-network-acl-entry` commands with the same rule number: the second fails.
#[test]
fn fixes_on_one_shared_acl_never_reuse_a_rule_number() {
    let acl = r#"{"NetworkAcls": [{
      "Associations": [
        {"NetworkAclAssociationId": "aclassoc-a", "NetworkAclId": "acl-shared", "SubnetId": "subnet-a"},
        {"NetworkAclAssociationId": "aclassoc-b", "NetworkAclId": "acl-shared", "SubnetId": "subnet-b"}],
      "Entries": [
        {"CidrBlock": "0.0.0.0/0", "Egress": true, "Protocol": "-1", "RuleAction": "deny", "RuleNumber": 32767},
        {"CidrBlock": "0.0.0.0/0", "Egress": false, "Protocol": "-1", "RuleAction": "deny", "RuleNumber": 32767}],
      "IsDefault": false, "NetworkAclId": "acl-shared", "Tags": [], "VpcId": "vpc-1", "OwnerId": "111122223333"
    }]}"#;
    let mut files = base();
    files.retain(|(n, _)| *n != "acls.json");
    files.push(("acls.json", acl));
    let e = load(&files);
    let d = ask(&e, "i-a", "i-b", "443", "tcp");
    let v = &d.evaluation.verdict;
    assert_eq!(v.cause, Cause::CloudNoAllowRule);
    let cmds = commands(&d);
    assert_eq!(cmds.len(), 4, "{cmds:#?}");
    let mut keys: Vec<(String, String)> = cmds
        .iter()
        .map(|c| {
            let dir = if c.contains(" --egress ") {
                "egress"
            } else {
                "ingress"
            };
            let n = c
                .split("--rule-number ")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap();
            (dir.to_string(), n.to_string())
        })
        .collect();
    keys.sort();
    let before = keys.len();
    keys.dedup();
    assert_eq!(keys.len(), before, "rule numbers collide: {cmds:#?}");
    // And the rollback deletes each of them.
    for c in &cmds {
        let n = c
            .split("--rule-number ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap();
        assert!(
            v.rollback
                .iter()
                .any(|r| r.ends_with(&format!("--rule-number {n}"))),
            "{:#?}",
            v.rollback
        );
    }
    let mut fixed = e.clone();
    for c in &d.changes {
        fixed.apply(c);
    }
    let after = ask(&fixed, "i-a", "i-b", "443", "tcp");
    assert!(after.evaluation.verdict.allowed, "{:#?}", after.evaluation);
}

fn with(replace: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
    let mut files: Vec<(&'static str, String)> = base()
        .into_iter()
        .map(|(n, t)| (n, t.to_string()))
        .collect();
    for (name, text) in replace {
        files.retain(|(n, _)| n != name);
        files.push((name, text.clone()));
    }
    files
}

fn load_owned(files: &[(&'static str, String)]) -> Estate {
    let borrowed: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    load(&borrowed)
}

/// i-a has no public address, so reaching i-b by its Elastic IP it is seen as a NAT gateway's
/// address the exports lack. An IPv6 rule (`::/0`) says nothing about that IPv4 address.
#[test]
fn an_ipv6_any_rule_does_not_admit_an_ipv4_source_behind_nat() {
    let sgs = SGS.replace(
        r#""IpPermissions": [{"FromPort": 443"#,
        r#""IpPermissions": [{"FromPort": 8443, "IpProtocol": "tcp", "IpRanges": [], "Ipv6Ranges": [{"CidrIpv6": "::/0"}], "PrefixListIds": [], "ToPort": 8443, "UserIdGroupPairs": []},
                             {"FromPort": 443"#,
    );
    let e = load_owned(&with(&[("sgs.json", sgs)]));
    let d = ask(&e, "i-a", "54.0.0.20", "8443", "tcp");
    let v = &d.evaluation.verdict;
    assert!(!v.allowed, "{:#?}", d.evaluation);
    let sg = d
        .evaluation
        .path
        .iter()
        .find(|s| s.layer == CloudLayer::Sg)
        .unwrap();
    assert_ne!(sg.result, StepResult::Allow, "{sg:#?}");
}

/// A deny of all IPv6 (`::/0`) in a custom ACL says nothing about an IPv4 source behind NAT.
#[test]
fn an_ipv6_any_acl_entry_does_not_match_an_ipv4_source_behind_nat() {
    let acl = DEFAULT_ACL.replace(
        r#"{"CidrBlock": "0.0.0.0/0", "Egress": false, "Protocol": "-1", "RuleAction": "allow", "RuleNumber": 100},"#,
        r#"{"Egress": false, "Ipv6CidrBlock": "::/0", "Protocol": "-1", "RuleAction": "deny", "RuleNumber": 50},
           {"CidrBlock": "0.0.0.0/0", "Egress": false, "Protocol": "-1", "RuleAction": "allow", "RuleNumber": 100},"#,
    );
    let e = load_owned(&with(&[("acls.json", acl)]));
    let d = ask(&e, "i-a", "54.0.0.20", "443", "tcp");
    let inbound = d
        .evaluation
        .path
        .iter()
        .find(|s| s.layer == CloudLayer::Nacl && s.side == Side::DestinationIngress)
        .unwrap();
    assert_eq!(inbound.result, StepResult::Allow, "{inbound:#?}");
    assert!(inbound.rule.as_deref().unwrap().starts_with("#100"));
}

/// `--from i-a --to <an IPv6 address>`: the instance's IPv6 address is the source.
#[test]
fn an_instance_id_takes_the_address_family_of_the_other_end() {
    let e = load(&base());
    let d = ask(&e, "i-a", "2600:1f18:1:102::20", "443", "tcp");
    assert!(d.evaluation.verdict.allowed, "{:#?}", d.evaluation);
    assert_eq!(
        d.evaluation.flow["src_resolved"]["address"],
        "2600:1f18:1:101::10"
    );
    let d = ask(&e, "2600:1f18:1:101::10", "eni-b", "443", "tcp");
    assert_eq!(
        d.evaluation.flow["dst_resolved"]["address"],
        "2600:1f18:1:102::20"
    );
    let d = ask(&e, "i-a", "i-b", "443", "tcp");
    assert_eq!(d.evaluation.flow["src_resolved"]["address"], "10.0.1.10");
}

const SG_B_FROM: &str = r#""UserIdGroupPairs": [{"GroupId": "sg-a", "UserId": "111122223333"}]}],"#;

fn sg_b_also_from(cidr: &str) -> String {
    SGS.replace(
        SG_B_FROM,
        &format!(
            r#""UserIdGroupPairs": [{{"GroupId": "sg-a", "UserId": "111122223333"}}]}},
               {{"FromPort": 443, "IpProtocol": "tcp", "IpRanges": [{{"CidrIp": "{cidr}"}}], "Ipv6Ranges": [], "PrefixListIds": [], "ToPort": 443, "UserIdGroupPairs": []}}],"#
        ),
    )
}

fn rtb_b(routes: &str) -> String {
    ROUTES.replace(
        r#"  "Tags": [], "VpcId": "vpc-1", "OwnerId": "111122223333"
}]}"#,
        &format!(
            r#"  "Tags": [], "VpcId": "vpc-1", "OwnerId": "111122223333"
}},
{{"Associations": [{{"Main": false, "RouteTableAssociationId": "rtbassoc-b", "RouteTableId": "rtb-b", "SubnetId": "subnet-b", "AssociationState": {{"State": "associated"}}}}],
  "PropagatingVgws": [{{"GatewayId": "vgw-1"}}], "RouteTableId": "rtb-b",
  "Routes": [
    {{"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local", "Origin": "CreateRouteTable", "State": "active"}}{routes}],
  "Tags": [], "VpcId": "vpc-1", "OwnerId": "111122223333"
}}]}}"#
        ),
    )
}

/// An on-premises client reaches i-b's private address; subnet-b's table has only the local
/// route, so the reply has nowhere to go.
#[test]
fn the_reply_to_a_source_outside_the_exports_needs_a_route() {
    let e = load_owned(&with(&[
        ("sgs.json", sg_b_also_from("192.168.0.0/16")),
        ("rtbs.json", rtb_b("")),
    ]));
    let d = ask(&e, "192.168.10.5", "i-b", "443", "tcp");
    let v = &d.evaluation.verdict;
    assert!(!v.allowed, "{:#?}", d.evaluation);
    assert_eq!(v.cause, Cause::CloudNoRoute);
    assert_eq!(v.layer, Some(CloudLayer::Route));
    assert_eq!(v.side, Some(Side::Reply));
    assert_eq!(v.blocking.as_ref().unwrap().resource, "rtb-b");
    // With a route back (a VPN through vgw-1) it is allowed.
    let e = load_owned(&with(&[
        ("sgs.json", sg_b_also_from("192.168.0.0/16")),
        (
            "rtbs.json",
            rtb_b(
                r#", {"DestinationCidrBlock": "192.168.0.0/16", "GatewayId": "vgw-1", "Origin": "EnableVgwRoutePropagation", "State": "active"}"#,
            ),
        ),
    ]));
    let d = ask(&e, "192.168.10.5", "i-b", "443", "tcp");
    assert!(d.evaluation.verdict.allowed, "{:#?}", d.evaluation);
}

/// The classic: an instance with an Elastic IP in a private subnet (default route through a NAT
/// gateway). The request arrives through the internet gateway; the reply leaves through the NAT
/// gateway with another source address, and the client drops it.
#[test]
fn a_public_address_needs_the_reply_to_leave_by_the_internet_gateway() {
    let nat = r#", {"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": "nat-1", "Origin": "CreateRoute", "State": "active"}"#;
    let e = load_owned(&with(&[
        ("sgs.json", sg_b_also_from("198.51.100.0/24")),
        ("rtbs.json", rtb_b(nat)),
    ]));
    let d = ask(&e, "198.51.100.7", "54.0.0.20", "443", "tcp");
    let v = &d.evaluation.verdict;
    assert!(!v.allowed, "{:#?}", d.evaluation);
    assert_eq!(v.layer, Some(CloudLayer::Route));
    assert_eq!(v.side, Some(Side::Reply));
    assert!(
        v.blocking.as_ref().unwrap().rule.contains("nat-1"),
        "{v:#?}"
    );
    // Through the internet gateway it works.
    let igw = r#", {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": "igw-1", "Origin": "CreateRoute", "State": "active"}"#;
    let e = load_owned(&with(&[
        ("sgs.json", sg_b_also_from("198.51.100.0/24")),
        ("rtbs.json", rtb_b(igw)),
    ]));
    let d = ask(&e, "198.51.100.7", "54.0.0.20", "443", "tcp");
    assert!(d.evaluation.verdict.allowed, "{:#?}", d.evaluation);
}

/// Without `describe-vpcs`, the VPC's ranges still show in the route tables' local routes: an
/// address inside them that the inventory lacks may be a member of the referenced group.
#[test]
fn group_membership_of_an_unlisted_address_in_the_vpc_is_unknown_without_describe_vpcs() {
    let files: Vec<(&str, &str)> = base()
        .into_iter()
        .filter(|(n, _)| *n != "vpcs.json" && *n != "subnets.json")
        .collect();
    let e = load(&files);
    let d = ask(&e, "10.0.1.77", "i-b", "443", "tcp");
    let v = &d.evaluation.verdict;
    assert_eq!(v.cause, Cause::CloudUnknown, "{v:#?}");
    assert!(v.unknown.iter().any(|m| m.what.contains("sg-a")), "{v:#?}");
    // Outside every range the exports show: not a member.
    let d = ask(&e, "192.0.2.9", "i-b", "443", "tcp");
    assert_eq!(d.evaluation.verdict.cause, Cause::CloudNoAllowRule);
    // With no VPC ranges at all, membership cannot be ruled out.
    let files: Vec<(&str, &str)> = files
        .into_iter()
        .filter(|(n, _)| *n != "rtbs.json")
        .collect();
    let e = load(&files);
    let d = ask(&e, "192.0.2.9", "i-b", "443", "tcp");
    assert_eq!(d.evaluation.verdict.cause, Cause::CloudUnknown);
}

/// Same prefix, two routes: a static route beats a propagated one, whatever the order printed.
#[test]
fn a_static_route_beats_a_propagated_route_for_the_same_prefix() {
    let routes = r#", {"DestinationCidrBlock": "172.16.0.0/16", "GatewayId": "vgw-1", "Origin": "EnableVgwRoutePropagation", "State": "active"},
       {"DestinationCidrBlock": "172.16.0.0/16", "VpcPeeringConnectionId": "pcx-1", "Origin": "CreateRoute", "State": "active"}"#;
    let e = load_owned(&with(&[("rtbs.json", rtb_b(routes))]));
    let d = ask(&e, "i-b", "172.16.5.5", "443", "tcp");
    let route = d
        .evaluation
        .path
        .iter()
        .find(|s| s.layer == CloudLayer::Route && s.side == Side::Path)
        .unwrap();
    assert!(
        route.rule.as_deref().unwrap().contains("pcx-1"),
        "{route:#?}"
    );
}
