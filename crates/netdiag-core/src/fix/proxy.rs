//! Remedies of the proxy causes (`proxy_*`).

use super::{runbook, Remedy, Words};
use crate::diagnose::FixContext;
use crate::report::Fix;

/// The remedy of `ProxyUnreachable`, `ProxyRefused`.
pub(super) fn unreachable(_w: Words<'_>, ctx: &FixContext) -> Remedy {
    let proxy = ctx
        .proxy
        .clone()
        .unwrap_or_else(|| "PROXY_HOST:PORT".to_string());
    Remedy {
        fix: Fix {
            description: format!(
                "The proxy {proxy} is not reachable: fix the proxy setting (variable {}) or the proxy service; if the direct path works, exempt {} with no_proxy.",
                ctx.proxy_source.clone().unwrap_or_else(|| "https_proxy".to_string()),
                ctx.host
            ),
            commands: vec![
                "env | grep -i _proxy".to_string(),
                format!("nc -vz -w 3 {}", proxy.replace(':', " ")),
                format!("export no_proxy=\"$no_proxy,{}\"   # if {} should be reached directly", ctx.host, ctx.host),
            ],
         manifests: Vec::new() },
        prestate: vec!["env | grep -i _proxy > /tmp/proxy-env.before".to_string()],
        rollback: vec!["restore the variables from /tmp/proxy-env.before (export ...)".to_string()],
        runbook: runbook(
            "Everything through the proxy fails; direct access may work",
            &["env | grep -i _proxy", "curl -v --noproxy '*' https://HOST/"],
            "the proxy is down or mis-set; fix it or exempt the target with no_proxy.",
        ),
    }
}

/// The remedy of `ProxyAuthRequired`.
pub(super) fn auth_required(_w: Words<'_>, ctx: &FixContext) -> Remedy {
    Remedy {
        fix: Fix {
            description: "The proxy demands authentication (407): put credentials in the proxy URL (http://user:password@proxy:port) or use the proxy's supported scheme (see Proxy-Authenticate).".to_string(),
            commands: vec![
                "export https_proxy='http://USER:PASSWORD@PROXY_HOST:PORT'".to_string(),
                format!("curl -v -x \"$https_proxy\" https://{}/ -o /dev/null", ctx.host),
            ],
         manifests: Vec::new() },
        prestate: vec!["env | grep -i _proxy > /tmp/proxy-env.before".to_string()],
        rollback: vec!["restore the variables from /tmp/proxy-env.before".to_string()],
        runbook: runbook("407 Proxy Authentication Required", &["curl -v -x $https_proxy https://HOST/"], "give the client proxy credentials."),
    }
}

/// The remedy of `ProxyConnectFailed`.
pub(super) fn connect_failed(w: Words<'_>, ctx: &FixContext) -> Remedy {
    let Words { port, .. } = w;
    Remedy {
        fix: Fix {
            description: format!(
                "The proxy refuses or fails CONNECT to {}:{port}: a 403 is the proxy's policy (ask for {} to be allowed, e.g. squid http_access / tinyproxy ConnectPort and Allow); a 502/503/504 means the proxy cannot reach the target itself.",
                ctx.host, ctx.host
            ),
            commands: vec![format!("curl -v -x \"$https_proxy\" https://{}:{port}/ -o /dev/null", ctx.host), "grep -E '^(http_access|acl)' /etc/squid/squid.conf   # on the proxy".to_string()],
         manifests: Vec::new() },
        prestate: vec!["copy the proxy's configuration before changing its ACL".to_string()],
        rollback: vec!["restore the proxy configuration and reload it".to_string()],
        runbook: runbook("CONNECT refused by the proxy", &["curl -v -x $https_proxy https://HOST/"], "proxy ACL or the proxy's own path to the target."),
    }
}
