//! AWS conformance suite: one test per rule of the VPC documentation that the evaluator
//! implements, against realistic `aws ec2 describe-* --output json` exports in
//! `tests/fixtures/aws/` (a main VPC with app/data/batch subnets, a peered VPC, prefix lists).
#![allow(clippy::unwrap_used, missing_docs)]

use netdiag_cloud::aws::{self, Diagnosis, Estate};
use netdiag_cloud::doc;
use netdiag_cloud::flow::Query;
use netdiag_cloud::verdict::{Cause, CloudLayer, Side, StepResult};
use std::path::PathBuf;
use std::sync::OnceLock;

fn estate() -> &'static Estate {
    static ESTATE: OnceLock<Estate> = OnceLock::new();
    ESTATE.get_or_init(|| {
        let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/aws"));
        aws::load(&doc::load(&[dir]).unwrap()).unwrap()
    })
}

fn ask(src: &str, dst: &str, port: &str, proto: &str) -> Diagnosis {
    let d = estate()
        .diagnose(&Query::parse(src, dst, port, proto).unwrap())
        .unwrap();
    // Every answer, whatever it is: no fix ever opens a whole address family.
    let v = &d.evaluation.verdict;
    for c in v.fix.iter().flat_map(|f| &f.commands).chain(&v.rollback) {
        assert!(!c.contains("0.0.0.0/0") && !c.contains("::/0"), "{c}");
    }
    d
}

fn step(d: &Diagnosis, layer: CloudLayer, side: Side) -> &netdiag_cloud::verdict::Step {
    d.evaluation
        .path
        .iter()
        .find(|s| s.layer == layer && s.side == side)
        .unwrap_or_else(|| panic!("no {layer:?}/{side:?} step in {:#?}", d.evaluation.path))
}

fn commands(d: &Diagnosis) -> Vec<String> {
    d.evaluation
        .verdict
        .fix
        .as_ref()
        .map(|f| f.commands.clone())
        .unwrap_or_default()
}

#[test]
fn allowed_end_to_end_by_sg_reference_nacls_and_local_route() {
    let d = ask("10.0.1.10", "10.0.2.20", "8080", "tcp");
    let v = &d.evaluation.verdict;
    assert!(v.allowed, "{v:#?}");
    assert_eq!(v.cause, Cause::Ok);
    assert!(v.fix.is_none() && d.changes.is_empty());
    let sg = step(&d, CloudLayer::Sg, Side::DestinationIngress);
    assert!(sg.rule.as_ref().unwrap().contains("members of sg-0web"));
    assert_eq!(
        step(&d, CloudLayer::Route, Side::Path).rule.as_deref(),
        Some("10.0.0.0/16 -> local (active)")
    );
}

#[test]
fn instance_and_interface_ids_resolve_to_the_primary_private_address() {
    let a = ask("i-0web1", "eni-0api1", "8080", "tcp");
    assert!(a.evaluation.verdict.allowed);
    assert_eq!(a.evaluation.flow["src_resolved"]["address"], "10.0.1.10");
    assert_eq!(a.evaluation.flow["dst_resolved"]["interface"], "eni-0api1");
    let err = estate()
        .diagnose(&Query::parse("i-0ghost", "10.0.2.20", "80", "tcp").unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("i-0ghost") && err.contains("describe-instances --instance-ids i-0ghost"),
        "{err}"
    );
}

#[test]
fn nacl_lowest_rule_number_wins_and_the_shadowed_allow_is_the_nearest_miss() {
    // acl-0data: #90 deny tcp 22 from 10.0.0.0/8 before #200 allow tcp 22 from 10.0.0.0/16.
    let d = ask("10.0.1.10", "10.0.2.20", "22", "tcp");
    let v = &d.evaluation.verdict;
    assert_eq!(v.layer, Some(CloudLayer::Nacl));
    assert_eq!(v.cause, Cause::CloudDenyRule);
    assert_eq!(v.side, Some(Side::DestinationIngress));
    let b = v.blocking.as_ref().unwrap();
    assert_eq!(b.resource, "acl-0data");
    assert_eq!(b.rule, "#90 deny tcp 22 from 10.0.0.0/8");
    assert!(v
        .would_allow
        .as_ref()
        .unwrap()
        .rule
        .starts_with("#200 allow tcp 22"));
    // The NACL fix sits below #90; the SG block behind it is fixed too.
    let cmds = commands(&d);
    assert!(cmds[0].starts_with("aws ec2 create-network-acl-entry --network-acl-id acl-0data --ingress --rule-number 80 --protocol 6 --port-range From=22,To=22 --cidr-block 10.0.1.10/32 --rule-action allow"), "{cmds:?}");
    assert!(cmds
        .iter()
        .any(|c| c.contains("authorize-security-group-ingress --group-id sg-0api")));
    assert!(v.rollback.iter().any(|c| c == "aws ec2 delete-network-acl-entry --network-acl-id acl-0data --ingress --rule-number 80"));
    assert!(v.prestate.contains(
        &"aws ec2 describe-network-acls --network-acl-ids acl-0data --output json".to_string()
    ));
}

#[test]
fn nacl_star_rule_is_last_and_denies_what_nothing_allowed() {
    let d = ask("10.0.1.10", "10.0.2.20", "1000", "tcp");
    let v = &d.evaluation.verdict;
    assert_eq!(v.layer, Some(CloudLayer::Nacl));
    assert_eq!(v.cause, Cause::CloudNoAllowRule);
    assert!(
        v.blocking
            .as_ref()
            .unwrap()
            .rule
            .starts_with("#32767 deny all"),
        "{v:#?}"
    );
    assert!(commands(&d)[0].contains("--rule-number 32760 "));
}

#[test]
fn stateless_reply_needs_the_whole_ephemeral_range() {
    // acl-0data outbound: #105 allows 1024-49151 to the batch subnet, #115 denies the rest.
    let d = ask("10.0.3.40", "10.0.2.30", "5432", "tcp");
    let v = &d.evaluation.verdict;
    assert_eq!(v.cause, Cause::CloudNaclReturnBlocked);
    assert_eq!(v.side, Some(Side::Reply));
    assert_eq!(v.layer, Some(CloudLayer::Nacl));
    assert!(
        v.blocking.as_ref().unwrap().rule.contains("49152-60999"),
        "{v:#?}"
    );
    let reply = step(&d, CloudLayer::Nacl, Side::Reply);
    assert!(reply.evidence.iter().any(|e| e.contains("32768-60999")));
    assert_eq!(
        commands(&d),
        vec!["aws ec2 create-network-acl-entry --network-acl-id acl-0data --egress --rule-number 110 --protocol 6 --port-range From=1024,To=65535 --cidr-block 10.0.3.40/32 --rule-action allow"]
    );
}

#[test]
fn nacls_do_not_apply_within_one_subnet() {
    let d = ask("10.0.1.10", "10.0.1.11", "443", "tcp");
    let nacl_steps: Vec<_> = d
        .evaluation
        .path
        .iter()
        .filter(|s| s.layer == CloudLayer::Nacl)
        .collect();
    assert!(!nacl_steps.is_empty());
    assert!(
        nacl_steps.iter().all(|s| s.result == StepResult::Skip),
        "{nacl_steps:#?}"
    );
    // sg-0web admits 443 only from the office range: blocked at the SG, fixed with a group
    // reference (both ends in one VPC).
    let v = &d.evaluation.verdict;
    assert_eq!(v.layer, Some(CloudLayer::Sg));
    assert_eq!(
        commands(&d),
        vec!["aws ec2 authorize-security-group-ingress --group-id sg-0web --ip-permissions 'IpProtocol=tcp,FromPort=443,ToPort=443,UserIdGroupPairs=[{GroupId=sg-0web,Description=netdiag tcp 443 from members-of-sg-0web}]'"]
    );
    assert_eq!(
        v.rollback,
        vec!["aws ec2 revoke-security-group-ingress --group-id sg-0web --ip-permissions 'IpProtocol=tcp,FromPort=443,ToPort=443,UserIdGroupPairs=[{GroupId=sg-0web}]'"]
    );
    assert!(v
        .would_allow
        .as_ref()
        .unwrap()
        .rule
        .contains("203.0.113.0/24"));
}

#[test]
fn security_groups_on_one_interface_are_a_union() {
    // eni-0api1 has sg-0api and sg-0mon; only sg-0mon admits 9100 (from prefix list pl-0mon).
    let d = ask("10.0.9.5", "10.0.2.20", "9100", "tcp");
    assert!(d.evaluation.verdict.allowed, "{:#?}", d.evaluation);
    let sg = step(&d, CloudLayer::Sg, Side::DestinationIngress);
    assert_eq!(sg.resource, "sg-0api, sg-0mon");
    assert!(sg
        .rule
        .as_ref()
        .unwrap()
        .starts_with("sg-0mon: ingress tcp 9100 from prefix list pl-0mon"));
}

#[test]
fn sg_reference_does_not_match_traffic_to_a_public_address() {
    let d = ask("10.0.1.10", "54.20.0.20", "8080", "tcp");
    let v = &d.evaluation.verdict;
    assert_eq!(v.layer, Some(CloudLayer::Sg));
    assert_eq!(v.cause, Cause::CloudNoAllowRule);
    assert!(v
        .would_allow
        .as_ref()
        .unwrap()
        .rule
        .contains("private addresses only"));
    // The destination sees web-1's public address; the fix names it, not a group.
    assert!(
        commands(&d)[0].contains("IpRanges=[{CidrIp=54.10.20.30/32"),
        "{:?}",
        commands(&d)
    );
    // The same flow by private address is allowed by that reference.
    assert!(
        ask("10.0.1.10", "10.0.2.20", "8080", "tcp")
            .evaluation
            .verdict
            .allowed
    );
}

#[test]
fn prefix_list_without_entries_is_unknown_with_the_export_command() {
    let d = ask("10.0.9.5", "10.0.2.20", "9200", "tcp");
    let v = &d.evaluation.verdict;
    assert_eq!(v.cause, Cause::CloudUnknown);
    assert!(!v.allowed);
    assert!(v.unknown.iter().any(|m| m.export
        == "aws ec2 get-managed-prefix-list-entries --prefix-list-id pl-0unk --output json > pl-0unk.json"), "{v:#?}");
}

#[test]
fn ipv6_rules_match_ipv6_flows() {
    let d = ask("2600:1f18:abc:1::10", "2600:1f18:abc:2::20", "8080", "tcp");
    assert!(d.evaluation.verdict.allowed, "{:#?}", d.evaluation);
    assert!(step(&d, CloudLayer::Nacl, Side::DestinationIngress)
        .rule
        .as_ref()
        .unwrap()
        .starts_with("#140"));
    // 8443 is allowed by sg-0api only from 10.0.1.0/24 (IPv4) and no NACL entry admits it.
    let d = ask("2600:1f18:abc:1::10", "2600:1f18:abc:2::20", "8443", "tcp");
    let v = &d.evaluation.verdict;
    assert_eq!(v.layer, Some(CloudLayer::Nacl));
    assert!(
        v.blocking.as_ref().unwrap().rule.starts_with("#32768"),
        "{v:#?}"
    );
    assert!(commands(&d)[0].contains("--ipv6-cidr-block 2600:1f18:abc:1::10/128"));
    let err = estate()
        .diagnose(&Query::parse("10.0.1.10", "2600:1f18:abc:2::20", "80", "tcp").unwrap())
        .unwrap_err();
    assert!(err.to_string().contains("address family"));
}

#[test]
fn longest_prefix_wins_and_a_blackhole_route_blocks() {
    // rtb-0app: 192.168.0.0/16 -> tgw-0corp, 192.168.10.0/24 -> nat-0gone (blackhole).
    let d = ask("10.0.1.10", "192.168.10.5", "443", "tcp");
    let v = &d.evaluation.verdict;
    assert_eq!(v.cause, Cause::CloudBlackholeRoute);
    assert_eq!(v.layer, Some(CloudLayer::Route));
    assert_eq!(v.side, Some(Side::Path));
    assert!(v.blocking.as_ref().unwrap().rule.contains("nat-0gone"));
    let d = ask("10.0.1.10", "192.168.20.5", "443", "tcp");
    assert!(d.evaluation.verdict.allowed);
    assert!(step(&d, CloudLayer::Route, Side::Path)
        .rule
        .as_ref()
        .unwrap()
        .contains("tgw-0corp"));
}

#[test]
fn subnet_without_explicit_association_uses_main_table_and_default_acl() {
    let d = ask("10.0.3.40", "192.168.20.5", "443", "tcp");
    assert!(d.evaluation.verdict.allowed, "{:#?}", d.evaluation);
    let route = step(&d, CloudLayer::Route, Side::Path);
    assert_eq!(route.resource, "rtb-0main");
    assert!(route.evidence[0].contains("main route table"));
    let acl = step(&d, CloudLayer::Nacl, Side::SourceEgress);
    assert_eq!(acl.resource, "acl-0default");
    assert!(acl.evidence[0].contains("default network ACL"));
}

#[test]
fn no_matching_route_is_cloud_no_route() {
    let d = ask("10.0.2.30", "198.51.100.53", "53", "udp");
    let v = &d.evaluation.verdict;
    assert_eq!(v.cause, Cause::CloudNoRoute);
    assert_eq!(v.blocking.as_ref().unwrap().resource, "rtb-0data");
}

#[test]
fn peering_routes_reach_the_peer_and_need_the_return_route() {
    let d = ask("10.0.1.10", "10.1.5.50", "443", "tcp");
    assert!(d.evaluation.verdict.allowed, "{:#?}", d.evaluation);
    assert!(step(&d, CloudLayer::Route, Side::Path)
        .rule
        .as_ref()
        .unwrap()
        .contains("pcx-0peer"));
    assert_eq!(
        step(&d, CloudLayer::Route, Side::Reply).resource,
        "rtb-0peer"
    );
    // A peering still pending acceptance carries nothing.
    let d = ask("10.0.1.10", "10.4.0.9", "443", "tcp");
    assert_eq!(d.evaluation.verdict.cause, Cause::CloudBlackholeRoute);
    assert!(d
        .evaluation
        .verdict
        .no_fix_reason
        .as_ref()
        .unwrap()
        .contains("accept-vpc-peering-connection"));
}

#[test]
fn peer_vpc_not_exported_is_unknown() {
    let d = ask("10.0.1.10", "10.2.0.9", "443", "tcp");
    let v = &d.evaluation.verdict;
    assert_eq!(v.cause, Cause::CloudUnknown, "{v:#?}");
    assert!(v
        .unknown
        .iter()
        .any(|m| m.export.contains("Values=10.2.0.9")));
}

#[test]
fn sg_reference_across_peering_needs_the_peers_data() {
    // sg-0api admits 8080 from sg-0peerapp via pcx-0peer; 10.1.7.7 is not in the exports.
    let d = ask("10.1.7.7", "10.0.2.20", "8080", "tcp");
    let v = &d.evaluation.verdict;
    assert_eq!(v.cause, Cause::CloudUnknown, "{v:#?}");
    assert!(v
        .unknown
        .iter()
        .any(|m| m.what.contains("sg-0peerapp") && m.what.contains("pcx-0peer")));
}

#[test]
fn protocol_minus_one_matches_every_protocol_and_port() {
    let d = ask("10.0.1.10", "10.0.3.40", "7000", "tcp");
    assert!(d.evaluation.verdict.allowed, "{:#?}", d.evaluation);
    assert!(step(&d, CloudLayer::Sg, Side::DestinationIngress)
        .rule
        .as_ref()
        .unwrap()
        .contains("ingress all from 10.0.1.0/24"));
    // -1 admits UDP too; the app subnet's NACL, though, lets only TCP replies back in.
    let d = ask("10.0.1.10", "10.0.3.40", "53", "udp");
    assert_eq!(
        step(&d, CloudLayer::Sg, Side::DestinationIngress).result,
        StepResult::Allow
    );
    assert_eq!(d.evaluation.verdict.cause, Cause::CloudNaclReturnBlocked);
}

#[test]
fn icmp_ports_are_type_and_code() {
    let d = ask("10.0.1.10", "10.0.2.20", "0", "icmp");
    assert!(d.evaluation.verdict.allowed, "{:#?}", d.evaluation);
    // sg-0db has no ICMP rule: the fix admits echo requests (type 8, code 0) only.
    let d = ask("10.0.1.10", "10.0.2.30", "0", "icmp");
    let v = &d.evaluation.verdict;
    assert_eq!(v.layer, Some(CloudLayer::Sg));
    assert!(
        commands(&d)[0]
            .contains("'IpProtocol=icmp,FromPort=8,ToPort=0,UserIdGroupPairs=[{GroupId=sg-0web"),
        "{:?}",
        commands(&d)
    );
}

#[test]
fn source_sg_egress_blocks_with_an_egress_fix() {
    // sg-0batch egress: 443 anywhere and 5432 to the data subnet only.
    let d = ask("10.0.3.40", "10.0.2.20", "8080", "tcp");
    let v = &d.evaluation.verdict;
    assert_eq!(v.layer, Some(CloudLayer::SgEgress));
    assert_eq!(v.side, Some(Side::SourceEgress));
    assert_eq!(v.blocking.as_ref().unwrap().resource, "sg-0batch");
    assert!(commands(&d)[0].starts_with("aws ec2 authorize-security-group-egress --group-id sg-0batch --ip-permissions 'IpProtocol=tcp,FromPort=8080,ToPort=8080,UserIdGroupPairs=[{GroupId=sg-0api"));
    assert!(v
        .rollback
        .iter()
        .any(|c| c.starts_with("aws ec2 revoke-security-group-egress --group-id sg-0batch")));
}

#[test]
fn every_fix_applied_makes_the_flow_allowed() {
    for (s, d, p, proto) in [
        ("10.0.1.10", "10.0.2.20", "22", "tcp"),
        ("10.0.1.10", "10.0.2.20", "1000", "tcp"),
        ("10.0.3.40", "10.0.2.30", "5432", "tcp"),
        ("10.0.1.10", "10.0.1.11", "443", "tcp"),
        ("2600:1f18:abc:1::10", "2600:1f18:abc:2::20", "8443", "tcp"),
        ("10.0.1.10", "10.0.2.30", "0", "icmp"),
        ("10.0.3.40", "10.0.2.20", "8080", "tcp"),
    ] {
        let q = Query::parse(s, d, p, proto).unwrap();
        let before = estate().diagnose(&q).unwrap();
        assert!(!before.evaluation.verdict.allowed);
        let mut fixed = estate().clone();
        for c in &before.changes {
            fixed.apply(c);
        }
        let after = fixed.diagnose(&q).unwrap();
        assert!(
            after.evaluation.verdict.allowed,
            "{s} -> {d} {proto}/{p}: {:#?}",
            after.evaluation.verdict
        );
    } // api-1's Elastic IP: the SG fix applies, but the data subnet has no route back to the
      // internet (no internet gateway route), so the reply is still dropped: no structural fix.
    let q = Query::parse("10.0.1.10", "54.20.0.20", "8080", "tcp").unwrap();
    let before = estate().diagnose(&q).unwrap();
    assert!(before.evaluation.verdict.no_fix_reason.is_some());
    let mut fixed = estate().clone();
    for c in &before.changes {
        fixed.apply(c);
    }
    let v = fixed.diagnose(&q).unwrap().evaluation.verdict;
    assert_eq!(
        (v.cause, v.side),
        (Cause::CloudNoRoute, Some(Side::Reply)),
        "{v:#?}"
    );
}

#[test]
fn a_stale_blackhole_route_under_a_live_route_is_deleted_with_a_rollback() {
    // rtb-0app: 192.168.10.0/24 -> nat-0gone (blackhole) inside 192.168.0.0/16 -> tgw-0corp.
    let d = ask("10.0.1.10", "192.168.10.5", "443", "tcp");
    let v = &d.evaluation.verdict;
    assert_eq!(v.cause, Cause::CloudBlackholeRoute);
    let fix = v.fix.as_ref().unwrap();
    assert_eq!(
        fix.commands,
        ["aws ec2 delete-route --route-table-id rtb-0app --destination-cidr-block 192.168.10.0/24"]
    );
    assert!(
        fix.description.contains("192.168.0.0/16 via tgw-0corp")
            && fix.description.contains("Caveat"),
        "{}",
        fix.description
    );
    assert!(v.rollback[0].starts_with(
        "aws ec2 create-route --route-table-id rtb-0app --destination-cidr-block 192.168.10.0/24 --nat-gateway-id nat-0gone"
    ));
    assert_eq!(
        d.changes,
        [aws::FixChange::DeleteRoute {
            route_table_id: "rtb-0app".into(),
            destination: "192.168.10.0/24".parse().unwrap(),
        }]
    );
    // Applied, the flow follows the covering route to the transit gateway.
    let mut e = estate().clone();
    e.apply(&d.changes[0]);
    let after = e
        .diagnose(&Query::parse("10.0.1.10", "192.168.10.5", "443", "tcp").unwrap())
        .unwrap();
    assert!(after.evaluation.verdict.allowed, "{:#?}", after.evaluation);
    assert!(step(&after, CloudLayer::Route, Side::Path)
        .rule
        .as_ref()
        .unwrap()
        .contains("tgw-0corp"));
}

/// The base exports with a private main table (no internet route) and an unassociated
/// `rtb-0private` whose default route goes through NAT gateway nat-0live.
fn private_main_estate() -> Estate {
    private_main_estate_with(|_| {})
}

/// [`private_main_estate`] with the route tables changed by `edit` first.
fn private_main_estate_with(edit: impl FnOnce(&mut Vec<serde_json::Value>)) -> Estate {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"));
    let mut docs: Vec<doc::Document> = doc::load(&[dir.join("aws")])
        .unwrap()
        .into_iter()
        .filter(|d| !d.path.ends_with("route-tables.json"))
        .collect();
    let mut rt = doc::load(&[dir.join("aws-variants/route-tables-private-main.json")]).unwrap();
    edit(rt[0].value["RouteTables"].as_array_mut().unwrap());
    docs.extend(rt);
    aws::load(&docs).unwrap()
}

#[test]
fn a_main_table_blackhole_default_route_with_no_cover_moves_the_subnet_to_the_live_table() {
    // The main table's default route points at a NAT gateway that was replaced; rtb-0private
    // has the route through the new one.
    let e = private_main_estate_with(|tables| {
        for t in tables.iter_mut() {
            if t["RouteTableId"] == "rtb-0main" {
                t["Routes"].as_array_mut().unwrap().push(serde_json::json!({
                    "DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": "nat-0old",
                    "Origin": "CreateRoute", "State": "blackhole"}));
            }
        }
    });
    let d = e
        .diagnose(&Query::parse("10.0.3.40", "198.51.100.53", "443", "tcp").unwrap())
        .unwrap();
    let v = &d.evaluation.verdict;
    assert_eq!(v.cause, Cause::CloudBlackholeRoute, "{v:#?}");
    assert_eq!(
        v.fix.as_ref().unwrap().commands,
        ["aws ec2 associate-route-table --route-table-id rtb-0private --subnet-id subnet-0batch"]
    );
}

#[test]
fn a_subnet_on_the_main_table_is_associated_with_the_table_that_has_the_route() {
    let e = private_main_estate();
    let q = Query::parse("10.0.3.40", "198.51.100.53", "443", "tcp").unwrap();
    let d = e.diagnose(&q).unwrap();
    let v = &d.evaluation.verdict;
    assert_eq!(v.cause, Cause::CloudNoRoute, "{v:#?}");
    assert_eq!(v.blocking.as_ref().unwrap().resource, "rtb-0main");
    let fix = v.fix.as_ref().unwrap();
    assert_eq!(
        fix.commands,
        ["aws ec2 associate-route-table --route-table-id rtb-0private --subnet-id subnet-0batch"]
    );
    // Names the route it gains and the routes of the main table it loses.
    assert!(
        fix.description.contains("via nat-0live"),
        "{}",
        fix.description
    );
    assert!(
        fix.description.contains("loses 10.1.0.0/16 via pcx-0peer"),
        "{}",
        fix.description
    );
    assert!(v.rollback[0].starts_with("aws ec2 disassociate-route-table --association-id"));
    assert!(v.rollback[0].contains("Name=association.subnet-id,Values=subnet-0batch"));
    let mut fixed = e.clone();
    for c in &d.changes {
        fixed.apply(c);
    }
    let after = fixed.diagnose(&q).unwrap();
    assert!(after.evaluation.verdict.allowed, "{:#?}", after.evaluation);
    assert_eq!(
        step(&after, CloudLayer::Route, Side::Path).resource,
        "rtb-0private"
    );
}

#[test]
fn an_internet_gateway_route_is_no_candidate_for_an_instance_without_a_public_address() {
    // 10.0.3.40 has no public address: rtb-0app's igw default route is not offered; without
    // rtb-0private there is no candidate and the fix says what to add.
    let e =
        private_main_estate_with(|tables| tables.retain(|t| t["RouteTableId"] != "rtb-0private"));
    let d = e
        .diagnose(&Query::parse("10.0.3.40", "198.51.100.53", "443", "tcp").unwrap())
        .unwrap();
    let v = &d.evaluation.verdict;
    assert_eq!(v.cause, Cause::CloudNoRoute);
    assert!(v.fix.is_none());
    assert!(v.no_fix_reason.as_ref().unwrap().contains("create-route"));
}
