//! Bad input: exit 2, one line on stderr, nothing on stdout, nothing sent.

use crate::common::NETDIAG;
use netdiag_testnet::{Result, Run};
use std::path::Path;
use std::time::Duration;

fn netdiag(args: &[&str]) -> Result<Run> {
    let bin = std::env::var("NETDIAG_BIN").unwrap_or_else(|_| NETDIAG.to_owned());
    Run::exec(Path::new(&bin), args, Duration::from_secs(30))
}

#[track_caller]
fn assert_bad_input(run: &Run) {
    assert_eq!(run.status, Some(2), "exit code{run}");
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(lines.len(), 1, "one line on stderr{run}");
    assert!(run.stdout.trim().is_empty(), "nothing on stdout{run}");
}

#[test]
fn bad_input_resolv_conf_does_not_exist() -> Result<()> {
    let run = netdiag(&[
        "check",
        "tcp://127.0.0.1:9",
        "--resolv-conf",
        "/nonexistent",
    ])?;
    assert_bad_input(&run);
    assert!(run.stderr.contains("/nonexistent"), "names the file{run}");
    Ok(())
}

#[test]
fn bad_input_port_out_of_range() -> Result<()> {
    let run = netdiag(&["check", "tcp://host:99999"])?;
    assert_bad_input(&run);
    assert!(run.stderr.contains("99999"), "names the port{run}");
    Ok(())
}

#[test]
fn bad_input_unclosed_ipv6_bracket() -> Result<()> {
    let run = netdiag(&["check", "http://[::1"])?;
    assert_bad_input(&run);
    Ok(())
}

#[test]
fn bad_input_json_format_still_exit_2() -> Result<()> {
    let run = netdiag(&["check", "tcp://host:99999", "--format", "json"])?;
    assert_bad_input(&run);
    Ok(())
}
