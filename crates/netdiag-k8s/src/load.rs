//! Loading manifests: files and directories of YAML or JSON, single objects, multi-document YAML
//! and `kind: List` (what `kubectl get -o yaml|json` prints), into a [`Cluster`]. API list
//! responses (`GET /api/v1/pods` → `PodList`, one page at a time) go through the same path via
//! [`Cluster::load_api_list`], so a live cluster and a manifest file are validated alike and give
//! the same model.
//!
//! Nothing is silently dropped: an unknown kind becomes a note, and an object of a known kind that
//! does not parse is an error naming the file and the object, because a policy read wrongly would
//! give a wrong verdict. Files over 64 MiB are refused rather than read into memory.
//!
//! Multi-document YAML is the slow format: serde-saphyr reads about 8 MB/s, so a 5,000-pod dump
//! (3.3 MB) took ~0.7 s where the same cluster as a JSON List takes ~50 ms. Profiling showed no
//! single lever inside it: its bare event parser (granit-parser) alone is about a third of the
//! time, the rest is spread over its deserializer (~45 %), the `Value` tree (~10 %) and the
//! typed parse (~10 %); dropping the budget changes nothing measurable. Another YAML crate would
//! have to keep YAML 1.1 booleans (the hint for an unquoted `on`/`yes`), the alias limits and the
//! error messages, so none was taken. Instead a large file is cut at its `---` document markers,
//! which YAML forbids inside any node (see [`document_starts`]), into one piece per core (at most
//! 8), and the pieces are parsed in parallel with the budget shared between them. Anything
//! unusual (a directive, a piece that fails) falls back to parsing the whole file in one go, so
//! results and error messages are exactly those of the one-go parse; tests check that both paths
//! agree on generated streams. The gain is bounded by the cores: about 2x on two idle ones.

use crate::model::{EndpointSlice, Namespace, NetworkPolicy, Node, Pod, Service};
use serde_json::value::RawValue;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Largest manifest file read.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// Deepest `kind: List` nesting and directory recursion followed.
const MAX_DEPTH: usize = 16;

/// YAML files smaller than this are parsed on one thread: starting threads would cost more than
/// they save.
const PARALLEL_MIN_BYTES: usize = 256 * 1024;
/// Most threads a YAML file is parsed on.
const MAX_THREADS: usize = 8;

/// The parser options for one of `parts` pieces of a file. The default budget (1,024 documents,
/// 250,000 nodes) is for configuration files; a cluster dump is far larger. The file size cap and
/// the alias limits still hold; totals are divided between the pieces of a file parsed in
/// parallel, so that the whole file is held to the same bounds as when it is parsed in one go.
fn yaml_options(parts: usize) -> serde_saphyr::Options {
    let mut options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_documents: 1_000_000,
            max_nodes: 50_000_000,
            max_events: 100_000_000,
        },
    };
    let share = |n: usize| (n / parts.max(1)).max(1);
    if let Some(b) = options.budget.as_mut() {
        b.max_documents = share(b.max_documents);
        b.max_nodes = share(b.max_nodes);
        b.max_events = share(b.max_events);
        b.max_aliases = share(b.max_aliases);
        b.max_anchors = share(b.max_anchors);
    }
    options.alias_limits.max_total_replayed_events =
        share(options.alias_limits.max_total_replayed_events);
    options
}

/// All the non-empty documents of a YAML stream, in order.
fn parse_yaml(text: &str, parts: usize) -> Result<Vec<Value>, serde_saphyr::Error> {
    serde_saphyr::from_multiple_with_options(text, yaml_options(parts))
}

/// Byte offsets of the lines (after the first) that start a document with a `---` marker: `---`
/// at column 0 followed by a space, a tab, a line break or the end of the text.
///
/// YAML 1.2 (production 206, `c-forbidden`, excluded from `l-bare-document` and so from every
/// node in it) does not allow such a line inside any node, block scalars and quoted scalars
/// included: it always ends the document before it. So the text before it and the text from it
/// on are YAML streams of their own whose documents are those of the whole. Aliases cannot
/// reach across documents either. `None` when a line starts with `%`: a directive belongs to the
/// document after it, which this does not follow, so such files are parsed in one go.
fn document_starts(text: &str) -> Option<Vec<usize>> {
    let bytes = text.as_bytes();
    let mut starts = Vec::new();
    let mut line = 0;
    while line < bytes.len() {
        let rest = &bytes[line..];
        if rest.first() == Some(&b'%') {
            return None;
        }
        if line > 0
            && rest.starts_with(b"---")
            && matches!(rest.get(3), None | Some(b' ' | b'\t' | b'\r' | b'\n'))
        {
            starts.push(line);
        }
        match rest.iter().position(|&b| b == b'\n') {
            Some(i) => line += i + 1,
            None => break,
        }
    }
    Some(starts)
}

/// The text cut at document starts into at most `parts` pieces of about equal size.
fn split_documents(text: &str, parts: usize) -> Option<Vec<&str>> {
    let starts = document_starts(text)?;
    let mut pieces = Vec::with_capacity(parts);
    let mut from = 0;
    let mut next = starts.iter().copied().peekable();
    for k in 1..parts {
        let target = text.len() / parts * k;
        let mut cut = None;
        while let Some(&s) = next.peek() {
            next.next();
            if s > from && s >= target {
                cut = Some(s);
                break;
            }
        }
        let Some(cut) = cut else { break };
        pieces.push(&text[from..cut]);
        from = cut;
    }
    pieces.push(&text[from..]);
    Some(pieces)
}

/// Parses a large multi-document file on several threads, one piece each (see
/// [`document_starts`] for why the pieces are independent). `None` when the file is small, cannot
/// be split, or any piece fails: the caller then parses the file in one go, so errors (and their
/// line numbers) are exactly those of the whole file, and the work stays bounded by twice the
/// budget.
fn parse_yaml_parallel(text: &str, threads: usize) -> Option<Vec<Value>> {
    if threads < 2 {
        return None;
    }
    let pieces = split_documents(text, threads)?;
    let parts = pieces.len();
    if parts < 2 {
        return None;
    }
    let parsed: Vec<Option<Vec<Value>>> = std::thread::scope(|scope| {
        let rest: Vec<_> = pieces[1..]
            .iter()
            .map(|piece| scope.spawn(move || parse_yaml(piece, parts).ok()))
            .collect();
        let first = parse_yaml(pieces[0], parts).ok();
        std::iter::once(first)
            .chain(rest.into_iter().map(|h| h.join().ok().flatten()))
            .collect()
    });
    let mut docs = Vec::new();
    for piece in parsed {
        docs.extend(piece?);
    }
    Some(docs)
}

/// Everything read from the manifests.
#[derive(Debug, Clone, Default)]
pub struct Cluster {
    /// Namespaces.
    pub namespaces: Vec<Namespace>,
    /// Pods.
    pub pods: Vec<Pod>,
    /// Nodes.
    pub nodes: Vec<Node>,
    /// Services.
    pub services: Vec<Service>,
    /// EndpointSlices.
    pub endpoint_slices: Vec<EndpointSlice>,
    /// NetworkPolicies.
    pub network_policies: Vec<NetworkPolicy>,
    /// Things a person should know (ignored kinds, ...).
    pub notes: Vec<String>,
}

/// Why manifests could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The path could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_FILE_BYTES`].
    #[error("{path}: {size} bytes is larger than the 64 MiB limit for a manifest file")]
    TooLarge {
        /// The path.
        path: PathBuf,
        /// Its size.
        size: u64,
    },
    /// The file is not valid YAML/JSON.
    #[error("{path}: not valid {format}: {message}")]
    Syntax {
        /// The path.
        path: PathBuf,
        /// YAML or JSON.
        format: &'static str,
        /// The parser's message (first line).
        message: String,
    },
    /// An object of a known kind has a field of the wrong shape.
    #[error("{path}: {object}: {message}")]
    BadObject {
        /// The path.
        path: PathBuf,
        /// `Kind ns/name`.
        object: String,
        /// What is wrong.
        message: String,
    },
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_string()
}

impl Cluster {
    /// Loads every path (file or directory, recursively: `.yaml`, `.yml`, `.json`).
    pub fn load(paths: &[PathBuf]) -> Result<Cluster, LoadError> {
        let mut c = Cluster::default();
        for p in paths {
            c.load_path(p, 0)?;
        }
        Ok(c)
    }

    /// Parses one file's text (`name` is used in messages and picks JSON for `.json`).
    pub fn load_str(&mut self, name: &Path, text: &str) -> Result<(), LoadError> {
        let is_json = name.extension().is_some_and(|e| e == "json");
        if is_json {
            // Raw first: each object is parsed straight into its typed struct, without the
            // intermediate `Value` tree (which made a 5,000-pod List several times slower).
            let raw: &RawValue = serde_json::from_str(text).map_err(|e| LoadError::Syntax {
                path: name.to_path_buf(),
                format: "JSON",
                message: first_line(&e.to_string()),
            })?;
            return self.add_object(name, 0, raw, 0);
        }
        let threads = if text.len() < PARALLEL_MIN_BYTES {
            1
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_THREADS))
        };
        let docs = match parse_yaml_parallel(text, threads) {
            Some(docs) => docs,
            None => parse_yaml(text, 1).map_err(|e| LoadError::Syntax {
                path: name.to_path_buf(),
                format: "YAML",
                message: first_line(&e.to_string()),
            })?,
        };
        for (i, d) in docs.into_iter().enumerate() {
            self.add_object(name, i, d, 0)?;
        }
        Ok(())
    }

    /// Adds one page of an API list response (`GET /api/v1/pods` answers a `PodList`) whose items
    /// are of `kind` in `api_version`, and returns the page's `metadata.continue` token (`None` on
    /// the last page). `source` names the request in messages.
    ///
    /// The API server puts `kind`/`apiVersion` on the list only, not on its items, so each item is
    /// given them before it takes the manifest path. A body that is not a `{kind}List` (a `Status`,
    /// a proxy's HTML page) is an error rather than an empty list: an empty NetworkPolicy list
    /// read by mistake would turn a denial into "allowed".
    pub fn load_api_list(
        &mut self,
        source: &Path,
        kind: &str,
        api_version: &str,
        text: &str,
    ) -> Result<Option<String>, LoadError> {
        let list: Value = serde_json::from_str(text).map_err(|e| LoadError::Syntax {
            path: source.to_path_buf(),
            format: "JSON",
            message: first_line(&e.to_string()),
        })?;
        let expected = format!("{kind}List");
        let bad = |message: String| LoadError::BadObject {
            path: source.to_path_buf(),
            object: expected.clone(),
            message,
        };
        let got = list.get("kind").and_then(Value::as_str).unwrap_or_default();
        if got != expected {
            return Err(bad(format!(
                "the answer is not a {expected} but {:?}",
                if got.is_empty() {
                    "an object without kind"
                } else {
                    got
                }
            )));
        }
        let items = match list.get("items") {
            Some(Value::Array(items)) => items.clone(),
            None | Some(Value::Null) => Vec::new(), // the API's JSON for an empty list
            Some(_) => return Err(bad("`items` is not a list".into())),
        };
        for mut item in items {
            if let Value::Object(fields) = &mut item {
                fields
                    .entry("kind")
                    .or_insert_with(|| Value::String(kind.to_string()));
                fields
                    .entry("apiVersion")
                    .or_insert_with(|| Value::String(api_version.to_string()));
            }
            self.add_object(source, 0, item, 1)?;
        }
        let token = list
            .get("metadata")
            .and_then(|m| m.get("continue"))
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        Ok(token)
    }

    fn load_path(&mut self, p: &Path, depth: usize) -> Result<(), LoadError> {
        let io = |source| LoadError::Io {
            path: p.to_path_buf(),
            source,
        };
        let meta = std::fs::metadata(p).map_err(io)?;
        if meta.is_dir() {
            if depth >= MAX_DEPTH {
                return Ok(());
            }
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(io)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            entries.sort();
            for e in entries {
                let manifest = e
                    .extension()
                    .is_some_and(|x| x == "yaml" || x == "yml" || x == "json");
                if e.is_dir() || manifest {
                    self.load_path(&e, depth + 1)?;
                }
            }
            return Ok(());
        }
        if meta.len() > MAX_FILE_BYTES {
            return Err(LoadError::TooLarge {
                path: p.to_path_buf(),
                size: meta.len(),
            });
        }
        // Bounded even when the size is not known up front (/dev/stdin, a FIFO, /dev/zero).
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(
            &mut std::io::Read::take(std::fs::File::open(p).map_err(io)?, MAX_FILE_BYTES + 1),
            &mut bytes,
        )
        .map_err(io)?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(LoadError::TooLarge {
                path: p.to_path_buf(),
                size: bytes.len() as u64,
            });
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
            ))
        })?;
        self.load_str(p, &text)
    }

    fn add_object<S: Source>(
        &mut self,
        path: &Path,
        doc: usize,
        v: S,
        depth: usize,
    ) -> Result<(), LoadError> {
        if v.is_null() {
            return Ok(()); // an empty document (e.g. a trailing `---`)
        }
        let Some((head, listed)) = v.head() else {
            // A raw object whose header fields have unexpected types: read it the slow way,
            // which reports exactly what is wrong.
            return match v.into_value() {
                Some(value) => self.add_object(path, doc, value, depth),
                None => Err(LoadError::BadObject {
                    path: path.to_path_buf(),
                    object: format!("document {}", doc + 1),
                    message: "not a Kubernetes object".into(),
                }),
            };
        };
        let Head {
            kind,
            api,
            name,
            namespace,
            has_items,
        } = head;
        let object = match namespace {
            Some(ns) => format!("{kind} {ns}/{name} (document {})", doc + 1),
            None => format!("{kind} {name} (document {})", doc + 1),
        };
        let bad = |message: String| LoadError::BadObject {
            path: path.to_path_buf(),
            object: object.clone(),
            message,
        };
        if kind.is_empty() {
            return Err(bad("no `kind`: not a Kubernetes object".into()));
        }
        match kind.as_str() {
            k if k == "List" || k.ends_with("List") && has_items => {
                if depth >= MAX_DEPTH {
                    return Err(bad("List nested too deeply".into()));
                }
                let Some(items) = listed.or_else(|| v.items()) else {
                    return Err(bad("`items` is not a list".into()));
                };
                for item in items {
                    self.add_object(path, doc, item, depth + 1)?;
                }
            }
            "Namespace" => self.namespaces.push(v.parse().map_err(bad)?),
            "Pod" => self.pods.push(v.parse().map_err(bad)?),
            "Node" => self.nodes.push(v.parse().map_err(bad)?),
            "Service" => self.services.push(v.parse().map_err(bad)?),
            "EndpointSlice" => self.endpoint_slices.push(v.parse().map_err(bad)?),
            "NetworkPolicy" if api == "networking.k8s.io/v1" || api.is_empty() => {
                self.network_policies.push(v.parse().map_err(bad)?)
            }
            _ => self.notes.push(format!(
                "{}: ignored {object} (apiVersion {api:?}): not a kind netdiag k8s reads",
                path.display()
            )),
        }
        Ok(())
    }
}

/// What an object says about itself, read before its typed parse.
struct Head {
    kind: String,
    api: String,
    name: String,
    namespace: Option<String>,
    has_items: bool,
}

/// An object not parsed yet: a YAML document as a `Value`, or the raw text of a JSON object.
trait Source: Sized {
    fn is_null(&self) -> bool;
    /// `None` when the header fields cannot be read this way (see `into_value`). A raw object
    /// also returns its `items` here, which saves a pass over a cluster-wide List.
    fn head(&self) -> Option<(Head, Option<Vec<Self>>)>;
    fn items(self) -> Option<Vec<Self>>;
    fn parse<T: serde::de::DeserializeOwned>(self) -> Result<T, String>;
    fn into_value(self) -> Option<Value>;
}

fn parse_message(e: serde_json::Error) -> String {
    let m = e.to_string();
    if m.contains("expected a string") {
        // YAML 1.1 reads y/n/yes/no/on/off as booleans and 1.0 as a number.
        format!(
            "{m} (quote values such as y, n, on, off or numbers where the API expects a string)"
        )
    } else {
        m
    }
}

impl Source for Value {
    fn is_null(&self) -> bool {
        Value::is_null(self)
    }

    fn head(&self) -> Option<(Head, Option<Vec<Value>>)> {
        let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
        let meta = self.get("metadata");
        Some((
            Head {
                kind: s(self.get("kind")).unwrap_or_default(),
                api: s(self.get("apiVersion")).unwrap_or_default(),
                name: s(meta.and_then(|m| m.get("name"))).unwrap_or_default(),
                namespace: s(meta.and_then(|m| m.get("namespace"))),
                has_items: self.get("items").is_some(),
            },
            None,
        ))
    }

    fn items(self) -> Option<Vec<Value>> {
        // Taken, not cloned: a cluster-wide List is most of the input.
        match self {
            Value::Object(mut m) => match m.remove("items") {
                Some(Value::Array(items)) => Some(items),
                _ => None,
            },
            _ => None,
        }
    }

    fn parse<T: serde::de::DeserializeOwned>(self) -> Result<T, String> {
        serde_json::from_value(self).map_err(parse_message)
    }

    fn into_value(self) -> Option<Value> {
        Some(self)
    }
}

impl<'a> Source for &'a RawValue {
    fn is_null(&self) -> bool {
        self.get().trim() == "null"
    }

    fn head(&self) -> Option<(Head, Option<Vec<&'a RawValue>>)> {
        #[derive(serde::Deserialize)]
        struct RawMeta {
            #[serde(default)]
            name: Option<String>,
            #[serde(default)]
            namespace: Option<String>,
        }
        #[derive(serde::Deserialize)]
        struct RawHead<'b> {
            #[serde(default)]
            kind: Option<String>,
            #[serde(default, rename = "apiVersion")]
            api: Option<String>,
            #[serde(default)]
            metadata: Option<RawMeta>,
            #[serde(default, borrow)]
            items: Option<Vec<&'b RawValue>>,
        }
        let h: RawHead<'a> = serde_json::from_str(self.get()).ok()?;
        let meta = h.metadata.unwrap_or(RawMeta {
            name: None,
            namespace: None,
        });
        Some((
            Head {
                kind: h.kind.unwrap_or_default(),
                api: h.api.unwrap_or_default(),
                name: meta.name.unwrap_or_default(),
                namespace: meta.namespace,
                has_items: h.items.is_some(),
            },
            h.items,
        ))
    }

    fn items(self) -> Option<Vec<&'a RawValue>> {
        #[derive(serde::Deserialize)]
        struct RawList<'b> {
            #[serde(borrow)]
            items: Vec<&'b RawValue>,
        }
        serde_json::from_str::<RawList<'a>>(self.get())
            .ok()
            .map(|l| l.items)
    }

    fn parse<T: serde::de::DeserializeOwned>(self) -> Result<T, String> {
        serde_json::from_str(self.get()).map_err(parse_message)
    }

    fn into_value(self) -> Option<Value> {
        serde_json::from_str(self.get()).ok()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn load(name: &str, text: &str) -> Result<Cluster, LoadError> {
        let mut c = Cluster::default();
        c.load_str(Path::new(name), text)?;
        Ok(c)
    }

    #[test]
    fn multi_document_yaml_and_unknown_kind() {
        let c = load(
            "a.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: x, labels: {app: a}}\n---\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n",
        )
        .unwrap();
        assert_eq!(c.pods.len(), 1);
        assert_eq!(c.pods[0].metadata.labels["app"], "a");
        assert_eq!(c.pods[0].metadata.ns(), "x");
        assert_eq!(c.notes.len(), 1);
        assert!(c.notes[0].contains("Deployment"));
    }

    #[test]
    fn pod_addresses_use_the_api_field_names() {
        let c = load(
            "p.yaml",
            "kind: Pod\nmetadata: {name: a}\nspec: {hostNetwork: true, nodeName: node-1}\nstatus: {podIP: 10.0.0.1, podIPs: [{ip: 10.0.0.1}, {ip: 'fd00::1'}]}\n",
        )
        .unwrap();
        let p = &c.pods[0];
        assert_eq!(p.status.pod_ip.as_deref(), Some("10.0.0.1"));
        assert_eq!(p.status.pod_ips.len(), 2);
        assert!(p.spec.host_network);
        assert_eq!(crate::policy::pod_ips(p).len(), 2);
        assert_eq!(p.metadata.ns(), "default");
    }

    #[test]
    fn kubectl_list_json() {
        let c = load(
            "l.json",
            r#"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"x"}},{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"p","namespace":"x"},"spec":{"podSelector":{}}}]}"#,
        )
        .unwrap();
        assert_eq!(c.namespaces.len(), 1);
        assert_eq!(c.network_policies.len(), 1);
    }

    #[test]
    fn bad_object_names_file_and_object() {
        let e = load(
            "bad.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: shop}\nspec: {containers: [{name: c, ports: [{containerPort: http}]}]}\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("bad.yaml: Pod shop/web"), "{e}");
    }

    #[test]
    fn unquoted_yaml_boolean_label_gets_a_hint() {
        let e = load(
            "b.yaml",
            "kind: Pod\nmetadata: {name: a, labels: {enabled: yes}}\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("Pod a") && e.contains("quote values"), "{e}");
    }

    #[test]
    fn api_list_items_get_the_list_item_kind() {
        let mut c = Cluster::default();
        let next = c
            .load_api_list(
                Path::new("/apis/networking.k8s.io/v1/networkpolicies"),
                "NetworkPolicy",
                "networking.k8s.io/v1",
                r#"{"kind":"NetworkPolicyList","apiVersion":"networking.k8s.io/v1","metadata":{"resourceVersion":"7","continue":"abc"},"items":[{"metadata":{"name":"p","namespace":"x"},"spec":{"podSelector":{}}}]}"#,
            )
            .unwrap();
        assert_eq!(next.as_deref(), Some("abc"));
        assert_eq!(c.network_policies.len(), 1);
        assert!(c.notes.is_empty(), "{:?}", c.notes);
        let last = c
            .load_api_list(
                Path::new("/api/v1/pods"),
                "Pod",
                "v1",
                r#"{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"8","continue":""},"items":null}"#,
            )
            .unwrap();
        assert_eq!(last, None);
    }

    #[test]
    fn api_list_of_the_wrong_kind_is_an_error() {
        let mut c = Cluster::default();
        let e = c
            .load_api_list(
                Path::new("/api/v1/pods"),
                "Pod",
                "v1",
                r#"{"kind":"Status","apiVersion":"v1","status":"Failure","code":403}"#,
            )
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/api/v1/pods: PodList") && e.contains("Status"),
            "{e}"
        );
        let bad_item = c
            .load_api_list(
                Path::new("/api/v1/pods"),
                "Pod",
                "v1",
                r#"{"kind":"PodList","items":[{"metadata":{"name":"a","namespace":"x"},"spec":{"hostNetwork":"yes"}}]}"#,
            )
            .unwrap_err()
            .to_string();
        assert!(bad_item.contains("Pod x/a"), "{bad_item}");
    }

    #[test]
    fn bad_object_in_a_json_list_names_file_and_object() {
        let e = load(
            "l.json",
            r#"{"kind":"List","items":[{"kind":"Pod","metadata":{"name":"web","namespace":"shop","labels":{"on":true}}}]}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("l.json: Pod shop/web"), "{e}");
        assert!(e.contains("quote values"), "{e}");
        // A header of the wrong type falls back to the Value reading and its message.
        let e = load("k.json", r#"{"kind":7}"#).unwrap_err().to_string();
        assert!(e.contains("no `kind`"), "{e}");
    }

    #[test]
    fn a_cluster_dump_is_more_than_the_default_yaml_budget() {
        let doc = "---\nkind: Pod\nmetadata: {name: p, namespace: x, labels: {app: a}}\nspec: {containers: [{name: c, ports: [{name: http, containerPort: 80}]}]}\n";
        let c = load("big.yaml", &doc.repeat(3000)).unwrap();
        assert_eq!(c.pods.len(), 3000);
    }

    #[test]
    fn document_starts_are_column_0_markers_only() {
        let starts = |t: &str| document_starts(t).unwrap();
        assert_eq!(starts("---\na: 1\n--- # comment\nb: 2\n"), [9]);
        assert_eq!(starts("a: 1\r\n---\r\nb: 2\r\n"), [6]);
        assert_eq!(starts("a: 1\n...\n---\tx\n---"), [9, 15]);
        assert_eq!(starts("\u{feff}---\na: 1\n---\nb: 2\n"), [12]);
        // Indented, glued to text, or more dashes: not a marker.
        assert!(starts("a: |\n  ---\n  x\nb: \"y\n---z\"\nc: 1\n----\n").is_empty());
        // A directive belongs to the next document: such files are not split.
        assert_eq!(document_starts("a: 1\n...\n%YAML 1.2\n---\nb: 2\n"), None);
    }

    #[test]
    fn split_documents_cuts_at_starts_into_about_equal_pieces() {
        let text = "---\na: 1\n".repeat(10);
        let pieces = split_documents(&text, 3).unwrap();
        assert_eq!(pieces.len(), 3);
        assert_eq!(pieces.concat(), text);
        assert!(pieces.iter().all(|p| p.starts_with("---\n")));
        assert_eq!(split_documents("a: 1\n", 4).unwrap(), ["a: 1\n"]);
    }

    /// The pieces parsed apart give the documents of the whole, or fail (and the caller parses
    /// the whole, with its own error).
    fn pieces_agree(text: &str) {
        let whole = parse_yaml(text, 1).ok();
        for threads in 2..=4 {
            if let Some(docs) = parse_yaml_parallel(text, threads) {
                assert_eq!(Some(docs), whole, "{threads} pieces of {text:?}");
            }
        }
    }

    #[test]
    fn document_markers_inside_scalars_split_as_the_parser_reads_them() {
        for text in [
            "--- |\nfoo\n---\nbar\n",
            "--- >\n a\n---\nb: 2\n",
            "a: |\n  x\n---\nb: 1\n",
            "a: \"x\n---\ny\"\n---\nb: 1\n",
            "a: 'x\n--- \ny'\n---\nb: 1\n",
            "a: x\n---\n...\n---\nb: &a {c: 1}\nd: *a\n",
            "a: 1\n...\n---\n# c\n---\n",
            "a: [1,\n---\n2]\n",
            "a: &x 1\n---\nb: *x\n",
            "\u{feff}a: 1\r\n---\r\nb: yes\r\n--- # c\r\nc: ~\r\n",
            "a:\n- b\n--- \n- c\n",
        ] {
            pieces_agree(text);
        }
    }

    #[test]
    fn a_large_yaml_file_parsed_in_pieces_is_the_same_cluster() {
        let doc = "---\nkind: Pod\nmetadata: {name: p, namespace: x, labels: {app: a}}\nspec: {containers: [{name: c, ports: [{name: http, containerPort: 80}]}]}\n";
        let text = doc.repeat(PARALLEL_MIN_BYTES / doc.len() + 10);
        pieces_agree(&text);
        let c = load("big.yaml", &text).unwrap();
        assert_eq!(c.pods.len(), PARALLEL_MIN_BYTES / doc.len() + 10);
        // An error anywhere is the error of the whole file, with its line number.
        let bad = format!("{text}---\nkind: Pod\nmetadata: {{name: q\n");
        let e = load("bad.yaml", &bad).unwrap_err().to_string();
        let whole = parse_yaml(&bad, 1).unwrap_err().to_string();
        assert_eq!(
            e,
            format!("bad.yaml: not valid YAML: {}", first_line(&whole))
        );
    }

    proptest::proptest! {
        /// Valid streams of tricky documents: every piece parses, and they give the whole.
        #[test]
        fn valid_streams_in_pieces_give_the_same_documents(
            docs in proptest::collection::vec((
                proptest::sample::select(vec![
                    "---\n", "--- # c\n", "...\n---\n", "---\n...\n---\n", "--- \n",
                ]),
                proptest::sample::select(vec![
                    "kind: Pod\nmetadata: {name: a, labels: {on: yes}}\n",
                    "a: |\n  x\n  ---\n  y\n", "|\n foo\n --- bar\n", "c: \"q\\n---\\nr\"\n",
                    "c: \"q\n  --- r\"\n", "d: 'q\n  ---\n  s'\n", "e: &k [1, 2]\nf: *k\n",
                    "- j\n- k: 1\n", "h: >\n  y\n\n  z\n", "# a comment\n", "", "x\n",
                    "k: \"a\\\n  b\"\n", "m: 'it''s'\n", "n: ~\no: 1.0\np: 0x1F\n",
                ]),
            ), 1..12),
            crlf in proptest::bool::ANY,
            bom in proptest::bool::ANY,
        ) {
            let mut text: String = docs.iter().map(|(sep, doc)| format!("{sep}{doc}")).collect();
            if crlf {
                text = text.replace('\n', "\r\n");
            }
            if bom {
                text.insert(0, '\u{feff}');
            }
            let whole = parse_yaml(&text, 1);
            proptest::prop_assert!(whole.is_ok(), "{text:?}: {whole:?}");
            for threads in 2..=4 {
                match parse_yaml_parallel(&text, threads) {
                    Some(docs) => proptest::prop_assert_eq!(Some(&docs), whole.as_ref().ok()),
                    // Only when there is nowhere to cut.
                    None => proptest::prop_assert!(
                        split_documents(&text, threads).is_some_and(|p| p.len() < 2),
                        "{:?}",
                        text
                    ),
                }
            }
        }

        /// Arbitrary (mostly invalid) streams: the pieces never read differently from the whole.
        #[test]
        fn pieces_never_disagree_with_the_whole(
            docs in proptest::collection::vec(
                proptest::collection::vec(proptest::sample::select(vec![
                    "kind: Pod\n", "metadata: {name: a, labels: {on: yes}}\n", "a: |\n  x\n  ---\n",
                    "b: |\n---\n", "c: \"q\n---\nr\"\n", "d: 'q\n--- \n'\n", "# ---\n",
                    "e: &k [1, 2]\nf: *k\n", "g: *k\n", "...\n", "--- # c\n", "---\n", "--- |\n",
                    "x\n", "  - i\n", "- j\n", "h: >\n  y\n\n", "k: \"a\\\n  b\"\n", "---x\n", "\r\n",
                ]), 0..6),
                1..8),
            crlf in proptest::bool::ANY,
        ) {
            let mut text: String = docs
                .iter()
                .map(|d| format!("---\n{}", d.concat()))
                .collect();
            if crlf {
                text = text.replace('\n', "\r\n");
            }
            pieces_agree(&text);
        }
    }

    #[test]
    fn syntax_error_is_one_line() {
        let e = load("s.json", "{nope").unwrap_err().to_string();
        assert!(e.starts_with("s.json: not valid JSON"), "{e}");
        assert!(!e.contains('\n'));
    }
}
