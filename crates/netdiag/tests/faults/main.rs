//! netdiag against real faults: one test per fault, named after it, asserting the exit code,
//! `verdict.layer`, `verdict.cause` and the evidence of `netdiag check … --format json`.
//!
//! Faults are built in network namespaces by `netdiag-testnet` (see its crate docs): a client, a
//! router and a server joined by veth pairs (two routers for the path-MTU tests), real
//! dnsmasq/unbound, tinyproxy and `openssl s_server`, the harness's own listeners and HTTP(S)
//! server, certificates generated per test, iptables. Each test first checks that the fault is
//! really in place with an independent probe (std sockets, `dig`, `curl`, `openssl s_client`,
//! `ping -M do`), so a failure says whether the bench or netdiag is wrong.
//!
//! Namespace tests need root and `NETDIAG_NETNS_TESTS=1` (`.ci/run` sets both); otherwise they
//! print "skipped: needs root and NETDIAG_NETNS_TESTS=1" and pass, so `cargo test` stays hermetic.
//! The resolver-config and bad-input tests need neither: they stop before any packet is sent.
//!
//! Set `NETDIAG_BIN` to run these tests against another netdiag build, and
//! `NETDIAG_TESTNET_KEEP=1` to keep a failing scenario's namespaces for inspection.

mod cloud;
mod common;
mod dns;
mod dns64;
mod dualstack;
mod host;
mod http;
mod input;
mod mtu;
mod proxy;
mod resolver;
mod route;
mod tcp;
mod tls;
mod udp;
