//! The `netdiag` binary: a thin CLI over netdiag-core (diagnosis) and netdiag-probe (I/O).
//!
//! Exit status is part of the contract: 0 healthy, 1 a layer failed, 2 usage error or bad input
//! (one line on stderr, nothing else done), 3 internal error.

// Items are `pub` for readability inside this binary; nothing here is a library API.
#![allow(unreachable_pub)]

mod causes;
mod check;
mod cli;
mod cloud;
mod demo;
mod demo_servers;
mod k8s;

use clap::Parser;
use std::io::Write;

fn main() {
    // A panic is netdiag's own failure: exit 3, never 1 (which means "the target failed").
    std::panic::set_hook(Box::new(|info| {
        eprintln!("netdiag: internal error: {info}");
        std::process::exit(3);
    }));
    // One process-level rustls provider, ring, the only one compiled in. The probes pass it to
    // every builder anyway; kube's client (k8s --kubeconfig) uses `ClientConfig::builder()`,
    // which needs this (STACK.md pitfall 3). Err means one is installed already: fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let (output, code) = match cli.command {
        cli::Command::Check(args) => match check::resolve(&args) {
            Ok(configs) => match check::run(&configs, args.evidence.as_deref()) {
                Ok(done) => done,
                Err(e) => {
                    eprintln!("netdiag: {e}");
                    std::process::exit(2);
                }
            },
            Err(e) => {
                eprintln!("netdiag: {e}");
                std::process::exit(2);
            }
        },
        cli::Command::Causes(args) => (causes::render(check::format_of(args.format)), 0),
        cli::Command::Demo(args) => demo::run(check::format_of(args.format)),
        cli::Command::K8s(args) => match k8s::run(&args) {
            Ok(done) => done,
            Err(e) => {
                eprintln!("netdiag: {e}");
                std::process::exit(2);
            }
        },
        cli::Command::Cloud(args) => match cloud::run(&args) {
            Ok(done) => done,
            Err(e) => {
                eprintln!("netdiag: {e}");
                std::process::exit(2);
            }
        },
    };
    let mut stdout = std::io::stdout().lock();
    if stdout
        .write_all(output.as_bytes())
        .and_then(|_| stdout.flush())
        .is_err()
    {
        // A closed pipe (e.g. `| head`) is not an error worth a message.
        std::process::exit(code);
    }
    std::process::exit(code);
}
