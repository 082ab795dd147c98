//! The fleet member's results as the server holds them between scrapes: plain data, so the
//! server state can own it without depending on the loops that fill it ([`super::run`]).

use crate::expo::Registry;
use std::collections::BTreeMap;

/// Which section a result belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    /// `fleet.mesh`.
    Mesh,
    /// `fleet.cluster_dns`.
    ClusterDns,
}

impl Section {
    /// The `list` label of its listing series.
    pub fn list_label(self) -> &'static str {
        match self {
            Section::Mesh => "pods",
            Section::ClusterDns => "endpointslices",
        }
    }
}

/// How the last listing of a section went.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListStatus {
    /// The last listing answered.
    pub ok: bool,
    /// Members (or endpoints) the last good listing gave.
    pub listed: usize,
    /// Peers (or endpoints) probed.
    pub probed: usize,
}

/// The member's fleet results.
#[derive(Debug, Default)]
pub struct FleetState {
    /// Latest results by section and their labels (besides `node`).
    pub results: BTreeMap<(Section, Vec<(String, String)>), Registry>,
    /// Listing status by section.
    pub lists: BTreeMap<Section, ListStatus>,
}
