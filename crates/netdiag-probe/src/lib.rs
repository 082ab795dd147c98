//! netdiag-probe: the I/O side of netdiag.
//!
//! One module per layer turns the world into [`netdiag_core::observe`] values, each with a
//! deadline. Probes record facts (errno, ICMP type/code and sender, rcode, latency); they never
//! decide a verdict. `sys` holds the few `unsafe` socket calls and is the only module allowed to.

pub mod bundle;
pub mod dns;
pub mod files;
pub mod firewall;
pub mod http;
pub mod kernel;
pub mod listeners;
pub mod mtu;
pub mod prober;
pub mod proxy;
pub mod route;
#[allow(unsafe_code)]
pub mod sys;
pub mod tcp;
pub mod tls;
pub mod trace;
pub mod udp;

pub use prober::{ConfigPaths, SystemProber};

/// The kernel's text for an errno, without Rust's redundant " (os error N)" suffix (the errno is
/// recorded next to it).
pub(crate) fn errno_message(errno: i32) -> String {
    let text = std::io::Error::from_raw_os_error(errno).to_string();
    match text.strip_suffix(&format!(" (os error {errno})")) {
        Some(stripped) => stripped.to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn errno_message_is_the_bare_kernel_text() {
        assert_eq!(
            super::errno_message(libc::ECONNREFUSED),
            "Connection refused"
        );
    }
}
