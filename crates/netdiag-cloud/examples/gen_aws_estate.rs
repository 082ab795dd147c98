//! Writes a large synthetic AWS estate as `aws ec2 describe-* --output json` would print it, for
//! the `netdiag cloud check` benchmark (`bench/cloud.sh`): by default 2,000 instances, 500
//! security groups and 100 network ACLs (one per subnet) in one VPC.
//!
//! Usage: `cargo run --release -p netdiag-cloud --example gen_aws_estate -- DIR [INSTANCES SGS ACLS]`
//! The query `10.0.0.10 -> 10.0.99.10 tcp/443` crosses two subnets (both NACLs, both SGs, the
//! reply) and is allowed; `... tcp/8443` is blocked by the destination's security groups.
#![allow(missing_docs)]

use serde_json::{json, Value};
use std::path::PathBuf;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next().map(PathBuf::from) else {
        eprintln!("usage: gen_aws_estate DIR [INSTANCES SGS ACLS]");
        std::process::exit(2);
    };
    let mut num = |default: usize| args.next().and_then(|a| a.parse().ok()).unwrap_or(default);
    let (instances, sgs, acls) = (num(2000), num(500), num(100));
    let subnets = acls.max(1);
    if let Err(e) = write(&dir, instances, sgs.max(1), subnets) {
        eprintln!("gen_aws_estate: {}: {e}", dir.display());
        std::process::exit(1);
    }
}

fn write(
    dir: &std::path::Path,
    instances: usize,
    sgs: usize,
    subnets: usize,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let save = |name: &str, v: Value| -> std::io::Result<()> {
        std::fs::write(
            dir.join(name),
            serde_json::to_vec_pretty(&v).map_err(std::io::Error::other)?,
        )
    };
    let subnet_id = |s: usize| format!("subnet-{s:017x}");
    let sg_id = |g: usize| format!("sg-{g:017x}");
    save(
        "vpcs.json",
        json!({"Vpcs": [{"VpcId": "vpc-0bench", "CidrBlock": "10.0.0.0/16", "State": "available",
            "CidrBlockAssociationSet": [{"CidrBlock": "10.0.0.0/16", "CidrBlockState": {"State": "associated"}}]}]}),
    )?;
    save(
        "subnets.json",
        json!({"Subnets": (0..subnets).map(|s| json!({"SubnetId": subnet_id(s), "VpcId": "vpc-0bench",
            "CidrBlock": format!("10.0.{s}.0/24"), "AvailabilityZone": "us-east-1a", "State": "available",
            "Ipv6CidrBlockAssociationSet": []})).collect::<Vec<_>>()}),
    )?;
    // Instances spread over the subnets, each with two security groups.
    let mut reservations = Vec::new();
    for i in 0..instances {
        let s = i % subnets;
        let host = 10 + i / subnets;
        let ip = format!("10.0.{s}.{host}");
        let groups = vec![
            json!({"GroupId": sg_id(i % sgs), "GroupName": format!("g{}", i % sgs)}),
            json!({"GroupId": sg_id((i * 7 + 3) % sgs), "GroupName": format!("g{}", (i * 7 + 3) % sgs)}),
        ];
        let id = format!("i-{i:017x}");
        let eni = json!({"NetworkInterfaceId": format!("eni-{i:017x}"), "SubnetId": subnet_id(s), "VpcId": "vpc-0bench",
            "PrivateIpAddress": ip, "PrivateIpAddresses": [{"Primary": true, "PrivateIpAddress": ip}],
            "Groups": groups, "Attachment": {"DeviceIndex": 0, "Status": "attached", "AttachmentId": format!("eni-attach-{i:017x}")},
            "Ipv6Addresses": [], "Status": "in-use", "SourceDestCheck": true});
        reservations.push(json!({"ReservationId": format!("r-{i:017x}"), "OwnerId": "111122223333", "Groups": [],
            "Instances": [{"InstanceId": id, "InstanceType": "t3.micro", "ImageId": "ami-0bench", "State": {"Code": 16, "Name": "running"},
                "PrivateIpAddress": ip, "SubnetId": subnet_id(s), "VpcId": "vpc-0bench", "SecurityGroups": groups,
                "NetworkInterfaces": [eni], "Tags": [{"Key": "Name", "Value": format!("host-{i}")}]}]}));
    }
    save("instances.json", json!({"Reservations": reservations}))?;
    // Security groups: ten ingress rules each (CIDRs and references), all egress.
    let groups: Vec<Value> = (0..sgs)
        .map(|g| {
            let mut perms = vec![json!({"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
                "IpRanges": [{"CidrIp": "10.0.0.0/16"}], "Ipv6Ranges": [], "PrefixListIds": [], "UserIdGroupPairs": []})];
            for k in 0..9 {
                let port = 1000 + (g * 13 + k * 101) % 20000;
                perms.push(json!({"IpProtocol": if k % 3 == 0 { "udp" } else { "tcp" }, "FromPort": port, "ToPort": port,
                    "IpRanges": [{"CidrIp": format!("10.0.{}.0/24", (g + k) % subnets)}], "Ipv6Ranges": [], "PrefixListIds": [],
                    "UserIdGroupPairs": [{"GroupId": sg_id((g + k + 1) % sgs), "UserId": "111122223333"}]}));
            }
            json!({"GroupId": sg_id(g), "GroupName": format!("g{g}"), "VpcId": "vpc-0bench", "Description": "bench",
                "IpPermissions": perms, "IpPermissionsEgress": [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                "Ipv6Ranges": [], "PrefixListIds": [], "UserIdGroupPairs": []}]})
        })
        .collect();
    save("security-groups.json", json!({"SecurityGroups": groups}))?;
    // One NACL per subnet: twenty entries per direction, then the allows, then `*`.
    let acls: Vec<Value> = (0..subnets)
        .map(|s| {
            let mut entries = Vec::new();
            for egress in [false, true] {
                for k in 0..20u32 {
                    entries.push(json!({"RuleNumber": 10 + k, "Protocol": "6", "RuleAction": "deny", "Egress": egress,
                        "CidrBlock": format!("192.168.{k}.0/24"), "PortRange": {"From": 0, "To": 65535}}));
                }
                entries.push(json!({"RuleNumber": 100, "Protocol": "6", "RuleAction": "allow", "Egress": egress,
                    "CidrBlock": "10.0.0.0/16", "PortRange": {"From": if egress { 1024 } else { 443 }, "To": 65535}}));
                entries.push(json!({"RuleNumber": 110, "Protocol": "-1", "RuleAction": "allow", "Egress": egress, "CidrBlock": "10.0.0.0/16"}));
                entries.push(json!({"RuleNumber": 32767, "Protocol": "-1", "RuleAction": "deny", "Egress": egress, "CidrBlock": "0.0.0.0/0"}));
            }
            json!({"NetworkAclId": format!("acl-{s:017x}"), "VpcId": "vpc-0bench", "IsDefault": false, "Entries": entries,
                "Associations": [{"NetworkAclAssociationId": format!("aclassoc-{s:017x}"), "NetworkAclId": format!("acl-{s:017x}"), "SubnetId": subnet_id(s)}]})
        })
        .collect();
    save("network-acls.json", json!({"NetworkAcls": acls}))?;
    save(
        "route-tables.json",
        json!({"RouteTables": [{"RouteTableId": "rtb-0bench", "VpcId": "vpc-0bench",
            "Associations": [{"Main": true, "RouteTableId": "rtb-0bench"}],
            "Routes": [{"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local", "State": "active", "Origin": "CreateRouteTable"},
                       {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": "igw-0bench", "State": "active", "Origin": "CreateRoute"}]}]}),
    )?;
    Ok(())
}
