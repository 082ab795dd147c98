//! Test harness for real network faults, built in Linux network namespaces.
//!
//! netdiag's claims ("this is an ICMP admin-prohibited from 10.77.1.1, not a server that is down")
//! can only be trusted if they are checked against the kernel doing the real thing. Mocks would
//! test our idea of the kernel. So a test builds a tiny network of namespaces joined by veth pairs,
//! runs real servers in it (dnsmasq, unbound, listeners), breaks it on purpose (iptables, missing
//! routes, dead nameservers) and runs the real `netdiag` binary inside it. For the upper layers it
//! also runs tinyproxy ([`Tinyproxy`]), any server program that listens on TCP
//! ([`Node::spawn_server`], e.g. `openssl s_server`), its own HTTP(S) server with slow, silent and
//! resetting behaviours ([`HttpServer`]), and generates certificates per scenario ([`Pki`]).
//! Page tests load HTML in headless Chromium ([`Chromium`]) and check its DOM and screenshot.
//!
//! A test reads like the fault it creates:
//!
//! ```no_run
//! # fn main() -> netdiag_testnet::Result<()> {
//! use netdiag_testnet::Testnet;
//! let net = Testnet::new("tcpadm")?;
//! let client = net.host("c")?;
//! let router = net.router("r")?;
//! let server = net.host("s")?;
//! net.link(&client, "10.77.1.2/24", &router, "10.77.1.1/24")?;
//! net.link(&router, "10.77.2.1/24", &server, "10.77.2.2/24")?;
//! client.default_route("10.77.1.1")?;
//! server.default_route("10.77.2.1")?;
//! router.run("iptables -w -A FORWARD -p tcp --dport 8080 -j REJECT --reject-with icmp-admin-prohibited")?;
//! server.listen_tcp("10.77.2.2:8080")?;
//! let run = client.netdiag(&["check", "tcp://10.77.2.2:8080", "--format", "json"])?;
//! assert_eq!(run.cause(), Some("tcp_admin_prohibited"), "{run}");
//! # Ok(()) }
//! ```
//!
//! Rules this crate keeps, so tests can run in parallel and never leak:
//! - every namespace name carries the test process id and a sequence number; a new [`Testnet`]
//!   first removes namespaces left behind by test processes that no longer exist;
//! - namespaces, processes, server threads and temp files are removed when the [`Testnet`] is
//!   dropped, including while a test panics (set `NETDIAG_TESTNET_KEEP=1` to keep them for
//!   debugging);
//! - every wait is bounded: commands, server start-up, probes and netdiag runs all have deadlines;
//! - only addresses inside namespaces the test creates, and loopback, are ever used.
//!
//! It must never touch the host's own network namespace beyond creating and deleting its own
//! named namespaces.

mod apiserver;
mod browser;
mod dns;
mod error;
mod http;
mod net;
mod pki;
mod probe;
mod process;
mod proxy;
mod run;
mod servers;
mod tempdir;

pub use apiserver::{api_status, ApiAnswer, ApiRoutes, FakeApiServer, API_SERVER_LIFETIME};
pub use browser::{Chromium, Screenshot};
pub use dns::{Dig, Dnsmasq, Unbound};
pub use error::{Error, Result};
pub use http::HttpServer;
pub use net::{Link, Node, Testnet};
pub use pki::{LeafFiles, Pki, Signer, Validity};
pub use probe::{dns_query, TcpConnect, UdpExchange};
pub use proxy::Tinyproxy;
pub use run::Run;
pub use servers::UdpHandler;
pub use tempdir::TempDir;

/// The message a gated test prints when it does not run.
pub const SKIP_MESSAGE: &str = "skipped: needs root and NETDIAG_NETNS_TESTS=1";

/// Whether namespace tests may run here: effective uid 0 and `NETDIAG_NETNS_TESTS=1`.
///
/// The gate keeps `cargo test` hermetic for a developer without root: namespace tests then skip
/// instead of failing. CI (`.ci/run`) runs as root with the variable set.
pub fn netns_tests_enabled() -> bool {
    std::env::var("NETDIAG_NETNS_TESTS").is_ok_and(|v| v == "1") && nix::unistd::geteuid().is_root()
}

/// Returns `Ok(())` from the calling test, after printing [`SKIP_MESSAGE`], unless
/// [`netns_tests_enabled`]. Use it as the first line of every namespace test.
#[macro_export]
macro_rules! require_netns {
    () => {
        if !$crate::netns_tests_enabled() {
            eprintln!("{}", $crate::SKIP_MESSAGE);
            return Ok(());
        }
    };
}
