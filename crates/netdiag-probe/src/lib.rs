//! netdiag-probe: the I/O side of netdiag.
//!
//! One module per layer turns the world into [`netdiag_core::observe`] values, each with a
//! deadline. Probes record facts (errno, ICMP type/code and sender, rcode, latency); they never
//! decide a verdict. `sys` holds the few `unsafe` socket calls and is the only module allowed to.

pub mod dns;
pub mod files;
pub mod listeners;
pub mod prober;
pub mod route;
#[allow(unsafe_code)]
pub mod sys;
pub mod tcp;
pub mod udp;

pub use prober::{ConfigPaths, SystemProber};
