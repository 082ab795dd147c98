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
mod fleet;
mod format;
mod k8s;
mod mcp;
mod serve;

use clap::Parser;
use std::io::Write;
use std::process::ExitCode;

/// netdiag itself could not run as asked (a bad flag, an unreadable or malformed input): exit 2
/// with this one line on stderr, nothing else done.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct UsageError(String);

impl From<check::InputError> for UsageError {
    fn from(e: check::InputError) -> UsageError {
        UsageError(e.0)
    }
}

impl From<String> for UsageError {
    fn from(e: String) -> UsageError {
        UsageError(e)
    }
}

fn main() -> ExitCode {
    // A panic is netdiag's own failure: exit 3, never 1 (which means "the target failed").
    std::panic::set_hook(Box::new(|info| {
        eprintln!("netdiag: internal error: {info}");
        std::process::exit(3);
    }));
    // One process-level rustls provider, ring, the only one compiled in. The probes pass it to
    // every builder anyway; kube's client (k8s --kubeconfig) uses `ClientConfig::builder()`,
    // which needs this (STACK.md pitfall 3). Err means one is installed already: fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("netdiag: {e}");
            ExitCode::from(2)
        }
    }
}

/// Parse, resolve, call, render: the whole binary. Returns the contract's exit status.
fn run() -> Result<ExitCode, UsageError> {
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // `--help` and `--version` print to stdout and succeed; a bad flag is exit 2.
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return Ok(ExitCode::from(code));
        }
    };
    let (request, format) = match cli.command {
        cli::Command::Check(args) => {
            let (format, checks) = check::resolve(&args)?;
            if checks.is_empty() {
                return Ok(ExitCode::from(2));
            }
            (check::request(checks, args.evidence.as_deref()), format)
        }
        cli::Command::Causes(args) => {
            let output = causes::render(args.cause.as_deref(), args.format.into())?;
            return Ok(print(&output, 0));
        }
        cli::Command::Demo(args) => {
            let (output, code) = demo::run(args.format.into());
            return Ok(print(&output, code));
        }
        cli::Command::K8s(args) => k8s::request(&args)?,
        cli::Command::Cloud(args) => cloud::request(&args)?,
        cli::Command::Serve(args) => return Ok(ExitCode::from(serve::run(&args))),
        cli::Command::Mcp(args) => {
            let (output, code) = mcp::run(&args)?;
            return Ok(print(&output, code));
        }
        cli::Command::Fleet(args) => {
            let (output, code) = fleet::run(&args)?;
            return Ok(print(&output, code));
        }
    };
    let diagnosis = netdiag_engine::diagnose(&request)?;
    let code = print(&diagnosis.render(format), diagnosis.exit_code);
    // The process exits right after printing: freeing a large estate or cluster one allocation
    // at a time would only add to its run time.
    std::mem::forget(diagnosis);
    Ok(code)
}

/// Prints the output; a closed pipe (e.g. `| head`) is not an error worth a message, and the
/// status stays.
fn print(output: &str, code: i32) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(output.as_bytes())
        .and_then(|()| stdout.flush());
    ExitCode::from(u8::try_from(code).unwrap_or(3))
}
