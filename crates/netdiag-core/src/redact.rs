//! Redaction of secrets in text that leaves this machine: the evidence bundle, reports, tickets.
//!
//! Why it exists: an evidence bundle is attached to tickets and chat threads, and the pre-state it
//! carries (proxy variables, report evidence quoting HTTP headers, configuration files) routinely
//! holds credentials. Every text file goes through [`redact`] before it is written.
//!
//! What is replaced by `***` (the value only, so a reader still sees *which* secret was there):
//! - `Authorization:` and `Proxy-Authorization:` header values (to the end of the line or the
//!   closing quote when quoted inside JSON);
//! - key/value pairs whose key contains `password`, `passwd`, `secret`, `token`, `api_key`,
//!   `apikey`, `api-key` or `authorization`, written `key=value`, `key: value` or
//!   `"key": "value"` (an unquoted JSON number, boolean or null is kept, so a redacted report
//!   is still valid JSON);
//! - the password of `user:password@` in URLs (the user is kept);
//! - `Bearer <token>`;
//! - PEM private key blocks (the BEGIN/END lines are kept, the body is replaced);
//! - AWS access key ids (`AKIA…`, `ASIA…`), keeping the four-letter prefix.
//!
//! Rules err on the side of over-redaction: a false positive costs a word of evidence, a false
//! negative leaks a credential. The output is a fixed point (redacting it again changes nothing)
//! so a bundle can be re-redacted safely. Matching is ASCII-only and byte-index based, so any
//! UTF-8 input is accepted and never split inside a character.
//!
//! Pure: no I/O. It must never return or log the values it removes, only how many.

use std::collections::BTreeMap;
use std::fmt;

/// The replacement written instead of a secret.
pub const MASK: &str = "***";

/// Which rule removed a secret: reported in manifests instead of the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SecretKind {
    /// A PEM private key block body.
    PrivateKey,
    /// A secret-looking key/value pair, including `Authorization:` headers.
    KeyValue,
    /// The password in a URL's `user:password@`.
    UrlPassword,
    /// A `Bearer` token outside an `Authorization` header.
    BearerToken,
    /// An AWS access key id.
    AwsAccessKey,
}

impl SecretKind {
    /// A short stable name, used in the bundle's MANIFEST.
    pub fn name(self) -> &'static str {
        match self {
            SecretKind::PrivateKey => "private-key",
            SecretKind::KeyValue => "key-value",
            SecretKind::UrlPassword => "url-password",
            SecretKind::BearerToken => "bearer-token",
            SecretKind::AwsAccessKey => "aws-access-key",
        }
    }
}

impl fmt::Display for SecretKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Redacted text and how many secrets of each kind were removed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Redacted {
    /// The text with every secret replaced by [`MASK`].
    pub text: String,
    /// Count per kind; kinds with no match are absent.
    pub counts: BTreeMap<SecretKind, usize>,
}

impl Redacted {
    /// Total number of secrets removed.
    pub fn total(&self) -> usize {
        self.counts.values().sum()
    }

    /// `none`, or e.g. `3 (key-value 2, url-password 1)`: what a MANIFEST line shows.
    pub fn summary(&self) -> String {
        if self.counts.is_empty() {
            return "none".to_string();
        }
        let parts: Vec<String> = self
            .counts
            .iter()
            .map(|(kind, n)| format!("{kind} {n}"))
            .collect();
        format!("{} ({})", self.total(), parts.join(", "))
    }
}

/// One rule: the rewritten text and how many secrets it removed.
type Pass = fn(&str) -> (String, usize);

/// How many times the passes run at most. One pass can expose a secret to another (a `Bearer`
/// token that swallowed `password=` leaves the next `password=value` with a key of its own), so
/// the passes repeat until nothing changes; real text settles in one or two rounds.
const MAX_ROUNDS: usize = 8;

/// Redacts every secret the rules above recognise.
pub fn redact(input: &str) -> Redacted {
    let mut counts: BTreeMap<SecretKind, usize> = BTreeMap::new();
    let mut text = input.to_string();
    let passes: [(SecretKind, Pass); 5] = [
        (SecretKind::PrivateKey, private_keys),
        (SecretKind::KeyValue, key_values),
        (SecretKind::UrlPassword, url_passwords),
        (SecretKind::BearerToken, bearer_tokens),
        (SecretKind::AwsAccessKey, aws_keys),
    ];
    for _ in 0..MAX_ROUNDS {
        let mut changed = false;
        for (kind, pass) in passes {
            let (next, n) = pass(&text);
            if n > 0 {
                *counts.entry(kind).or_default() += n;
                changed = true;
            }
            text = next;
        }
        if !changed {
            break;
        }
    }
    Redacted { text, counts }
}

/// Finds `needle` (lowercase ASCII) in `hay_lower` from `from`.
fn find_from(hay_lower: &str, needle: &str, from: usize) -> Option<usize> {
    hay_lower.get(from..)?.find(needle).map(|i| i + from)
}

const PEM_BODY: &str = "\n***\n";

fn private_keys(text: &str) -> (String, usize) {
    let mut out = String::with_capacity(text.len());
    let mut count = 0;
    let mut pos = 0;
    while let Some(begin) = text.get(pos..).and_then(|t| t.find("-----BEGIN ")) {
        let begin = begin + pos;
        // The BEGIN line must end with `PRIVATE KEY-----` on the same line.
        let line_end = text[begin..].find('\n').map_or(text.len(), |i| i + begin);
        let line = &text[begin..line_end];
        let Some(label_end) = line.find("PRIVATE KEY-----") else {
            out.push_str(&text[pos..begin + 1]);
            pos = begin + 1;
            continue;
        };
        let body_start = begin + label_end + "PRIVATE KEY-----".len();
        let end = text[body_start..]
            .find("-----END ")
            .map_or(text.len(), |i| i + body_start);
        out.push_str(&text[pos..body_start]);
        let body = &text[body_start..end];
        if body == PEM_BODY || (end == text.len() && body == "\n***") {
            out.push_str(body);
        } else {
            count += 1;
            out.push_str(if end == text.len() { "\n***" } else { PEM_BODY });
        }
        pos = end;
        if end < text.len() {
            // Copy `-----END ` so the search does not find it again as a BEGIN candidate.
            let after = end + "-----END ".len();
            out.push_str(&text[end..after]);
            pos = after;
        }
    }
    out.push_str(&text[pos..]);
    (out, count)
}

const SECRET_KEYS: [&str; 8] = [
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "api-key",
    "authorization",
];

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.'
}

fn ends_unquoted_value(b: u8) -> bool {
    b.is_ascii_whitespace()
        || matches!(
            b,
            b'"' | b'\'' | b'&' | b',' | b';' | b'\\' | b'}' | b')' | b']' | b'<' | b'>'
        )
}

/// A header value runs to the end of the line, or to the quote or Markdown backtick around it.
fn ends_header_value(b: u8) -> bool {
    matches!(b, b'\n' | b'\r' | b'"' | b'\\' | b'`')
}

fn key_values(text: &str) -> (String, usize) {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut count = 0;
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if !is_key_byte(bytes[i]) || (i > 0 && is_key_byte(bytes[i - 1])) {
            i += 1;
            continue;
        }
        let key_start = i;
        while i < bytes.len() && is_key_byte(bytes[i]) {
            i += 1;
        }
        let key = text[key_start..i].to_ascii_lowercase();
        if !SECRET_KEYS.iter().any(|k| key.contains(k)) {
            continue;
        }
        let header = key.contains("authorization");
        // Separator: optional closing quote of a JSON/YAML key, blanks, `=` or `:`, blanks.
        let mut j = i;
        let json_key = j < bytes.len() && bytes[j] == b'"';
        if j < bytes.len() && (bytes[j] == b'"' || bytes[j] == b'\'') {
            j += 1;
        }
        while j < bytes.len() && (bytes[j] == b' ' || bytes[j] == b'\t') {
            j += 1;
        }
        if j >= bytes.len() || (bytes[j] != b'=' && bytes[j] != b':') {
            continue;
        }
        j += 1;
        while j < bytes.len() && (bytes[j] == b' ' || bytes[j] == b'\t') {
            j += 1;
        }
        let (value_start, value_end) = if j < bytes.len() && (bytes[j] == b'"' || bytes[j] == b'\'')
        {
            let quote = bytes[j];
            let start = j + 1;
            let mut e = start;
            while e < bytes.len() && bytes[e] != quote && bytes[e] != b'\n' && bytes[e] != b'\\' {
                e += 1;
            }
            (start, e)
        } else {
            let mut e = j;
            let stop: fn(u8) -> bool = if header {
                ends_header_value
            } else {
                ends_unquoted_value
            };
            while e < bytes.len() && !stop(bytes[e]) {
                e += 1;
            }
            // A header value ends at the line; trailing blanks are not part of the secret.
            while header && e > j && (bytes[e - 1] == b' ' || bytes[e - 1] == b'\t') {
                e -= 1;
            }
            (j, e)
        };
        let value = &text[value_start..value_end];
        // A JSON secret is a string: an unquoted value after `"key":` is a number, boolean or
        // null (`"token_count": 3`), and masking it would make the report invalid JSON.
        let json_scalar = json_key && value_start == j;
        // A value that starts with the mask was masked by an earlier pass or run (the URL
        // pass masks `user:pw@host` up to the `@`, which this pass does not stop at).
        if value.starts_with(MASK) {
            // Keep scanning after the mask: what follows it may be a key of its own.
            i = (value_start + MASK.len()).max(i);
            continue;
        }
        if !value.is_empty() && !json_scalar {
            out.push_str(&text[copied..value_start]);
            out.push_str(MASK);
            copied = value_end;
            count += 1;
        }
        i = value_end.max(i);
    }
    out.push_str(&text[copied..]);
    (out, count)
}

fn ends_authority(b: u8) -> bool {
    b.is_ascii_whitespace()
        || matches!(
            b,
            b'/' | b'?' | b'#' | b'"' | b'\'' | b'<' | b'>' | b'\\' | b'`' | b'{' | b'}'
        )
}

fn url_passwords(text: &str) -> (String, usize) {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut count = 0;
    let mut copied = 0;
    let mut pos = 0;
    while let Some(found) = text.get(pos..).and_then(|t| t.find("://")) {
        let start = pos + found + 3;
        let mut end = start;
        while end < bytes.len() && !ends_authority(bytes[end]) {
            end += 1;
        }
        pos = end.max(start);
        let authority = &text[start..end];
        let Some(at) = authority.rfind('@') else {
            continue;
        };
        let Some(colon) = authority[..at].find(':') else {
            continue;
        };
        let password = &authority[colon + 1..at];
        if password.is_empty() || password == MASK {
            continue;
        }
        out.push_str(&text[copied..start + colon + 1]);
        out.push_str(MASK);
        copied = start + at;
        count += 1;
    }
    out.push_str(&text[copied..]);
    (out, count)
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=')
}

fn bearer_tokens(text: &str) -> (String, usize) {
    let lower = text.to_ascii_lowercase();
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut count = 0;
    let mut copied = 0;
    let mut pos = 0;
    while let Some(at) = find_from(&lower, "bearer", pos) {
        pos = at + "bearer".len();
        if at > 0 && bytes[at - 1].is_ascii_alphanumeric() {
            continue;
        }
        let mut start = pos;
        while start < bytes.len() && (bytes[start] == b' ' || bytes[start] == b'\t') {
            start += 1;
        }
        if start == pos {
            continue;
        }
        let mut end = start;
        while end < bytes.len() && is_token_byte(bytes[end]) {
            end += 1;
        }
        if end == start {
            continue;
        }
        out.push_str(&text[copied..start]);
        out.push_str(MASK);
        copied = end;
        count += 1;
        pos = end;
    }
    out.push_str(&text[copied..]);
    (out, count)
}

fn aws_keys(text: &str) -> (String, usize) {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut count = 0;
    let mut copied = 0;
    let mut i = 0;
    while i + 20 <= bytes.len() {
        let prefix = &bytes[i..i + 4];
        let boundary_before = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        let boundary_after = bytes.get(i + 20).is_none_or(|b| !b.is_ascii_alphanumeric());
        if boundary_before
            && boundary_after
            && (prefix == b"AKIA" || prefix == b"ASIA")
            && bytes[i + 4..i + 20]
                .iter()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            out.push_str(&text[copied..i + 4]);
            out.push_str(MASK);
            copied = i + 20;
            count += 1;
            i += 20;
        } else {
            i += 1;
        }
    }
    out.push_str(&text[copied..]);
    (out, count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(input: &str, expected: &str, kind: Option<SecretKind>) {
        let r = redact(input);
        assert_eq!(r.text, expected, "input: {input:?}");
        match kind {
            Some(kind) => assert!(r.counts.contains_key(&kind), "{input:?}: {:?}", r.counts),
            None => assert_eq!(r.total(), 0, "{input:?}: {:?}", r.counts),
        }
        assert_eq!(redact(&r.text).text, r.text, "not idempotent for {input:?}");
    }

    #[test]
    fn table() {
        use SecretKind::*;
        let cases: &[(&str, &str, &str, Option<SecretKind>)] = &[
            (
                "plain text",
                "nameserver 10.0.0.2",
                "nameserver 10.0.0.2",
                None,
            ),
            (
                "authorization header",
                "Authorization: Bearer abc.def\nHost: x",
                "Authorization: ***\nHost: x",
                Some(KeyValue),
            ),
            (
                "proxy-authorization header",
                "Proxy-Authorization: Basic Ym9iOmh1bnRlcjI=\r\n",
                "Proxy-Authorization: ***\r\n",
                Some(KeyValue),
            ),
            (
                "header quoted in json evidence",
                r#"["Authorization: Bearer abc.def", "next"]"#,
                r#"["Authorization: ***", "next"]"#,
                Some(KeyValue),
            ),
            (
                "header quoted in markdown",
                "- `Authorization: Bearer abc.def` sent",
                "- `Authorization: ***` sent",
                Some(KeyValue),
            ),
            (
                "json key",
                r#"{"password": "hunter2", "user": "bob"}"#,
                r#"{"password": "***", "user": "bob"}"#,
                Some(KeyValue),
            ),
            (
                "query string",
                "GET /x?token=abc123&page=2 HTTP/1.1",
                "GET /x?token=***&page=2 HTTP/1.1",
                Some(KeyValue),
            ),
            (
                "api key and secret",
                "api_key=k1 client_secret: s2 X-Api-Key: k3",
                "api_key=*** client_secret: *** X-Api-Key: ***",
                Some(KeyValue),
            ),
            (
                "url password keeps user",
                "https_proxy=http://bob:hunter2@proxy:3128",
                "https_proxy=http://bob:***@proxy:3128",
                Some(UrlPassword),
            ),
            (
                "url without password untouched",
                "http://bob@proxy:3128/path",
                "http://bob@proxy:3128/path",
                None,
            ),
            (
                "url with port only untouched",
                "http://proxy:3128/a@b",
                "http://proxy:3128/a@b",
                None,
            ),
            (
                "bearer alone",
                "sent bearer eyJhbGciOi.J9x-y_z then",
                "sent bearer *** then",
                Some(BearerToken),
            ),
            (
                "a key after a masked value is still a key",
                "bearer password=***password=password",
                "bearer ******password=***",
                Some(KeyValue),
            ),
            (
                "aws key",
                "key AKIAIOSFODNN7EXAMPLE here",
                "key AKIA*** here",
                Some(AwsAccessKey),
            ),
            (
                "aws-like inside a word untouched",
                "xAKIAIOSFODNN7EXAMPLE",
                "xAKIAIOSFODNN7EXAMPLE",
                None,
            ),
            (
                "pem private key",
                "a\n-----BEGIN RSA PRIVATE KEY-----\nMIIE\nabcd\n-----END RSA PRIVATE KEY-----\nb",
                "a\n-----BEGIN RSA PRIVATE KEY-----\n***\n-----END RSA PRIVATE KEY-----\nb",
                Some(PrivateKey),
            ),
            (
                "unterminated pem",
                "-----BEGIN PRIVATE KEY-----\nMIIE",
                "-----BEGIN PRIVATE KEY-----\n***",
                Some(PrivateKey),
            ),
            (
                "certificate kept",
                "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----",
                "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----",
                None,
            ),
            (
                "sysctl names are not secrets",
                "net.ipv4.tcp_mtu_probing = 0",
                "net.ipv4.tcp_mtu_probing = 0",
                None,
            ),
            (
                "json scalar kept so the document stays valid",
                r#"{"token_count": 3, "secret": null}"#,
                r#"{"token_count": 3, "secret": null}"#,
                None,
            ),
            ("empty value", "password=", "password=", None),
            (
                "already masked",
                "password=*** http://u:***@h",
                "password=*** http://u:***@h",
                None,
            ),
            (
                "utf-8 around",
                "mot de passe é password=ü€ ok",
                "mot de passe é password=*** ok",
                Some(KeyValue),
            ),
        ];
        for (name, input, expected, kind) in cases {
            eprintln!("case: {name}");
            check(input, expected, *kind);
        }
    }

    #[test]
    fn redacted_json_stays_valid_json() {
        let doc = r#"{"evidence": ["Authorization: Bearer abc.def", "GET /?token=x&a=1"],
            "password": "hunter2", "token_count": 2, "proxy": "http://bob:pw@proxy:3128",
            "nested": {"api_key": "k", "secret": false}}"#;
        let r = redact(doc);
        let parsed: serde_json::Value = serde_json::from_str(&r.text).unwrap();
        assert_eq!(parsed["password"], "***");
        assert_eq!(parsed["token_count"], 2);
        assert_eq!(parsed["evidence"][0], "Authorization: ***");
        assert_eq!(parsed["proxy"], "http://bob:***@proxy:3128");
        assert!(!r.text.contains("hunter2") && !r.text.contains("abc.def"));
    }

    #[test]
    fn summary_names_kinds_not_values() {
        let r = redact("password=a token=b http://u:p@h");
        assert_eq!(r.summary(), "3 (key-value 2, url-password 1)");
        assert_eq!(redact("nothing").summary(), "none");
    }

    /// Strings built from fragments that exercise rule boundaries and interactions.
    fn fragments() -> impl Strategy<Value = String> {
        let pieces = prop::sample::select(vec![
            "password",
            "token",
            "secret",
            "authorization",
            "api-key",
            "=",
            ":",
            " ",
            "\"",
            "'",
            "\n",
            "\\",
            "@",
            "://",
            "http",
            "bob",
            "***",
            "*",
            "bearer ",
            "Bearer",
            "AKIA",
            "IOSFODNN7EXAMPLE",
            "-----BEGIN ",
            "PRIVATE KEY-----",
            "-----END ",
            "é",
            "&",
            "/",
            "x",
            "`",
        ]);
        prop::collection::vec(pieces, 0..24).prop_map(|v| v.concat())
    }

    proptest! {
        #[test]
        fn never_panics_and_is_idempotent(s in fragments()) {
            let once = redact(&s);
            let twice = redact(&once.text);
            prop_assert_eq!(&twice.text, &once.text);
            prop_assert_eq!(twice.total(), 0);
        }

        #[test]
        fn a_url_password_after_a_secret_key_is_masked_once(pw in "[&,;]{1,3}") {
            let s = format!("://password:{pw}@");
            let once = redact(&s);
            prop_assert_eq!(&once.text, "://password:***@");
            prop_assert_eq!(redact(&once.text).text, once.text);
        }

        #[test]
        fn arbitrary_text_never_panics(s in any::<String>()) {
            let once = redact(&s);
            prop_assert_eq!(redact(&once.text).text, once.text);
        }
    }
}
