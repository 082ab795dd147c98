//! Cloud firewalls, offline: from the JSON that the provider's own CLI prints (AWS `ec2 describe-*`,
//! `gcloud compute … --format=json`, `az network …`), decide whether one flow is allowed, name the
//! rule (or the missing rule) that blocks it, and propose the narrowest fix with its pre-state
//! capture and rollback. Contract §3 (`netdiag cloud check`).
//!
//! Shape: [`doc`] reads files into [`doc::Document`]s (no provider knowledge), each provider module
//! turns documents into an estate implementing [`estate::Estate`] and evaluates a
//! [`flow::Query`] against it, producing a [`verdict::Verdict`]; [`check`] ties them together and
//! [`render`] prints the report. Nothing here does network I/O; everything is unit-testable on
//! plain JSON.

pub mod aws;
pub mod azure;
pub mod check;
pub mod doc;
pub mod estate;
pub mod flow;
pub mod gcp;
pub(crate) mod json;
pub mod live_flow;
pub mod provider;
pub mod render;
pub mod verdict;
