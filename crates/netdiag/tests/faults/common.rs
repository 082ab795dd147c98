//! The lab every namespace test starts from, and the assertions they share.

use netdiag_testnet::{Node, Result, Run, Testnet};
use std::time::Duration;

/// client 10.77.1.2 — 10.77.1.1 router 10.77.2.1 — 10.77.2.2 server. Every test has its own
/// namespaces, so the same addresses are reused without collisions.
pub(crate) const CLIENT: &str = "10.77.1.2";
/// The router's address on the client's side: the sender of ICMP errors the client receives.
pub(crate) const ROUTER_IN: &str = "10.77.1.1";
/// The router's address on the server's side.
pub(crate) const ROUTER_OUT: &str = "10.77.2.1";
/// The server.
pub(crate) const SERVER: &str = "10.77.2.2";

/// Deadline for the precondition probes.
pub(crate) const PROBE: Duration = Duration::from_secs(1);

/// The netdiag this test binary was built with (`NETDIAG_BIN` overrides it at run time).
pub(crate) const NETDIAG: &str = env!("CARGO_BIN_EXE_netdiag");

pub(crate) struct Lab {
    pub(crate) net: Testnet,
    pub(crate) client: Node,
    pub(crate) router: Node,
    pub(crate) server: Node,
}

/// Builds the three-node lab: default routes on client and server via the router.
pub(crate) fn lab(tag: &str) -> Result<Lab> {
    let net = Testnet::new(tag)?;
    net.set_netdiag(NETDIAG);
    let client = net.host("c")?;
    let router = net.router("r")?;
    let server = net.host("s")?;
    net.link(
        &client,
        &format!("{CLIENT}/24"),
        &router,
        &format!("{ROUTER_IN}/24"),
    )?;
    net.link(
        &router,
        &format!("{ROUTER_OUT}/24"),
        &server,
        &format!("{SERVER}/24"),
    )?;
    client.default_route(ROUTER_IN)?;
    server.default_route(ROUTER_OUT)?;
    Ok(Lab {
        net,
        client,
        router,
        server,
    })
}

impl Lab {
    /// `netdiag check TARGET --format json EXTRA…` from `node`. Unless EXTRA gives them, a
    /// resolv.conf naming only 127.0.0.1 and a minimal hosts file are passed, so the host's own
    /// files never influence a test.
    pub(crate) fn check(&self, node: &Node, target: &str, extra: &[&str]) -> Result<Run> {
        check(&self.net, node, target, extra)
    }
}

impl Lab {
    /// Like [`Lab::check`], with extra environment variables for netdiag.
    pub(crate) fn check_env(
        &self,
        node: &Node,
        target: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Run> {
        let args = check_args(&self.net, target, extra)?;
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        node.netdiag_env(&args, env)
    }
}

pub(crate) fn check(net: &Testnet, node: &Node, target: &str, extra: &[&str]) -> Result<Run> {
    let args = check_args(net, target, extra)?;
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    node.netdiag(&args)
}

fn check_args(net: &Testnet, target: &str, extra: &[&str]) -> Result<Vec<String>> {
    let mut args: Vec<String> = ["check", target, "--format", "json"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    if !extra.contains(&"--resolv-conf") {
        let path = net.resolv_conf(&["nameserver 127.0.0.1"])?;
        args.extend(["--resolv-conf".into(), path.to_string_lossy().into_owned()]);
    }
    if !extra.contains(&"--hosts-file") {
        let path = net.hosts_file(&["127.0.0.1 localhost"])?;
        args.extend(["--hosts-file".into(), path.to_string_lossy().into_owned()]);
    }
    Ok(args)
}

/// The `--timeout` the run was given, or netdiag's default of 10 s.
fn timeout_of(run: &Run) -> Duration {
    let mut words = run.command.split_whitespace();
    while let Some(word) = words.next() {
        if word == "--timeout" {
            let value = words.next().unwrap_or_default();
            if let Some(ms) = value.strip_suffix("ms") {
                return Duration::from_millis(ms.parse().expect("--timeout in ms"));
            }
            if let Some(s) = value.strip_suffix('s') {
                return Duration::from_secs(s.parse().expect("--timeout in s"));
            }
        }
    }
    Duration::from_secs(10)
}

/// The contract: a check never takes longer than its `--timeout`. One second of slack covers
/// process start-up and `ip netns exec`.
#[track_caller]
pub(crate) fn assert_within_timeout(run: &Run) {
    let limit = timeout_of(run) + Duration::from_secs(1);
    assert!(
        run.elapsed <= limit,
        "took {:?}, more than --timeout + 1 s{run}",
        run.elapsed
    );
}

/// Asserts exit code, `verdict.layer` (`None` = JSON null, healthy) and `verdict.cause`, the
/// schema, and the time bound.
#[track_caller]
pub(crate) fn assert_diagnosis(run: &Run, exit: i32, layer: Option<&str>, cause: &str) {
    assert_eq!(run.schema(), Some("netdiag.report/v1"), "schema{run}");
    assert_eq!(run.status, Some(exit), "exit code{run}");
    match layer {
        Some(layer) => assert_eq!(run.layer(), Some(layer), "verdict.layer{run}"),
        None => assert!(run.layer_is_null(), "verdict.layer should be null{run}"),
    }
    assert_eq!(run.cause(), Some(cause), "verdict.cause{run}");
    assert_within_timeout(run);
}

/// Asserts that the evidence or the verdict's summary/root cause contains `needle` (typically
/// the address of the node that sent an ICMP error).
#[track_caller]
pub(crate) fn assert_mentions(run: &Run, needle: &str) {
    assert!(
        run.mentions(needle),
        "evidence should mention {needle:?}{run}"
    );
}
