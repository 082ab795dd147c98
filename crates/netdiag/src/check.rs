//! `netdiag check`: the flags as typed, handed to the engine's one validation
//! ([`netdiag_engine::options::resolve`], shared with the MCP tools), then the walk.

use crate::cli::CheckArgs;
use netdiag_core::render::Format;
use netdiag_core::walk::Family;
use netdiag_engine::options::{resolve as resolve_options, CheckOptions, Spelling};
use netdiag_engine::LiveCheck;
use netdiag_probe::files::read_config;

/// A bad flag or input: exit status 2 with this one-line message.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InputError(pub String);

/// The targets named on the command line and in `--targets FILE` (one per line, `#` comments).
fn target_texts(args: &CheckArgs) -> Result<Vec<String>, InputError> {
    let mut texts: Vec<String> = args.targets.clone();
    if let Some(path) = &args.targets_file {
        let text = read_config(path).map_err(|e| InputError(format!("--targets {e}")))?;
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            if !line.is_empty() {
                texts.push(line.to_string());
            }
        }
    }
    Ok(texts)
}

/// The flags as the engine's options (text as typed; the engine validates).
fn options(args: &CheckArgs) -> Result<CheckOptions, InputError> {
    Ok(CheckOptions {
        targets: target_texts(args)?,
        timeout: Some(args.timeout.clone()),
        connect_timeout: args.connect_timeout.clone(),
        resolv_conf: args.resolv_conf.clone(),
        hosts_file: args.hosts_file.clone(),
        nsswitch_conf: args.nsswitch_conf.clone(),
        cacert: args.cacert.clone(),
        cacert_pem: None,
        crlfile: args.crlfile.clone(),
        sni: args.sni.clone(),
        family: match (args.ipv4, args.ipv6) {
            (true, _) => Some(Family::V4),
            (_, true) => Some(Family::V6),
            _ => None,
        },
        proxy: args.proxy.clone(),
        no_proxy: args.no_proxy,
        slow: args.slow.clone(),
        mtu: args.mtu,
        follow: args.follow,
        cloud: args.cloud.clone(),
        cloud_provider: args.cloud_provider.clone(),
    })
}

/// Resolves the flags once into the validated checks the engine runs (one per target), and the
/// output format.
pub fn resolve(args: &CheckArgs) -> Result<(Format, Vec<LiveCheck>), InputError> {
    let checks = resolve_options(&options(args)?, Spelling::Flags).map_err(InputError)?;
    Ok((Format::from(args.format), checks))
}

/// `netdiag check`: the engine's request for the validated checks.
pub fn request(checks: Vec<LiveCheck>, evidence: Option<&str>) -> netdiag_engine::Request {
    netdiag_engine::Request::Live {
        checks,
        evidence: evidence.map(std::path::PathBuf::from),
    }
}
