//! The three providers: a leaf every module may import (detection, which needs every provider,
//! lives in [`crate::check::detect`]).

use serde::Serialize;
use std::fmt;

/// The three providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Amazon Web Services (EC2/VPC).
    Aws,
    /// Google Cloud (Compute Engine VPC).
    Gcp,
    /// Microsoft Azure (NSGs).
    Azure,
}

impl Provider {
    /// Parses `aws`, `gcp` or `azure`.
    pub fn parse(text: &str) -> Option<Provider> {
        match text.to_ascii_lowercase().as_str() {
            "aws" => Some(Provider::Aws),
            "gcp" | "google" => Some(Provider::Gcp),
            "azure" | "az" => Some(Provider::Azure),
            _ => None,
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Provider::Aws => "aws",
            Provider::Gcp => "gcp",
            Provider::Azure => "azure",
        })
    }
}
