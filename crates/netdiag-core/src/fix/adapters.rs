//! Remedy templates of the Kubernetes (`svc_*`, `netpol_*`) and cloud (`cloud_*`) causes: the
//! concrete fix needs the cluster's objects or the provider's exports, so the adapters compute it.

use crate::cause::Cause;
use crate::report::Fix;

use super::{runbook, Remedy};

/// The remedy template of a Kubernetes cause. The concrete fix (the NetworkPolicy manifest, the
/// Service or pod change) needs the cluster's objects, so `netdiag k8s check` computes it; this
/// template says how to get it, for the catalogue and for a live walk that meets the cause.
pub(super) fn kubernetes_template(cause: Cause) -> Remedy {
    let check =
        "netdiag k8s check --manifests DIR --from NS/POD --to NS/POD_OR_SERVICE --port PORT";
    Remedy {
        fix: Fix {
            description: format!(
                "{} Run the Kubernetes check for the flow: it names the object and prints the minimal change (a complete NetworkPolicy for policy denials).",
                cause.meaning()
            ),
            commands: vec![check.to_string()],
         manifests: Vec::new() },
        prestate: vec!["kubectl get networkpolicy,service,endpointslice -A -o yaml > /tmp/k8s.before.yaml".to_string()],
        rollback: vec!["kubectl delete -f FIX.yaml   # the manifest the check printed".to_string()],
        runbook: runbook(cause.meaning(), &[check], "apply the change the check prints, then run the check again."),
    }
}

/// The remedy template of a cloud cause. The concrete fix (an `aws ec2`, `gcloud` or `az`
/// command scoped to the flow) needs the exports, so `netdiag cloud check` computes it.
pub(super) fn cloud_template(cause: Cause) -> Remedy {
    let check = "netdiag cloud check --resources EXPORTS... --from SRC --to DST --port PORT";
    Remedy {
        fix: Fix {
            description: format!(
                "{} Run the cloud check on the provider's exports: it names the blocking resource and rule and prints a fix scoped to the flow, never to the whole internet.",
                cause.meaning()
            ),
            commands: vec![check.to_string()],
         manifests: Vec::new() },
        prestate: vec!["export the resources again (describe-* / list / show) before the change".to_string()],
        rollback: vec!["run the rollback command the check printed".to_string()],
        runbook: runbook(cause.meaning(), &[check], "apply the scoped change the check prints, then run the check again."),
    }
}
