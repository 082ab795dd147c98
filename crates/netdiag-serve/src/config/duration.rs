//! Prometheus durations (`model.ParseDuration`): `1h30m`, `500ms`, `10s`, `0`; units y w d h m
//! s ms, each at most once, largest first.

use super::ConfigError;
use std::time::Duration;

/// Parses a Prometheus duration.
pub fn parse(text: &str) -> Result<Duration, ConfigError> {
    let bad = || ConfigError(format!("not a valid duration string: {text:?}"));
    let t = text.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    if t.is_empty() {
        return Err(bad());
    }
    const UNITS: [(&str, u64); 7] = [
        ("y", 365 * 24 * 3600 * 1000),
        ("w", 7 * 24 * 3600 * 1000),
        ("d", 24 * 3600 * 1000),
        ("h", 3600 * 1000),
        ("m", 60 * 1000),
        ("s", 1000),
        ("ms", 1),
    ];
    let mut rest = t;
    let mut total_ms: u64 = 0;
    let mut last_unit = None;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let number: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let index = UNITS.iter().position(|(u, _)| *u == unit).ok_or_else(bad)?;
        if last_unit.is_some_and(|l| index <= l) {
            return Err(bad());
        }
        last_unit = Some(index);
        let ms = number.checked_mul(UNITS[index].1).ok_or_else(bad)?;
        total_ms = total_ms.checked_add(ms).ok_or_else(bad)?;
    }
    Ok(Duration::from_millis(total_ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn prometheus_forms() {
        assert_eq!(parse("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert_eq!(parse("0s"), Ok(Duration::ZERO));
        for bad in [
            "",
            "5",
            "s",
            "1.5s",
            "-1s",
            "1s1m",
            "1m1m",
            "1x",
            "99999999999999999999y",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(s in ".{0,40}") {
            let _ = parse(&s);
        }
    }
}
