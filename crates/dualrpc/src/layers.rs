//! The layering of the crate's modules (see the crate doc): every module may use only
//! modules of its own layer or above it, and modules within a layer do not use each other
//! in both directions. Read from the sources, so a new `use crate::…` that makes a cycle
//! fails here.

use std::collections::HashMap;

/// Layers, top (used by everything) to bottom (uses everything).
const LAYERS: &[&[&str]] = &[
    &[
        "clock", "worker", "wire", "fresh", "catalog", "outcome", "jsonrpc",
    ],
    &["config", "policy", "settings"],
    &["stats", "budget", "telemetry"],
    &["upstream", "endpoint", "upstreams"],
    &["select", "health", "sight"],
    &["error", "reply", "attempt"],
    &["strategy"],
    &["rounds"],
    &["cache", "coalesce"],
    &["pool", "pubsub"],
    &["bench"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// The crate modules a source file names (`crate::x`).
fn uses(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = source;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            out.push(name);
        }
    }
    // `use crate::{a, b}`
    for block in source.split("use crate::{").skip(1) {
        let inner = &block[..block.find('}').unwrap_or(0)];
        for item in inner.split(',') {
            let name: String = item
                .trim()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.push(name);
            }
        }
    }
    out
}

#[test]
fn modules_only_use_modules_above_them_and_have_no_cycles() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut edges: HashMap<String, Vec<String>> = HashMap::new();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        if name == "lib" || name == "layers" || name == "tests" {
            continue;
        }
        if path.is_dir() {
            let mut dirs = vec![path];
            while let Some(dir) = dirs.pop() {
                for sub in std::fs::read_dir(&dir).unwrap() {
                    let sub = sub.unwrap().path();
                    if sub.is_dir() {
                        dirs.push(sub);
                    } else {
                        files.push((name.clone(), sub));
                    }
                }
            }
        } else {
            files.push((name, path));
        }
    }
    for (module, path) in files {
        // A module's `tests.rs` is its `#[cfg(test)] mod tests`: test code, which may build
        // a whole pool to drive a lower layer.
        if path.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap();
        // Only code counts: not comments, not `#[cfg(test)]` modules.
        let code: String = source
            .split("#[cfg(test)]")
            .next()
            .unwrap_or("")
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let code = code.as_str();
        let mine = layer_of(&module).unwrap_or_else(|| panic!("module `{module}` has no layer"));
        for used in uses(code) {
            if used == module || used == "Strategy" {
                continue;
            }
            let theirs = layer_of(&used).unwrap_or_else(|| {
                panic!(
                    "{} uses `crate::{used}`, which has no layer",
                    path.display()
                )
            });
            assert!(
                theirs <= mine,
                "{} (layer {mine}) uses `{used}` (layer {theirs}), a layer below it",
                path.display()
            );
            edges.entry(module.clone()).or_default().push(used);
        }
    }
    for (a, targets) in &edges {
        for b in targets {
            assert!(
                !edges.get(b).is_some_and(|t| t.contains(a)),
                "`{a}` and `{b}` use each other"
            );
        }
    }
}
