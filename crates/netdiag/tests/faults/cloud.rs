//! `netdiag check --cloud`: a live tcp timeout explained by the cloud exports. The namespaces use
//! the addresses of the AWS fixtures (web 10.0.1.10 in subnet 10.0.1.0/24, db 10.0.2.20 in
//! 10.0.2.0/24), and the router drops what the exported network ACL denies, so the live symptom
//! and the exported rule agree.

use crate::common::*;
use netdiag_testnet::{require_netns, Result, TcpConnect, Testnet};

const AWS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../netdiag-cloud/tests/fixtures/aws"
);

#[test]
fn tcp_timeout_with_cloud_exports_names_the_nacl_rule_and_its_fix() -> Result<()> {
    require_netns!();
    let net = Testnet::new("cloudnacl")?;
    net.set_netdiag(NETDIAG);
    let web = net.host("web")?;
    let router = net.router("vpc")?;
    let db = net.host("db")?;
    net.link(&web, "10.0.1.10/24", &router, "10.0.1.1/24")?;
    net.link(&router, "10.0.2.1/24", &db, "10.0.2.20/24")?;
    web.default_route("10.0.1.1")?;
    db.default_route("10.0.2.1")?;
    db.listen_tcp("10.0.2.20:22")?;
    // What acl-0data's rule #90 does in the exports: deny tcp 22 from 10.0.0.0/8.
    router.run("iptables -w -A FORWARD -p tcp -s 10.0.0.0/8 --dport 22 -j DROP")?;
    assert_eq!(
        web.tcp_connect("10.0.2.20:22", PROBE)?,
        TcpConnect::TimedOut
    );

    let run = crate::common::check(
        &net,
        &web,
        "tcp://10.0.2.20:22",
        &["--timeout", "3s", "--cloud", AWS],
    )?;
    assert_diagnosis(&run, 1, Some("tcp"), "tcp_timeout");
    let json = run.json.as_ref().expect("json");
    assert_eq!(json["failed_flow"]["source"], "10.0.1.10", "{run}");
    assert_eq!(json["cloud"]["provider"], "aws", "{run}");
    assert_eq!(
        json["cloud"]["verdict"]["cause"], "cloud_deny_rule",
        "{run}"
    );
    assert_eq!(
        json["cloud"]["verdict"]["blocking"]["resource"], "acl-0data",
        "{run}"
    );
    assert!(run.mentions("acl-0data"), "{run}");
    let fix = json["verdict"]["fix"]["commands"][0]
        .as_str()
        .unwrap_or_default();
    assert!(fix.starts_with("aws ec2 create-network-acl-entry"), "{run}");
    assert!(
        !json["verdict"]["fix"].to_string().contains("0.0.0.0/0"),
        "{run}"
    );
    assert!(json["verdict"]["rollback"][0]
        .as_str()
        .unwrap_or_default()
        .starts_with("aws ec2 "));
    Ok(())
}

#[test]
fn bad_cloud_exports_are_bad_input_before_any_probe() {
    let dir = std::env::temp_dir().join(format!("netdiag-cloud-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("io");
    let bad = dir.join("sgs.json");
    std::fs::write(&bad, "{\"SecurityGroups\": [").expect("io");
    let out = std::process::Command::new(NETDIAG)
        .args(["check", "tcp://127.0.0.1:9", "--cloud"])
        .arg(&bad)
        .output()
        .expect("io");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sgs.json"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}
