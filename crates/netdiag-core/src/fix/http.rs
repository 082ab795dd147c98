//! Remedies of the HTTP answer causes (`http_*`, `connection_reset`).

use super::{runbook, Remedy, Words};
use crate::diagnose::FixContext;
use crate::report::Fix;

/// The remedy of `Http5xx`.
pub(super) fn server_error(_w: Words<'_>, ctx: &FixContext) -> Remedy {
    Remedy {
        fix: Fix {
            description: format!("The server (or a gateway in front of it) answers {}: the network path is fine; look at the service and its upstreams.", ctx.http_status.map(|s| s.to_string()).unwrap_or_else(|| "5xx".to_string())),
            commands: vec![format!("curl -sv {} -o /dev/null", ctx.url.clone().unwrap_or_default()), "journalctl -u <service> --since -15min   # on the server".to_string(), "kubectl logs deploy/<name> --since=15m   # if it runs in Kubernetes".to_string()],
         manifests: Vec::new() },
        prestate: vec!["save the service's recent logs before restarting anything".to_string()],
        rollback: vec!["roll back the last deploy of the service if it started then".to_string()],
        runbook: runbook("502/503/504 from the service", &["curl -sv URL"], "an application or upstream failure, not the network."),
    }
}

/// The remedy of `Http4xx`.
pub(super) fn client_error(_w: Words<'_>, ctx: &FixContext) -> Remedy {
    Remedy {
        fix: Fix {
            description: format!("The server refuses the request with {}: check the path, credentials and the server's access policy.", ctx.http_status.map(|s| s.to_string()).unwrap_or_else(|| "4xx".to_string())),
            commands: vec![format!("curl -sv {} -o /dev/null", ctx.url.clone().unwrap_or_default())],
         manifests: Vec::new() },
        prestate: vec!["none: nothing is changed by checking".to_string()],
        rollback: vec!["none".to_string()],
        runbook: runbook("4xx from the service", &["curl -sv URL"], "wrong path, missing auth, or a policy (WAF) denies the client."),
    }
}

/// The remedy of `HttpTimeout`, `HttpSlow`.
pub(super) fn slow_answer(_w: Words<'_>, ctx: &FixContext) -> Remedy {
    Remedy {
        fix: Fix {
            description: "The connection and TLS are fine but the application is slow to answer: check the service's latency, its upstreams (database), and saturation.".to_string(),
            commands: vec![format!("curl -s -o /dev/null -w 'connect %{{time_connect}} tls %{{time_appconnect}} first-byte %{{time_starttransfer}} total %{{time_total}}\\n' {}", ctx.url.clone().unwrap_or_default())],
         manifests: Vec::new() },
        prestate: vec!["capture the service's metrics and logs for the slow period".to_string()],
        rollback: vec!["none".to_string()],
        runbook: runbook("Requests hang after connecting", &["curl -w '%{time_starttransfer}' URL"], "an application stall, not the network."),
    }
}

/// The remedy of `ConnectionReset`.
pub(super) fn connection_reset(w: Words<'_>) -> Remedy {
    let Words { addr, port, .. } = w;
    Remedy {
        fix: Fix {
            description: "The server accepts the connection and resets it: check the service's logs (crash, connection limits) and middleboxes (load balancer idle/limit rules, IPS).".to_string(),
            commands: vec![format!("tcpdump -ni any 'host {addr} and port {port} and tcp[tcpflags] & tcp-rst != 0'")],
         manifests: Vec::new() },
        prestate: vec!["save the service's logs".to_string()],
        rollback: vec!["none".to_string()],
        runbook: runbook("'Connection reset by peer' on requests", &["curl -v URL"], "the application or a middlebox resets the flow."),
    }
}

/// The remedy of `HttpNotHttp`.
pub(super) fn not_http(w: Words<'_>, ctx: &FixContext) -> Remedy {
    let Words { addr, port, .. } = w;
    Remedy {
        fix: Fix {
            description: format!("{addr}:{port} does not speak HTTP: check the port and scheme (is it TLS, gRPC, a database?)."),
            commands: vec![format!("curl -v {} -o /dev/null", ctx.url.clone().unwrap_or_default()), format!("nc -v {addr} {port} </dev/null | head -c 200 | xxd | head")],
         manifests: Vec::new() },
        prestate: vec!["none".to_string()],
        rollback: vec!["none".to_string()],
        runbook: runbook("'Received HTTP/0.9 when not allowed' / garbage reply", &["nc -v HOST PORT"], "wrong port or protocol."),
    }
}

/// The remedy of `HttpRedirect`.
pub(super) fn redirect(_w: Words<'_>, ctx: &FixContext) -> Remedy {
    Remedy {
        fix: Fix {
            description: "Follow the redirect (-L) or use the final URL.".to_string(),
            commands: vec![format!(
                "curl -sv {} -o /dev/null",
                ctx.url.clone().unwrap_or_default()
            )],
            manifests: Vec::new(),
        },
        prestate: vec!["none".to_string()],
        rollback: vec!["none".to_string()],
        runbook: runbook(
            "Unexpected redirect",
            &["curl -sv URL"],
            "the service moved or forces HTTPS.",
        ),
    }
}

/// The remedy of a prober module's expectation that the answer failed (`netdiag serve`):
/// the network path works; the service's answer differs from what the module asks for.
pub(super) fn expectation(_w: Words<'_>, ctx: &FixContext, cause: crate::cause::Cause) -> Remedy {
    let url = ctx.url.clone().unwrap_or_default();
    Remedy {
        fix: Fix {
            description: format!(
                "The network path and the exchange work, but the answer fails the probe module's expectation: {} Compare the service's answer with the module (blackbox.yml) and correct whichever is wrong.",
                cause.meaning()
            ),
            commands: vec![format!("curl -sv {url} -o /dev/null"), "netdiag serve --config blackbox.yml   # then /probe?debug=true shows the module and the answer".to_string()],
            manifests: Vec::new(),
        },
        prestate: vec!["keep a copy of blackbox.yml before editing it".to_string()],
        rollback: vec!["restore the saved blackbox.yml, or roll back the service's last deploy".to_string()],
        runbook: runbook(
            "A probe fails although the service answers",
            &["curl -sv URL"],
            "the answer (status, version, TLS, body, headers or dialogue) is not what the probe module expects.",
        ),
    }
}
