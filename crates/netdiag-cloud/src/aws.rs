//! AWS (EC2/VPC): `aws ec2 describe-* --output json` exports → an indexed estate → the verdict
//! for one flow, with the narrowest `aws ec2` fix, its pre-state capture and its rollback.
//!
//! What is evaluated, in packet order: the source's security groups (egress), the source
//! subnet's network ACL (outbound), the source subnet's route table, the destination subnet's
//! network ACL (inbound), the destination's security groups (ingress), then the reply through
//! both network ACLs (stateless) and, across VPCs, the return route. See `docs/cloud.md`.
//!
//! [`parse`] reads exports (no evaluation), [`fast`] reads large ones without the generic JSON
//! tree (falling back to [`parse`] for anything it cannot read), [`model`] holds the indexed
//! estate, [`eval`] walks the path (pure: no I/O), [`fix`] turns a block into commands and
//! structural changes.

pub mod eval;
pub mod fast;
pub mod fix;
pub mod model;
pub mod parse;

pub use eval::{Diagnosis, EPHEMERAL};
pub use fix::FixChange;
pub use model::Estate;
pub use parse::{load, recognizes};

impl crate::estate::Estate for Estate {
    fn evaluate(
        &self,
        q: &crate::flow::Query,
    ) -> Result<crate::verdict::Evaluation, crate::estate::ResolveError> {
        self.diagnose(q).map(|d| d.evaluation)
    }
}
