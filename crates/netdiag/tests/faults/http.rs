//! http layer: the connection works, but what does the server answer, and when?
//!
//! The server is the harness's own HTTP server (`HttpServer`) on 10.77.2.2:8080, because these
//! faults are about timing (a first byte after 2.5 s, no answer at all, a reset after reading the
//! request) that no stock server produces on demand. `curl` proves each fault first.

use crate::common::*;
use netdiag_testnet::{require_netns, HttpServer, Result, Run, Signer, Validity};
use std::time::Duration;

const ADDR: &str = "10.77.2.2:8080";
const URL: &str = "http://10.77.2.2:8080/";

/// `curl` from the client, printing `%{http_code} %{time_starttransfer}`, bounded by `--max-time`.
pub(crate) fn curl(lab: &Lab, extra: &[&str], url: &str, max_time: u64) -> Result<Run> {
    let max = max_time.to_string();
    let mut args = vec![
        "-sS",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{time_starttransfer}",
        "--max-time",
        &max,
    ];
    args.extend_from_slice(extra);
    args.push(url);
    lab.client
        .command("curl", &args, Duration::from_secs(max_time + 5))
}

#[test]
fn http_healthy_is_exit_0() -> Result<()> {
    require_netns!();
    let lab = lab("httpok")?;
    lab.server.http(ADDR, HttpServer::status(200))?;
    let probe = curl(&lab, &[], URL, 3)?;
    assert!(probe.stdout.starts_with("200 "), "curl{probe}");

    let run = lab.check(&lab.client, URL, &[])?;
    assert_diagnosis(&run, 0, None, "ok");
    assert!(run.rows_of("http").count() > 0, "an http row{run}");
    assert_mentions(&run, "200");
    assert_full_segment_acknowledged(&run);
    Ok(())
}

/// The mtu row of a healthy http(s) check: the request filled a 1500-byte segment (the lab's
/// links are 1500) and it was acknowledged, with no mtu warning.
#[track_caller]
fn assert_full_segment_acknowledged(run: &Run) {
    let mtu: Vec<&str> = run
        .rows_of("mtu")
        .filter_map(|row| row.get("result")?.as_str())
        .collect();
    assert!(
        mtu.iter()
            .any(|r| r
                .contains("full-size 1500-byte segment crossed the session and was acknowledged")),
        "the mtu row: {mtu:?}{run}"
    );
    assert!(
        !run.warning_causes().contains(&"mtu_path_reduced"),
        "no mtu warning{run}"
    );
}

#[test]
fn https_healthy_full_chain_is_exit_0() -> Result<()> {
    require_netns!();
    let lab = lab("httpsok")?;
    let pki = lab.net.pki()?;
    let leaf = pki.leaf(
        "svc",
        &["svc.test"],
        Validity::Current,
        Signer::Intermediate,
    )?;
    lab.server.http(
        "10.77.2.2:443",
        HttpServer::status(200).tls(&leaf.full_chain, &leaf.key),
    )?;
    let hosts = lab.net.hosts_file(&["10.77.2.2 svc.test"])?;
    let root = pki.root_pem().to_string_lossy().into_owned();
    let probe = curl(
        &lab,
        &["--cacert", &root, "--resolve", "svc.test:443:10.77.2.2"],
        "https://svc.test/",
        3,
    )?;
    assert!(probe.stdout.starts_with("200 "), "curl{probe}");

    let run = lab.check(
        &lab.client,
        "https://svc.test/",
        &["--cacert", &root, "--hosts-file", &hosts.to_string_lossy()],
    )?;
    assert_diagnosis(&run, 0, None, "ok");
    assert!(run.rows_of("tls").count() > 0, "a tls row{run}");
    assert!(run.rows_of("http").count() > 0, "an http row{run}");
    assert_full_segment_acknowledged(&run);
    assert_mentions(&run, "in one TLS record");
    Ok(())
}

#[test]
fn http_5xx_service_unavailable() -> Result<()> {
    require_netns!();
    let lab = lab("http5xx")?;
    lab.server.http(ADDR, HttpServer::status(503))?;
    let probe = curl(&lab, &[], URL, 3)?;
    assert!(probe.stdout.starts_with("503 "), "curl{probe}");

    let run = lab.check(&lab.client, URL, &[])?;
    assert_diagnosis(&run, 1, Some("http"), "http_5xx");
    assert_mentions(&run, "503");
    Ok(())
}

#[test]
fn http_4xx_not_found() -> Result<()> {
    require_netns!();
    let lab = lab("http4xx")?;
    lab.server.http(ADDR, HttpServer::status(404))?;
    let probe = curl(&lab, &[], URL, 3)?;
    assert!(probe.stdout.starts_with("404 "), "curl{probe}");

    let run = lab.check(&lab.client, URL, &[])?;
    assert_diagnosis(&run, 1, Some("http"), "http_4xx");
    assert_mentions(&run, "404");
    Ok(())
}

/// First byte after 2.5 s, default `--slow` of 2 s: slow, a failure of its layer (contract §1).
#[test]
fn http_slow_first_byte() -> Result<()> {
    require_netns!();
    let lab = lab("httpslow")?;
    lab.server.http(
        ADDR,
        HttpServer::status(200).first_byte_after(Duration::from_millis(2500)),
    )?;
    let probe = curl(&lab, &[], URL, 5)?;
    let first_byte: f64 = probe
        .stdout
        .split_whitespace()
        .nth(1)
        .and_then(|t| t.parse().ok())
        .unwrap_or_default();
    assert!(
        probe.stdout.starts_with("200 ") && first_byte >= 2.4,
        "curl: 200 after about 2.5 s{probe}"
    );

    let run = lab.check(&lab.client, URL, &["--timeout", "6s"])?;
    assert_diagnosis(&run, 1, Some("http"), "http_slow");
    Ok(())
}

/// No first byte at all by the `--slow` threshold: `http_slow` no later than twice the threshold
/// (default 2 s), not the whole 10 s deadline; the report says how long it waited and that the
/// response had not begun.
#[test]
fn http_slow_without_a_first_byte_is_named_at_twice_the_threshold() -> Result<()> {
    require_netns!();
    let lab = lab("httpslownone")?;
    lab.server.http(
        ADDR,
        HttpServer::status(200).first_byte_after(Duration::from_secs(8)),
    )?;
    let probe = curl(&lab, &[], URL, 3)?;
    assert_eq!(probe.status, Some(28), "curl: no byte in 3 s{probe}");

    let run = lab.check(&lab.client, URL, &[])?;
    assert_diagnosis(&run, 1, Some("http"), "http_slow");
    assert_mentions(&run, "the response had not begun");
    assert!(
        run.elapsed >= Duration::from_millis(3500) && run.elapsed < Duration::from_millis(4800),
        "about 4 s, twice the 2 s threshold: {:?}{run}",
        run.elapsed
    );

    let run = lab.check(&lab.client, URL, &["--slow", "500ms"])?;
    assert_diagnosis(&run, 1, Some("http"), "http_slow");
    assert!(
        run.elapsed < Duration::from_millis(1800),
        "about 1 s, twice --slow 500ms: {:?}{run}",
        run.elapsed
    );
    Ok(())
}

/// The server reads the request and never answers.
#[test]
fn http_timeout_no_response() -> Result<()> {
    require_netns!();
    let lab = lab("httptimeout")?;
    lab.server.http(ADDR, HttpServer::silent())?;
    let probe = curl(&lab, &[], URL, 1)?;
    assert_eq!(probe.status, Some(28), "curl: operation timed out{probe}");

    let run = lab.check(&lab.client, URL, &["--timeout", "3s"])?;
    assert_diagnosis(&run, 1, Some("http"), "http_timeout");
    Ok(())
}

/// The server accepts, reads the request, then resets (SO_LINGER 0): the tcp layer passes, the
/// answer never comes.
#[test]
fn connection_reset_after_request() -> Result<()> {
    require_netns!();
    let lab = lab("httpreset")?;
    lab.server.http(ADDR, HttpServer::reset_after_request())?;
    let probe = curl(&lab, &[], URL, 3)?;
    assert_eq!(probe.status, Some(56), "curl: recv failure (reset){probe}");
    assert!(probe.stderr.contains("reset"), "curl{probe}");

    let run = lab.check(&lab.client, URL, &[])?;
    assert_diagnosis(&run, 1, Some("http"), "connection_reset");
    Ok(())
}

/// A 301 is reported, not followed: healthy, with an `http_redirect` warning naming the target.
#[test]
fn http_redirect_is_a_warning() -> Result<()> {
    require_netns!();
    let lab = lab("httpredir")?;
    lab.server.http(
        ADDR,
        HttpServer::status(301).header("Location", "http://10.77.2.2:8080/moved"),
    )?;
    let probe = curl(&lab, &[], URL, 3)?;
    assert!(probe.stdout.starts_with("301 "), "curl{probe}");

    let run = lab.check(&lab.client, URL, &[])?;
    assert_diagnosis(&run, 0, None, "ok");
    assert!(
        run.warning_causes().contains(&"http_redirect"),
        "http_redirect warning{run}"
    );
    assert_mentions(&run, "/moved");
    Ok(())
}
