//! `cloud check`: documents → the provider's estate → one [`CloudReport`]. The only place that
//! knows every provider; it holds no evaluation logic.

use crate::doc::{Document, LoadError, Provider};
use crate::estate::{Estate, ResolveError};
use crate::flow::Query;
use crate::verdict::{Cause, CloudReport, Evaluation, SCHEMA};

/// Why a check could not produce a report (all are bad input: exit 2).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    /// A file cannot be used (the message names it).
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The query names something the exports lack.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
}

/// Detects the provider when not given, loads the estate and evaluates the query.
pub fn check(
    provider: Option<Provider>,
    docs: &[Document],
    q: &Query,
) -> Result<CloudReport, CheckError> {
    let (provider, estate) = load_estate(provider, docs)?;
    Ok(report(provider, estate.evaluate(q)?))
}

/// Detects the provider when not given and loads its estate (for callers that ask several
/// queries of one estate, or that manage its lifetime themselves).
pub fn load_estate(
    provider: Option<Provider>,
    docs: &[Document],
) -> Result<(Provider, Box<dyn Estate>), CheckError> {
    let provider = match provider {
        Some(p) => p,
        None => detect(docs)?,
    };
    let estate: Box<dyn Estate> = match provider {
        Provider::Aws => Box::new(crate::aws::load(docs)?),
        Provider::Gcp => Box::new(crate::gcp::load(docs)?),
        Provider::Azure => Box::new(crate::azure::load(docs)?),
    };
    Ok((provider, estate))
}

/// [`load_estate`] from paths: AWS exports are first read by the fast path (no generic JSON
/// tree; most of a large estate's run time otherwise); anything it cannot read goes through
/// [`crate::doc::load`] and the provider's parser, whose errors name the file and object path.
pub fn load_estate_from_paths(
    provider: Option<Provider>,
    paths: &[std::path::PathBuf],
) -> Result<(Provider, Box<dyn Estate>), CheckError> {
    if matches!(provider, None | Some(Provider::Aws)) {
        let files = crate::doc::files(paths)?;
        if files.iter().all(|f| {
            // Regular files only: a pipe can be read once, a device may never end.
            f.metadata()
                .is_ok_and(|m| m.is_file() && m.len() <= crate::doc::MAX_FILE_BYTES)
        }) {
            if let Some(estate) = crate::aws::fast::load_files(&files) {
                return Ok((Provider::Aws, Box::new(estate)));
            }
        }
    }
    load_estate(provider, &crate::doc::load(paths)?)
}

// GCP and Azure answer usage errors (an endpoint in none of the exports) as text that already
// names the exports searched.
impl Estate for crate::gcp::Estate {
    fn evaluate(&self, q: &Query) -> Result<Evaluation, ResolveError> {
        crate::gcp::Estate::evaluate(self, q).map_err(ResolveError::Invalid)
    }
}

impl Estate for crate::azure::Estate {
    fn evaluate(&self, q: &Query) -> Result<Evaluation, ResolveError> {
        crate::azure::Estate::evaluate(self, q).map_err(ResolveError::Invalid)
    }
}

/// Which provider printed these documents, from their shape alone.
pub fn detect(docs: &[Document]) -> Result<Provider, LoadError> {
    let mut seen = Vec::new();
    for d in docs {
        let p = if crate::aws::recognizes(&d.value) {
            Provider::Aws
        } else if crate::gcp::recognizes(&d.value) {
            Provider::Gcp
        } else if crate::azure::recognizes(&d.value) {
            Provider::Azure
        } else {
            continue;
        };
        if !seen.contains(&p) {
            seen.push(p);
        }
    }
    match seen.as_slice() {
        [one] => Ok(*one),
        [] => Err(LoadError::UnknownProvider),
        many => Err(LoadError::MixedProviders(
            many.iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        )),
    }
}

/// Wraps an evaluation into the report.
pub fn report(provider: Provider, e: Evaluation) -> CloudReport {
    CloudReport {
        schema: SCHEMA,
        provider,
        flow: e.flow,
        path: e.path,
        verdict: e.verdict,
    }
}

/// The exit status for a report: 0 allowed, 1 blocked or unknown.
pub fn exit_code(r: &CloudReport) -> i32 {
    if r.verdict.allowed && r.verdict.cause == Cause::Ok {
        0
    } else {
        1
    }
}
