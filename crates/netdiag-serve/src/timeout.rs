//! blackbox_exporter's timeout rule (prober/handler.go `getTimeout`), exactly: a probe gets the
//! module's timeout or the scrape's timeout minus an offset, whichever is smaller, so that its
//! answer reaches Prometheus before the scrape gives up.
//!
//! The base is `X-Prometheus-Scrape-Timeout-Seconds`, or 120 s when the header is absent or 0.
//! With `max = base - offset`: if `0 < module < max`, or `max < 0`, the module's timeout wins;
//! otherwise `max`.

use std::time::Duration;

/// The scrape timeout assumed when Prometheus sends no header.
pub const DEFAULT_SCRAPE_TIMEOUT_SECONDS: f64 = 120.0;

/// The probe's timeout in seconds, or an error when the header is not a number (blackbox
/// answers 500 then).
pub fn probe_timeout(
    module_timeout: Option<Duration>,
    scrape_timeout_header: Option<&str>,
    offset_seconds: f64,
) -> Result<f64, String> {
    let mut base = DEFAULT_SCRAPE_TIMEOUT_SECONDS;
    if let Some(header) = scrape_timeout_header {
        let header = header.trim();
        if !header.is_empty() {
            let parsed: f64 = header.parse().map_err(|_| {
                format!("Failed to parse timeout from Prometheus header: {header:?}")
            })?;
            if !parsed.is_finite() {
                return Err(format!(
                    "Failed to parse timeout from Prometheus header: {header:?}"
                ));
            }
            if parsed != 0.0 {
                base = parsed;
            }
        }
    }
    let max = base - offset_seconds;
    let module = module_timeout.map_or(0.0, |d| d.as_secs_f64());
    if (module > 0.0 && module < max) || max < 0.0 {
        Ok(module)
    } else {
        Ok(max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Option<Duration> {
        if s == 0.0 {
            None
        } else {
            Some(Duration::from_secs_f64(s))
        }
    }

    /// The vectors of blackbox's TestTimeoutIsSetCorrectly: (module, header, offset, result).
    #[test]
    fn blackbox_vectors() {
        let cases: &[(f64, &str, f64, f64)] = &[
            (0.0, "15", 0.5, 14.5),
            (0.0, "15", 0.0, 15.0),
            (20.0, "15", 0.5, 14.5),
            (20.0, "15", 0.0, 15.0),
            (5.0, "15", 0.0, 5.0),
            (5.0, "15", 0.5, 5.0),
            (10.0, "", 0.5, 10.0),
            (10.0, "10", 0.5, 9.5),
            (9.5, "", 0.5, 9.5),
            (9.5, "", 1.0, 9.5),
            (0.0, "", 0.5, 119.5),
            (0.0, "", 0.0, 120.0),
        ];
        for &(module, header, offset, want) in cases {
            let header = if header.is_empty() {
                None
            } else {
                Some(header)
            };
            let got = probe_timeout(secs(module), header, offset);
            assert_eq!(
                got,
                Ok(want),
                "module {module} header {header:?} offset {offset}"
            );
        }
    }

    #[test]
    fn a_header_below_the_offset_without_a_module_timeout_gives_zero() {
        assert_eq!(probe_timeout(None, Some("0.5"), 0.5), Ok(0.0));
    }

    #[test]
    fn a_bad_header_is_an_error() {
        assert!(probe_timeout(None, Some("abc"), 0.5).is_err());
        assert!(probe_timeout(None, Some("NaN"), 0.5).is_err());
    }
}
