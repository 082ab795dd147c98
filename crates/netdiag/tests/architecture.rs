//! The shape of the house, checked: one cause catalogue, and no module import cycles.
//!
//! - Every cause code is written once, in `netdiag-core/src/cause.rs`: no other source file's
//!   non-test code may spell a catalogue code as a string literal (the adapters use
//!   `netdiag_core::Cause`, so everything they can emit is in the catalogue by construction).
//! - Every cause a report carries is in the catalogue (the demo's fourteen faults, read back from
//!   its JSON).
//! - Inside each crate, modules import one way: no cycle between sibling modules or through a
//!   parent (a parent using its own children is its facade, not a cycle).

#![allow(clippy::unwrap_used)] // a test: a failed read is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn catalogue() -> BTreeSet<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_netdiag"))
        .args(["causes", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .map(|c| c["cause"].as_str().unwrap().to_string())
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without its test module(s) (everything from the first `#[cfg(test)]` on
/// is tests in this codebase) and without comment lines (doc links are not imports).
fn non_test_source(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let code = match text.find("#[cfg(test)]") {
        Some(i) => &text[..i],
        None => &text,
    };
    code.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn string_literals(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = source;
    while let Some(start) = rest.find('"') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('"') else { break };
        out.push(after[..end].to_string());
        rest = &after[end + 1..];
    }
    out
}

#[test]
fn every_cause_code_is_written_once_in_the_catalogue() {
    let codes = catalogue();
    assert!(codes.len() >= 69, "{} codes", codes.len());
    for prefix in ["svc_", "netpol_", "cloud_", "tcp_", "dns_"] {
        assert!(codes.iter().any(|c| c.starts_with(prefix)), "{prefix}");
    }
    let root = workspace();
    let mut files = Vec::new();
    rust_files(&root.join("crates"), &mut files);
    let catalogue_file = root.join("crates/netdiag-core/src/cause.rs");
    let mut written_twice = Vec::new();
    for file in files
        .iter()
        .filter(|f| f.components().any(|c| c.as_os_str() == "src") && **f != catalogue_file)
    {
        for literal in string_literals(&non_test_source(file)) {
            if literal != "ok" && codes.contains(&literal) {
                written_twice.push(format!("{}: \"{literal}\"", file.display()));
            }
        }
    }
    assert!(
        written_twice.is_empty(),
        "cause codes spelled outside the catalogue (use netdiag_core::Cause):\n{}",
        written_twice.join("\n")
    );
}

fn collect_causes(value: &serde_json::Value, out: &mut BTreeSet<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map {
                if key == "cause" {
                    if let Some(code) = v.as_str() {
                        out.insert(code.to_string());
                    }
                }
                collect_causes(v, out);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_causes(v, out)),
        _ => {}
    }
}

#[test]
fn every_cause_a_report_carries_is_in_the_catalogue() {
    let codes = catalogue();
    let out = Command::new(env!("CARGO_BIN_EXE_netdiag"))
        .args(["demo", "--format", "json"])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut seen = BTreeSet::new();
    collect_causes(&doc, &mut seen);
    assert!(seen.len() > 5, "{seen:?}");
    for cause in seen {
        assert!(cause == "ok" || codes.contains(&cause), "{cause}");
    }
}

/// A module's path inside its crate (`gcp::eval`), from its file.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap();
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib" | "main") {
        parts.push(stem.to_string());
    }
    parts
}

/// The modules this source refers to through `crate::` and `super::` paths (longest known
/// module prefix of each path).
fn references(
    module: &[String],
    source: &str,
    modules: &BTreeSet<Vec<String>>,
) -> BTreeSet<Vec<String>> {
    let mut out = BTreeSet::new();
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    for (i, _) in source
        .match_indices("crate::")
        .chain(source.match_indices("super::"))
    {
        if i > 0 && source[..i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let path: String = source[i..].chars().take_while(|c| ident(*c)).collect();
        let mut segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
        let mut base: Vec<String> = Vec::new();
        match segments.first() {
            Some(&"crate") => {
                segments.remove(0);
            }
            Some(&"super") => {
                base = module.to_vec();
                while segments.first() == Some(&"super") {
                    segments.remove(0);
                    base.pop();
                }
            }
            _ => continue,
        }
        let mut target = base.clone();
        let mut best = base;
        for segment in segments {
            target.push(segment.to_string());
            if modules.contains(&target) {
                best = target.clone();
            } else {
                break;
            }
        }
        out.insert(best);
    }
    out
}

fn find_cycle(edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Option<Vec<String>> {
    fn visit(
        node: &Vec<String>,
        edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        state: &mut BTreeMap<Vec<String>, u8>,
        stack: &mut Vec<Vec<String>>,
    ) -> Option<Vec<String>> {
        state.insert(node.clone(), 1);
        stack.push(node.clone());
        for next in edges.get(node).into_iter().flatten() {
            match state.get(next) {
                Some(1) => {
                    let from = stack.iter().position(|n| n == next).unwrap_or(0);
                    let mut cycle: Vec<String> =
                        stack[from..].iter().map(|m| m.join("::")).collect();
                    cycle.push(next.join("::"));
                    return Some(cycle);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(next, edges, state, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        state.insert(node.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in edges.keys() {
        if !state.contains_key(node) {
            if let Some(c) = visit(node, edges, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

#[test]
fn no_crate_has_a_module_import_cycle() {
    let root = workspace();
    let mut crates: Vec<PathBuf> = std::fs::read_dir(root.join("crates"))
        .unwrap()
        .flatten()
        .map(|e| e.path().join("src"))
        .filter(|p| p.is_dir())
        .collect();
    crates.sort();
    assert!(crates.len() >= 6);
    let mut cycles = Vec::new();
    for src in crates {
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        // Binaries under src/bin are crates of their own.
        files.retain(|f| !f.strip_prefix(&src).unwrap().starts_with("bin"));
        let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(&src, f)).collect();
        let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
        for file in &files {
            let module = module_of(&src, file);
            let refs = references(&module, &non_test_source(file), &modules);
            let outgoing = edges.entry(module.clone()).or_default();
            for target in refs {
                // A module using itself or its own descendants is not an import between modules.
                if !target.starts_with(&module) {
                    outgoing.insert(target);
                }
            }
        }
        if let Some(cycle) = find_cycle(&edges) {
            cycles.push(format!("{}: {}", src.display(), cycle.join(" -> ")));
        }
    }
    assert!(
        cycles.is_empty(),
        "module import cycles:\n{}",
        cycles.join("\n")
    );
}
