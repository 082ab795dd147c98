//! netdiag's one library entry point: the front-ends (the CLI, the Prometheus prober, the MCP
//! server) hand in a validated [`Request`] and get a [`Diagnosis`] back from [`diagnose`], so
//! that every one of them gives the same verdict for the same question.
//!
//! The diagnosis model (causes, verdicts, remedies, rendering) is netdiag-core's; the I/O is the
//! probes' and the adapters'. This crate only wires them: it must never parse flags (that is the
//! front-end's job) nor decide a verdict (that is core's).
//!
//! The public interface is:
//! - [`diagnose`]: any [`Request`] → a [`Diagnosis`] (a report in every format, and the
//!   contract's exit status).
//! - [`live`]: [`LiveCheck`] → [`run`](live::run) → [`LiveReports`], and [`check_one`] for
//!   one target (the prober's unit of work).
//! - [`cloud`]: [`CloudRequest`] → [`check`](cloud::check) → [`CloudAnswer`].
//! - [`k8s`]: [`ClusterInput`] + a flow → [`check`](k8s::check), or the [`matrix`](k8s::matrix).
//! - [`options`]: the live check's options as typed → [`resolve`](options::resolve) → the
//!   validated [`LiveCheck`]s, with the same messages for the CLI's flags and the MCP tools'
//!   arguments.

pub mod cloud;
pub mod k8s;
pub mod live;
pub mod options;

pub use cloud::{CloudAnswer, CloudRequest};
pub use k8s::ClusterInput;
pub use live::{check_all, check_one, run_with, LiveCheck, LiveError, LiveReports};

use netdiag_core::render::{Format, Rendered};
use std::path::PathBuf;

/// One question, in any domain.
#[derive(Debug, Clone)]
pub enum Request {
    /// Walk these targets from this host; with `evidence`, write the bundle there.
    Live {
        /// The validated checks, one per target.
        checks: Vec<LiveCheck>,
        /// Where to write the evidence bundle, if asked.
        evidence: Option<PathBuf>,
    },
    /// Is this flow allowed in the cluster?
    Kubernetes {
        /// Where the cluster's objects come from.
        cluster: ClusterInput,
        /// The flow.
        flow: netdiag_k8s::check::CheckRequest,
    },
    /// Every pod-to-pod verdict of the cluster.
    KubernetesMatrix {
        /// Where the cluster's objects come from.
        cluster: ClusterInput,
    },
    /// Is this flow allowed by the cloud's firewalls and routes?
    Cloud(CloudRequest),
}

/// The answer to a [`Request`]: a report that renders in every format, and its exit status
/// (0 healthy or allowed, 1 a failure or a block).
pub struct Diagnosis {
    /// The report.
    pub report: Box<dyn Rendered>,
    /// The contract's exit status.
    pub exit_code: i32,
}

impl Diagnosis {
    /// The report in `format`.
    pub fn render(&self, format: Format) -> String {
        self.report.render(format)
    }
}

impl Rendered for CloudAnswer {
    fn table(&self) -> String {
        self.report.table()
    }
    fn json(&self) -> String {
        self.report.json()
    }
    fn markdown(&self) -> String {
        self.report.markdown()
    }
}

/// Answers any request. `Err` is bad input (exit 2): the request cannot be answered as asked
/// (an unreadable export, a pod not in the manifests, an unusable evidence path…); a target
/// that fails is a [`Diagnosis`], never an `Err`.
pub fn diagnose(request: &Request) -> Result<Diagnosis, String> {
    match request {
        Request::Live { checks, evidence } => {
            let reports = live::run(checks, evidence.as_deref()).map_err(|e| e.to_string())?;
            let exit_code = reports.exit_code();
            Ok(Diagnosis {
                report: Box::new(reports),
                exit_code,
            })
        }
        Request::Kubernetes { cluster, flow } => {
            let report = k8s::check(cluster, flow)?;
            let exit_code = report.exit_code();
            Ok(Diagnosis {
                report: Box::new(report),
                exit_code,
            })
        }
        Request::KubernetesMatrix { cluster } => Ok(Diagnosis {
            report: Box::new(k8s::matrix(cluster)?),
            exit_code: 0,
        }),
        Request::Cloud(cloud) => {
            let answer = cloud::check(cloud)?;
            let exit_code = answer.exit_code();
            Ok(Diagnosis {
                report: Box::new(answer),
                exit_code,
            })
        }
    }
}
