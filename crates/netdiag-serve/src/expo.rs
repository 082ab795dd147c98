//! One probe's metrics and the Prometheus text exposition (format 0.0.4) that `/probe` returns.
//!
//! Why hand-written rather than a metrics crate: every `/probe` series is a gauge created for one
//! scrape, the HELP strings must be blackbox_exporter's exactly, and the output must pass
//! `promtool check metrics`. A registry per probe is a plain list.

use std::fmt::Write as _;

/// Content type of the text exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The kind of a metric family, as written on its `# TYPE` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A value that can go up and down.
    Gauge,
    /// A monotonically increasing count (its name ends in `_total`).
    Counter,
}

/// One metric family: a name, its help, its kind, and its samples (label pairs and a value).
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// The metric name.
    pub name: String,
    /// The HELP text (blackbox's exact wording for blackbox's metrics).
    pub help: String,
    /// Gauge or counter.
    pub kind: Kind,
    /// Samples in insertion order.
    pub samples: Vec<(Vec<(String, String)>, f64)>,
}

/// The metrics of one probe, in the order they were first registered.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Registry {
    families: Vec<Family>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Sets a gauge without labels (replacing an earlier value).
    pub fn gauge(&mut self, name: &str, help: &str, value: f64) {
        self.set(name, help, Kind::Gauge, &[], value);
    }

    /// Sets one labelled sample of a gauge (replacing an earlier sample with the same labels).
    pub fn gauge_with(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        self.set(name, help, Kind::Gauge, labels, value);
    }

    /// Sets a sample of any kind.
    pub fn set(&mut self, name: &str, help: &str, kind: Kind, labels: &[(&str, &str)], value: f64) {
        let labels: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        let family = match self.families.iter_mut().position(|f| f.name == name) {
            Some(i) => &mut self.families[i],
            None => {
                self.families.push(Family {
                    name: name.to_string(),
                    help: help.to_string(),
                    kind,
                    samples: Vec::new(),
                });
                let last = self.families.len() - 1;
                &mut self.families[last]
            }
        };
        match family.samples.iter_mut().find(|(l, _)| *l == labels) {
            Some(sample) => sample.1 = value,
            None => family.samples.push((labels, value)),
        }
    }

    /// The value of a sample, if present (tests and the status page read it).
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let family = self.families.iter().find(|f| f.name == name)?;
        family
            .samples
            .iter()
            .find(|(l, _)| {
                l.len() == labels.len()
                    && labels
                        .iter()
                        .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|(_, v)| *v)
    }

    /// The families, in registration order.
    pub fn families(&self) -> &[Family] {
        &self.families
    }

    /// Appends every family of `other` (a later sample with the same labels wins).
    pub fn merge(&mut self, other: &Registry) {
        for f in &other.families {
            for (labels, value) in &f.samples {
                let pairs: Vec<(&str, &str)> = labels
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                self.set(&f.name, &f.help, f.kind, &pairs, *value);
            }
        }
    }

    /// The text exposition, families sorted by name as Go's client does.
    pub fn encode(&self) -> String {
        let mut families: Vec<&Family> = self.families.iter().collect();
        families.sort_by(|a, b| a.name.cmp(&b.name));
        let mut out = String::new();
        for f in families {
            let kind = match f.kind {
                Kind::Gauge => "gauge",
                Kind::Counter => "counter",
            };
            let _ = writeln!(out, "# HELP {} {}", f.name, escape_help(&f.help));
            let _ = writeln!(out, "# TYPE {} {kind}", f.name);
            for (labels, value) in &f.samples {
                out.push_str(&f.name);
                if !labels.is_empty() {
                    // Go's client writes label pairs sorted by name.
                    let mut labels: Vec<&(String, String)> = labels.iter().collect();
                    labels.sort_by(|a, b| a.0.cmp(&b.0));
                    out.push('{');
                    for (i, (k, v)) in labels.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        let _ = write!(out, "{k}=\"{}\"", escape_label(v));
                    }
                    out.push('}');
                }
                let _ = writeln!(out, " {}", format_value(*value));
            }
        }
        out
    }
}

fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('"', "\\\"")
}

/// Formats a sample value the way Go's client does (`strconv.FormatFloat(v, 'g', -1, 64)`):
/// the shortest digits that round-trip, in exponent form when the exponent is below -4 or at
/// least 6 (`1`, `0.5`, `123456`, `1.7e+09`, `-6.21355968e+10`), and `+Inf`, `-Inf`, `NaN`.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if v == 0.0 {
        return "0".into();
    }
    // Rust's `{:e}` is the shortest round-trip form too: `-6.21355968e10`, `5e-1`.
    let sci = format!("{v:e}");
    let Some((mantissa, exp)) = sci.split_once('e') else {
        return sci;
    };
    let Ok(exp) = exp.parse::<i32>() else {
        return sci;
    };
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    if !(-4..6).contains(&exp) {
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{mantissa}e{esign}{:02}", exp.unsigned_abs());
    }
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let point = usize::try_from(exp + 1).unwrap_or(0);
    let body = if exp < 0 {
        let zeros = "0".repeat(usize::try_from(-exp - 1).unwrap_or(0));
        format!("0.{zeros}{digits}")
    } else if digits.len() <= point {
        format!("{digits}{}", "0".repeat(point - digits.len()))
    } else {
        format!("{}.{}", &digits[..point], &digits[point..])
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_sorted_families_with_help_and_type() {
        let mut r = Registry::new();
        r.gauge(
            "probe_success",
            "Displays whether or not the probe was a success",
            1.0,
        );
        r.gauge_with(
            "probe_http_duration_seconds",
            "Duration of http request by phase, summed over all redirects",
            &[("phase", "connect")],
            0.25,
        );
        let text = r.encode();
        assert!(text.starts_with("# HELP probe_http_duration_seconds"));
        assert!(text.contains("probe_http_duration_seconds{phase=\"connect\"} 0.25\n"));
        assert!(text.contains("# TYPE probe_success gauge\nprobe_success 1\n"));
    }

    #[test]
    fn label_values_are_escaped() {
        let mut r = Registry::new();
        r.gauge_with("x", "h", &[("subject", "CN=a\"b\\c\nd")], 1.0);
        assert!(r.encode().contains(r#"x{subject="CN=a\"b\\c\nd"} 1"#));
    }

    #[test]
    fn a_sample_with_the_same_labels_is_replaced() {
        let mut r = Registry::new();
        r.gauge_with("x", "h", &[("a", "1")], 1.0);
        r.gauge_with("x", "h", &[("a", "1")], 2.0);
        assert_eq!(r.value("x", &[("a", "1")]), Some(2.0));
        assert_eq!(r.families()[0].samples.len(), 1);
    }

    #[test]
    fn values_print_like_go() {
        assert_eq!(format_value(1.0), "1");
        assert_eq!(format_value(0.5), "0.5");
        assert_eq!(format_value(-62_135_596_800.0), "-6.21355968e+10");
        assert_eq!(format_value(1_581_321_599.0), "1.581321599e+09");
        assert_eq!(format_value(123_456.0), "123456");
        assert_eq!(format_value(1_000_000.0), "1e+06");
        assert_eq!(format_value(0.0001), "0.0001");
        assert_eq!(format_value(0.000_01), "1e-05");
        assert_eq!(format_value(14.5), "14.5");
        assert_eq!(format_value(-1.0), "-1");
        assert_eq!(format_value(0.0), "0");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
    }
}
