//! `netdiag cloud check` end to end: exit codes 0 (allowed), 1 (blocked or unknown), 2 (bad
//! input, one line on stderr naming the file), and the JSON contract fields.
#![allow(clippy::unwrap_used, missing_docs)]

use assert_cmd::Command;
use std::path::PathBuf;

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../netdiag-cloud/tests/fixtures/aws"
);

fn cloud(resources: &[&str], args: &[&str]) -> assert_cmd::assert::Assert {
    Command::cargo_bin("netdiag")
        .unwrap()
        .args(["cloud", "check", "--resources"])
        .args(resources)
        .args(args)
        .assert()
}

fn json(out: &assert_cmd::assert::Assert) -> serde_json::Value {
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

fn one_line_stderr(out: &assert_cmd::assert::Assert) -> String {
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert_eq!(err.lines().count(), 1, "{err}");
    err
}

#[test]
fn allowed_exits_0_and_the_provider_is_detected() {
    let out = cloud(
        &[FIXTURES],
        &[
            "--from",
            "i-0web1",
            "--to",
            "10.0.2.20",
            "--port",
            "8080",
            "--format",
            "json",
        ],
    )
    .code(0);
    let v = json(&out);
    assert_eq!(v["schema"], "netdiag.cloud.check/v1");
    assert_eq!(v["provider"], "aws");
    assert_eq!(v["verdict"]["allowed"], true);
    assert_eq!(v["verdict"]["cause"], "ok");
    assert!(v["verdict"]["layer"].is_null());
}

#[test]
fn blocked_exits_1_with_the_contract_fields() {
    let out = cloud(
        &[FIXTURES],
        &[
            "--provider",
            "aws",
            "--from",
            "10.0.1.10",
            "--to",
            "10.0.2.20",
            "--port",
            "22",
            "--format",
            "json",
        ],
    )
    .code(1);
    let v = json(&out)["verdict"].clone();
    assert_eq!(v["allowed"], false);
    assert_eq!(v["layer"], "nacl");
    assert_eq!(v["cause"], "cloud_deny_rule");
    assert_eq!(v["side"], "destination-ingress");
    assert_eq!(v["blocking"]["resource"], "acl-0data");
    assert_eq!(v["blocking"]["rule"], "#90 deny tcp 22 from 10.0.0.0/8");
    assert!(v["fix"]["commands"][0]
        .as_str()
        .unwrap()
        .starts_with("aws ec2 create-network-acl-entry"));
    assert!(v["rollback"][0].as_str().unwrap().starts_with("aws ec2 "));
    assert!(v["prestate"][0]
        .as_str()
        .unwrap()
        .starts_with("aws ec2 describe-"));
}

#[test]
fn unknown_exits_1_and_names_the_export() {
    let out = cloud(
        &[FIXTURES],
        &[
            "--from",
            "10.0.9.5",
            "--to",
            "10.0.2.20",
            "--port",
            "9200",
            "--format",
            "json",
        ],
    )
    .code(1);
    let v = json(&out)["verdict"].clone();
    assert_eq!(v["cause"], "cloud_unknown");
    assert!(v["unknown"][0]["export"]
        .as_str()
        .unwrap()
        .contains("get-managed-prefix-list-entries"));
}

#[test]
fn table_and_markdown_show_the_path_and_the_fix() {
    let args = ["--from", "10.0.3.40", "--to", "10.0.2.30", "--port", "5432"];
    let out = cloud(&[FIXTURES], &args).code(1);
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    for needle in [
        "Layer",
        "Evidence",
        "cloud_nacl_return_blocked",
        "FIX",
        "ROLLBACK",
        "BEFORE CHANGING ANYTHING",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
    let out = cloud(
        &[FIXTURES],
        &[&args[..], &["--format", "markdown"]].concat(),
    )
    .code(1);
    let md = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        md.contains("| Layer | Test | Result | Evidence | Verdict |") && md.contains("```sh"),
        "{md}"
    );
}

#[test]
fn a_bad_file_exits_2_naming_the_file_and_the_object() {
    let dir = std::env::temp_dir().join(format!("netdiag-cloud-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad: PathBuf = dir.join("sgs.json");
    std::fs::write(&bad, r#"{"SecurityGroups":[{"GroupId":"sg-1","IpPermissions":[{"IpProtocol":"tcp","FromPort":"x"}]}]}"#).unwrap();
    let out = cloud(
        &[bad.to_str().unwrap()],
        &["--from", "10.0.0.1", "--to", "10.0.0.2", "--port", "443"],
    )
    .code(2);
    let err = one_line_stderr(&out);
    assert!(
        err.contains("sgs.json: SecurityGroups[0].IpPermissions[0].FromPort: expected a number"),
        "{err}"
    );
    let garbage = dir.join("garbage.json");
    std::fs::write(&garbage, "{not json").unwrap();
    let out = cloud(
        &[garbage.to_str().unwrap()],
        &["--from", "10.0.0.1", "--to", "10.0.0.2", "--port", "443"],
    )
    .code(2);
    assert!(one_line_stderr(&out).contains("garbage.json"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn usage_errors_exit_2() {
    let out = cloud(
        &["/nonexistent/exports.json"],
        &["--from", "10.0.0.1", "--to", "10.0.0.2", "--port", "443"],
    )
    .code(2);
    assert!(one_line_stderr(&out).contains("/nonexistent/exports.json"));
    let out = cloud(
        &[FIXTURES],
        &["--from", "i-0nope", "--to", "10.0.2.20", "--port", "443"],
    )
    .code(2);
    assert!(one_line_stderr(&out).contains("i-0nope"));
    let out = cloud(
        &[FIXTURES],
        &[
            "--from",
            "10.0.1.10",
            "--to",
            "10.0.2.20",
            "--port",
            "99999",
        ],
    )
    .code(2);
    one_line_stderr(&out);
    let out = cloud(
        &[FIXTURES],
        &[
            "--provider",
            "gcp",
            "--from",
            "10.0.1.10",
            "--to",
            "10.0.2.20",
            "--port",
            "443",
        ],
    )
    .code(2);
    one_line_stderr(&out);
}

fn provider_fixtures(provider: &str, files: &[&str]) -> Vec<String> {
    files
        .iter()
        .map(|f| {
            format!(
                "{}/../netdiag-cloud/tests/fixtures/{provider}/{f}",
                env!("CARGO_MANIFEST_DIR")
            )
        })
        .collect()
}

#[test]
fn aws_stale_blackhole_route_fix_deletes_it_and_names_the_covering_route() {
    let out = cloud(
        &[FIXTURES],
        &[
            "--from",
            "10.0.1.10",
            "--to",
            "192.168.10.5",
            "--port",
            "443",
            "--format",
            "json",
        ],
    )
    .code(1);
    let v = &json(&out)["verdict"];
    assert_eq!(v["cause"], "cloud_blackhole_route");
    assert_eq!(
        v["fix"]["commands"][0],
        "aws ec2 delete-route --route-table-id rtb-0app --destination-cidr-block 192.168.10.0/24"
    );
    let why = v["fix"]["description"].as_str().unwrap();
    assert!(why.contains("192.168.0.0/16 via tgw-0corp"), "{why}");
    assert!(v["rollback"][0]
        .as_str()
        .unwrap()
        .contains("create-route --route-table-id rtb-0app --destination-cidr-block 192.168.10.0/24 --nat-gateway-id nat-0gone"));
}

#[test]
fn aws_subnet_on_the_main_table_fix_associates_the_table_with_the_nat_route() {
    let mut files: Vec<String> = std::fs::read_dir(FIXTURES)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json") && !p.ends_with("route-tables.json"))
        .map(|p| p.display().to_string())
        .collect();
    files.push(format!(
        "{FIXTURES}/../aws-variants/route-tables-private-main.json"
    ));
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    let out = cloud(
        &files,
        &[
            "--from",
            "10.0.3.40",
            "--to",
            "198.51.100.53",
            "--port",
            "443",
            "--format",
            "json",
        ],
    )
    .code(1);
    let v = &json(&out)["verdict"];
    assert_eq!(v["cause"], "cloud_no_route");
    assert_eq!(
        v["fix"]["commands"][0],
        "aws ec2 associate-route-table --route-table-id rtb-0private --subnet-id subnet-0batch"
    );
    assert!(v["rollback"][0]
        .as_str()
        .unwrap()
        .starts_with("aws ec2 disassociate-route-table --association-id"));
}

#[test]
fn gcp_exports_are_detected_and_the_implied_deny_is_named_with_a_gcloud_fix() {
    let files = provider_fixtures(
        "gcp",
        &[
            "instances.json",
            "firewall-rules.json",
            "networks.json",
            "routes.json",
        ],
    );
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    let ok = cloud(
        &files,
        &[
            "--from", "web-1", "--to", "db-1", "--port", "5432", "--format", "json",
        ],
    )
    .code(0);
    assert_eq!(json(&ok)["provider"], "gcp");
    let out = cloud(
        &files,
        &[
            "--from",
            "203.0.113.9",
            "--to",
            "db-1",
            "--port",
            "5432",
            "--format",
            "json",
        ],
    )
    .code(1);
    let v = &json(&out)["verdict"];
    assert_eq!(v["cause"], "cloud_no_allow_rule");
    assert_eq!(v["layer"], "firewall");
    assert_eq!(v["blocking"]["resource"], "implied-deny-ingress");
    let fix = v["fix"]["commands"].to_string();
    assert!(
        fix.contains("gcloud compute firewall-rules create"),
        "{fix}"
    );
    assert!(!fix.contains("0.0.0.0/0"), "{fix}");
}

#[test]
fn gcp_effective_firewalls_export_reports_the_hierarchical_deny_over_a_vpc_allow() {
    let files = provider_fixtures(
        "gcp",
        &[
            "instances.json",
            "effective-firewalls-prod.json",
            "networks.json",
            "routes.json",
        ],
    );
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    let out = cloud(
        &files,
        &[
            "--from", "web-1", "--to", "app-2", "--port", "8080", "--format", "json",
        ],
    )
    .code(1);
    let j = json(&out);
    assert_eq!(j["provider"], "gcp");
    let v = &j["verdict"];
    assert_eq!(v["cause"], "cloud_deny_rule");
    assert_eq!(v["layer"], "hierarchical-policy");
    assert_eq!(v["blocking"]["resource"], "prod-folder/priority 300");
    assert!(v["fix"].is_null());
    assert!(v["no_fix_reason"]
        .as_str()
        .is_some_and(|w| w.contains("prod-folder")));
    // Without the policy half (the VPC rules only) the same flow is allowed.
    let vpc_only = provider_fixtures(
        "gcp",
        &[
            "instances.json",
            "firewall-rules.json",
            "networks.json",
            "routes.json",
        ],
    );
    let vpc_only: Vec<&str> = vpc_only.iter().map(String::as_str).collect();
    cloud(
        &vpc_only,
        &["--from", "web-1", "--to", "app-2", "--port", "8080"],
    )
    .code(0);
}

#[test]
fn azure_exports_are_detected_and_the_nsg_deny_is_named_with_an_az_fix() {
    let files = provider_fixtures(
        "azure",
        &["nsgs.json", "nics.json", "vnets.json", "asgs.json"],
    );
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    let out = cloud(
        &files,
        &[
            "--from",
            "203.0.113.9",
            "--to",
            "nic-web-1",
            "--port",
            "3389",
            "--format",
            "json",
        ],
    )
    .code(1);
    let j = json(&out);
    assert_eq!(j["provider"], "azure");
    let v = &j["verdict"];
    assert_eq!(v["cause"], "cloud_deny_rule");
    let fix = v["fix"]["commands"].to_string();
    assert!(fix.contains("az network nsg rule create"), "{fix}");
    assert!(!fix.contains("0.0.0.0/0"), "{fix}");
}

#[test]
fn azure_deny_at_priority_100_gets_the_two_step_fix_with_both_rollbacks() {
    let files = provider_fixtures(
        "azure",
        &["nsgs.json", "nics.json", "vnets.json", "asgs.json"],
    );
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    let out = cloud(
        &files,
        &[
            "--from",
            "nic-web-1",
            "--to",
            "198.51.100.7",
            "--port",
            "23",
            "--format",
            "json",
        ],
    )
    .code(1);
    let v = &json(&out)["verdict"];
    assert_eq!(
        v["blocking"]["resource"],
        "nsg-web-subnet/DenyTelnetOutbound"
    );
    assert_eq!(
        v["fix"]["commands"][0],
        "az network nsg rule update -g rg-prod --nsg-name nsg-web-subnet -n DenyTelnetOutbound --priority 101"
    );
    let allow = v["fix"]["commands"][1].as_str().unwrap();
    assert!(
        allow.starts_with("az network nsg rule create -g rg-prod --nsg-name nsg-web-subnet")
            && allow.contains("--priority 100 --direction Outbound --access Allow")
            && allow.contains("--destination-address-prefixes 198.51.100.7/32"),
        "{allow}"
    );
    assert!(v["rollback"][0]
        .as_str()
        .unwrap()
        .starts_with("az network nsg rule delete"));
    assert_eq!(
        v["rollback"][1],
        "az network nsg rule update -g rg-prod --nsg-name nsg-web-subnet -n DenyTelnetOutbound --priority 100"
    );
}

#[test]
fn an_endless_file_is_bad_input_not_a_hang() {
    let out = cloud(
        &["/dev/zero"],
        &["--from", "10.0.0.1", "--to", "10.0.0.2", "--port", "22"],
    )
    .code(2);
    assert!(one_line_stderr(&out).contains("/dev/zero"));
}
