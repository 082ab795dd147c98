//! resolver layer: resolv.conf that libc cannot use. No namespace needed: the walk stops at the
//! resolver layer before any packet is sent.

use crate::common::NETDIAG;
use netdiag_testnet::{Result, Run, TempDir};
use std::path::Path;
use std::time::Duration;

fn check_with_resolv_conf(contents: &str, tag: &str) -> Result<Run> {
    let dir = TempDir::new(tag)?;
    let resolv = dir.write("resolv.conf", contents)?;
    let hosts = dir.write("hosts", "127.0.0.1 localhost\n")?;
    Run::exec(
        Path::new(&std::env::var("NETDIAG_BIN").unwrap_or_else(|_| NETDIAG.to_owned())),
        &[
            "check",
            "ok.test",
            "--format",
            "json",
            "--timeout",
            "3s",
            "--resolv-conf",
            &resolv.to_string_lossy(),
            "--hosts-file",
            &hosts.to_string_lossy(),
        ],
        Duration::from_secs(30),
    )
}

#[test]
fn resolver_no_nameservers_only_search_line() -> Result<()> {
    let run = check_with_resolv_conf("search x\n", "nons")?;
    assert_eq!(run.schema(), Some("netdiag.report/v1"), "{run}");
    assert_eq!(run.status, Some(1), "{run}");
    assert_eq!(run.layer(), Some("resolver"), "{run}");
    assert_eq!(run.cause(), Some("resolver_no_nameservers"), "{run}");
    Ok(())
}

#[test]
fn resolver_config_invalid_nameserver_not_an_ip() -> Result<()> {
    // The only nameserver line is one libc ignores (with another usable line, libc resolves
    // with it and the bad line is a warning: see the resolver layer's unit tests).
    let run = check_with_resolv_conf("nameserver not-an-ip\nsearch test\n", "badns")?;
    assert_eq!(run.schema(), Some("netdiag.report/v1"), "{run}");
    assert_eq!(run.status, Some(1), "{run}");
    assert_eq!(run.layer(), Some("resolver"), "{run}");
    assert_eq!(run.cause(), Some("resolver_config_invalid"), "{run}");
    assert!(
        run.mentions("not-an-ip"),
        "evidence should quote the bad line{run}"
    );
    Ok(())
}
