//! Fix, pre-state, rollback and runbook text for every cause.
//!
//! One place per cause: [`remedy`]'s match lists every cause and sends it, in one hop, to the
//! function of its layer that builds its remedy:
//!
//! - `resolver_*`: [`resolver`]
//! - `dns_*`: [`dns`]
//! - `no_route`, `net_unreachable`: [`route`]
//! - `tcp_*`, `udp_admin_prohibited`, `host_unreachable`, `listener_bound_to_loopback`: [`tcp`]
//! - `udp_port_unreachable`, `udp_no_response`: [`udp`]
//! - `interface_down`, `neighbor_failed`, `rp_filter_strict_asymmetric`, `conntrack_table_full`:
//!   [`host`]
//! - `proxy_*`: [`proxy`]
//! - `mtu_*`: [`mtu`]
//! - `tls_*`: [`tls`]
//! - `http_*`, `connection_reset`: [`http`]
//! - `svc_*`, `netpol_*`, `cloud_*`: [`adapters`] (templates; the k8s and cloud checks compute
//!   the concrete fix)
//!
//! A newcomer looking for what netdiag tells people to do about `tcp_admin_prohibited` finds it
//! in [`remedy`]'s match arm of that name, which names `tcp::admin_prohibited`. Fixes are printed,
//! never applied. Every firewall change is scoped to the flow's own source and destination, never
//! to 0.0.0.0/0, and comes with the command that captures the state before it and the one that
//! undoes it.

mod adapters;
mod dns;
mod host;
mod http;
mod mtu;
mod proxy;
mod resolver;
mod route;
mod tcp;
mod tls;
mod udp;

use crate::cause::Cause;
use crate::diagnose::FixContext;
pub use crate::remedy::Remedy;

fn or(v: Option<impl ToString>, placeholder: &str) -> String {
    v.map(|x| x.to_string())
        .unwrap_or_else(|| placeholder.to_string())
}

fn runbook(symptom: &str, check: &[&str], fix: &str) -> String {
    let checks: Vec<String> = check.iter().map(|c| format!("    {c}")).collect();
    format!(
        "### {symptom}\n\n**Check**\n\n{}\n\n**Fix**: {fix}\n",
        checks.join("\n")
    )
}

/// The words every remedy's text is built from, computed once from the context: the flow's
/// address, port, protocol and source, the resolv.conf path and its backup/restore commands, the
/// nameserver and the queried name, each with its placeholder when the context lacks it.
struct Words<'a> {
    addr: String,
    port: String,
    proto: &'a str,
    src: String,
    rc: String,
    ns: String,
    name: String,
    backup: String,
    restore: String,
}

impl<'a> Words<'a> {
    fn new(ctx: &'a FixContext) -> Self {
        let addr = or(ctx.address, "TARGET_IP");
        let port = or(ctx.port, "PORT");
        let proto = if ctx.protocol.is_empty() {
            "tcp"
        } else {
            ctx.protocol
        };
        let src = or(ctx.source, "SOURCE_IP");
        let rc = if ctx.resolv_conf.is_empty() {
            "/etc/resolv.conf".to_string()
        } else {
            ctx.resolv_conf.clone()
        };
        let ns = or(ctx.nameserver, "NAMESERVER_IP");
        let name = ctx
            .name
            .clone()
            .unwrap_or_else(|| format!("{}.", ctx.host.trim_end_matches('.')));
        let backup = format!("cp -a {rc} {rc}.bak.$(date +%s)");
        let restore =
            format!("cp -a {rc}.bak.<timestamp> {rc}   # the copy made before the change");
        Words {
            addr,
            port,
            proto,
            src,
            rc,
            ns,
            name,
            backup,
            restore,
        }
    }
}

/// Builds the remedy for a cause in its context.
pub fn remedy(cause: Cause, ctx: &FixContext) -> Remedy {
    let w = Words::new(ctx);
    match cause {
        Cause::Ok => Remedy::default(),
        Cause::ResolverConfigInvalid => resolver::config_invalid(w, ctx),
        Cause::ResolverNoNameservers => resolver::no_nameservers(w),
        Cause::ResolverTooManyNameservers => resolver::too_many_nameservers(w),
        Cause::DnsNxdomain => dns::nxdomain(w),
        Cause::DnsNodata => dns::nodata(w),
        Cause::DnsServfail => dns::servfail(w),
        Cause::DnsDnssecFailure => dns::dnssec_failure(w),
        Cause::DnsRefused => dns::refused(w),
        Cause::DnsTimeout => dns::timeout(w),
        Cause::DnsNameserverUnreachable => dns::nameserver_unreachable(w, ctx),
        Cause::DnsSlow => dns::slow(w, ctx),
        Cause::DnsSearchExpansion => dns::search_expansion(w, ctx),
        Cause::DnsHostsOverride => dns::hosts_override(w, ctx),
        Cause::DnsInconsistentNameservers => dns::inconsistent_nameservers(w),
        Cause::NoRoute => route::no_route(w, ctx),
        Cause::NetUnreachable => route::net_unreachable(w, ctx),
        Cause::TcpRefused if ctx.offender.is_some() => tcp::refused_by_firewall(w, ctx),
        Cause::TcpRefused => tcp::refused(w, ctx),
        Cause::TcpTimeout => tcp::timeout(w),
        Cause::TcpAdminProhibited | Cause::UdpAdminProhibited => tcp::admin_prohibited(w, ctx),
        Cause::HostUnreachable => tcp::host_unreachable(w, ctx),
        Cause::TcpReset => tcp::reset(w),
        Cause::ListenerBoundToLoopback => tcp::listener_bound_to_loopback(w, ctx),
        Cause::AddressFamilyBroken => tcp::address_family_broken(w, ctx),
        Cause::Nat64TranslatorUnreachable => tcp::nat64_translator_unreachable(w, ctx),
        Cause::SomeAddressesUnreachable => tcp::some_addresses_unreachable(w, ctx),
        Cause::UdpPortUnreachable => udp::port_unreachable(w),
        Cause::UdpNoResponse => udp::no_response(w),
        Cause::InterfaceDown
        | Cause::NeighborFailed
        | Cause::RpFilterStrictAsymmetric
        | Cause::ConntrackTableFull => host::host_fact(w, ctx, cause),
        Cause::ProxyUnreachable | Cause::ProxyRefused => proxy::unreachable(w, ctx),
        Cause::ProxyAuthRequired => proxy::auth_required(w, ctx),
        Cause::ProxyConnectFailed => proxy::connect_failed(w, ctx),
        Cause::MtuBlackhole | Cause::MtuPathReduced => mtu::path_mtu(w, ctx),
        Cause::TlsNotTls => tls::not_tls(w, ctx),
        Cause::TlsProtocolMismatch => tls::protocol_mismatch(w, ctx),
        Cause::TlsCertExpired | Cause::TlsCertNotYetValid | Cause::TlsCertExpiringSoon => {
            tls::cert_validity(w, ctx, cause)
        }
        Cause::TlsNameMismatch => tls::name_mismatch(w, ctx),
        Cause::TlsUntrustedIssuer | Cause::TlsSelfSigned => tls::untrusted_issuer(w, ctx),
        Cause::TlsIncompleteChain => tls::incomplete_chain(w, ctx),
        Cause::TlsClientCertRequired => tls::client_cert_required(w, ctx),
        Cause::TlsHandshakeFailure => tls::handshake_failure(w, ctx),
        Cause::TlsCertRevoked => tls::cert_revoked(w, ctx),
        Cause::TlsWeakSignature | Cause::TlsWeakKey => tls::weak_certificate(w, ctx, cause),
        Cause::TlsChainMisordered => tls::chain_misordered(w, ctx),
        Cause::TlsCertTooLarge => tls::cert_too_large(w, ctx),
        Cause::TlsWeakCipher | Cause::TlsNoSharedCipher => tls::cipher_suites(w, ctx, cause),
        Cause::TlsWeakDh => tls::weak_dh(w, ctx),
        Cause::Http5xx => http::server_error(w, ctx),
        Cause::Http4xx => http::client_error(w, ctx),
        Cause::HttpTimeout | Cause::HttpSlow => http::slow_answer(w, ctx),
        Cause::ConnectionReset => http::connection_reset(w),
        Cause::HttpNotHttp => http::not_http(w, ctx),
        Cause::HttpRedirect => http::redirect(w, ctx),
        Cause::HttpStatusUnexpected
        | Cause::HttpVersionMismatch
        | Cause::HttpRedirectLoop
        | Cause::HttpNotTls
        | Cause::HttpTlsUnexpected
        | Cause::HttpBodyMismatch
        | Cause::HttpBodyTooLarge
        | Cause::TcpExpectMismatch => http::expectation(w, ctx, cause),
        Cause::SvcNoEndpointsSelectorMismatch
        | Cause::SvcPodsNotReady
        | Cause::SvcTargetportMismatch
        | Cause::SvcNamedTargetportMissing
        | Cause::SvcWrongProtocol
        | Cause::SvcExternalnameMisread
        | Cause::NetpolIngressDenied
        | Cause::NetpolEgressDenied
        | Cause::NetpolBothDenied => adapters::kubernetes_template(cause),
        Cause::CloudNoAllowRule
        | Cause::CloudDenyRule
        | Cause::CloudNoRoute
        | Cause::CloudBlackholeRoute
        | Cause::CloudNaclReturnBlocked
        | Cause::CloudPlatformBlock
        | Cause::CloudUnknown => adapters::cloud_template(cause),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cause_has_a_fix_and_runbook() {
        let ctx = FixContext {
            host: "api.test".into(),
            port: Some(443),
            protocol: "tcp",
            ..FixContext::default()
        };
        for cause in Cause::ALL {
            let r = remedy(*cause, &ctx);
            assert!(!r.fix.description.is_empty(), "{cause}");
            assert!(!r.fix.commands.is_empty(), "{cause}");
            assert!(!r.rollback.is_empty(), "{cause}");
            assert!(r.runbook.starts_with("### "), "{cause}");
            let all = format!("{:?}", r);
            assert!(
                !all.contains("0.0.0.0/0") && !all.contains("::/0"),
                "{cause} opens the world"
            );
            // The one guard admits every live remedy as generated.
            assert_eq!(r.clone().admitted().ok(), Some(r), "{cause}");
        }
    }

    #[test]
    fn firewall_fix_is_scoped_to_the_flow() {
        let ctx = FixContext {
            port: Some(8080),
            protocol: "tcp",
            address: Some("10.0.2.2".parse().unwrap()),
            source: Some("10.0.1.2".parse().unwrap()),
            offender: Some("10.0.1.1".parse().unwrap()),
            ..FixContext::default()
        };
        let r = remedy(Cause::TcpAdminProhibited, &ctx);
        assert!(r
            .fix
            .commands
            .iter()
            .any(|c| c.contains("-s 10.0.1.2/32 -d 10.0.2.2/32 --dport 8080")));
        assert!(r.fix.description.contains("10.0.1.1"));
    }
}
