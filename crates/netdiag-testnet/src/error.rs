//! Why the harness itself could not build a scenario.
//!
//! These errors are about the test bench (a missing tool, a command that failed), never about the
//! fault under test: a refused port is something a test asserts, not an `Err` here.

use std::time::Duration;

/// A harness failure: the scenario could not be built or observed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An OS call failed; `what` names the operation and its object.
    #[error("{what}: {source}")]
    Io {
        /// The operation, e.g. `spawn dnsmasq in ndt123-1-dns-s`.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A command ran but exited unsuccessfully.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command line, as run.
        command: String,
        /// Its exit status.
        status: String,
        /// Its standard error, trimmed.
        stderr: String,
    },
    /// A command or a readiness wait ran past its deadline and was stopped.
    #[error("`{what}` did not finish within {timeout:?}")]
    Timeout {
        /// What was waited for.
        what: String,
        /// The deadline that passed.
        timeout: Duration,
    },
    /// The scenario asked for something the harness cannot do (bad address, missing binary).
    #[error("{0}")]
    Setup(String),
}

impl Error {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}

/// Result of a harness operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;
