//! The cloud check: the provider's exports loaded once into an estate, the flow evaluated, the
//! report built. The same call serves `netdiag cloud check`, and any front-end that asks about a
//! flow by its cloud addresses.

use netdiag_cloud::check::{exit_code, load_estate, load_estate_from_paths, report, CheckError};
use netdiag_cloud::doc::Document;
use netdiag_cloud::estate::Estate;
use netdiag_cloud::flow::Query;
use netdiag_cloud::provider::Provider;
use netdiag_cloud::verdict::CloudReport;
use std::path::PathBuf;

/// One flow to ask of the exports.
#[derive(Debug, Clone)]
pub struct CloudRequest {
    /// The provider, or `None` to detect it from the exports.
    pub provider: Option<Provider>,
    /// The export files and directories (`--resources`).
    pub resources: Vec<PathBuf>,
    /// Exports given as text (an MCP tool's inline JSON): a name for messages and the text.
    /// Read together with `resources`.
    pub inline: Vec<(String, String)>,
    /// The flow.
    pub query: Query,
}

/// The cloud check's answer, with the estate it was computed from (a caller that exits right
/// after printing may drop it without freeing, which is the expensive part for big estates).
pub struct CloudAnswer {
    /// The `netdiag.cloud.check/v1` report.
    pub report: CloudReport,
    /// The estate the exports describe.
    pub estate: Box<dyn Estate>,
}

impl CloudAnswer {
    /// The contract's exit status: 0 allowed, 1 blocked or unknown.
    pub fn exit_code(&self) -> i32 {
        exit_code(&self.report)
    }
}

/// Loads the exports and evaluates the flow. `Err` is bad input (exit 2): an unreadable or
/// malformed export, or a flow the exports cannot answer as asked.
pub fn check(request: &CloudRequest) -> Result<CloudAnswer, String> {
    let (provider, estate) = if request.inline.is_empty() {
        load_estate_from_paths(request.provider, &request.resources)
    } else {
        inline_documents(request).and_then(|docs| load_estate(request.provider, &docs))
    }
    .map_err(|e| e.to_string())?;
    let evaluation = estate.evaluate(&request.query).map_err(|e| e.to_string())?;
    Ok(CloudAnswer {
        report: report(provider, evaluation),
        estate,
    })
}

/// The files' documents, then the inline ones.
fn inline_documents(request: &CloudRequest) -> Result<Vec<Document>, CheckError> {
    let mut docs = if request.resources.is_empty() {
        Vec::new()
    } else {
        netdiag_cloud::doc::load(&request.resources)?
    };
    for (name, text) in &request.inline {
        docs.push(Document::from_str(name.as_str(), text)?);
    }
    Ok(docs)
}
