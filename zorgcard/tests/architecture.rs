//! The workspace's structure, read from its own files so that a change that breaks it fails here:
//! - the crate graph (each member's `Cargo.toml`) points one way, down a fixed order of layers; no crate depends on
//!   the binary, and the harness (`conformance`) knows neither the portal, the personaliser nor the commands above;
//! - each crate's `src/` stays under 6 000 lines, so no crate becomes a catch-all again;
//! - the module import graph of every crate has no circle, and card-os's layers point one way:
//!   types → state → handlers → command (dispatch) → card (transport). Read from the source's own `use crate::…`
//!   and `crate::…` paths, so a new import that closes a circle fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// `src/a/b.rs` → `a::b`; `src/a/mod.rs` → `a`; `src/lib.rs` → `` (the root).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        parts.pop();
    }
    parts.join("::")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Module → the modules of the same crate it names (`crate::x::…`, longest known prefix), without itself, its
/// parents or its children (a parent declaring `mod x` is not an import).
fn import_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.retain(|f| !f.starts_with(src.join("bin")));
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(src, f)).collect();
    let mut graph = BTreeMap::new();
    for file in &files {
        let me = module_of(src, file);
        let text = std::fs::read_to_string(file).unwrap();
        // Only the code above a `#[cfg(test)]` block (unit tests may import anything), without comments (a doc link
        // is not an import).
        let above_tests = text.split("#[cfg(test)]").next().unwrap_or("");
        let code: String =
            above_tests.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
        let code = code.as_str();
        let mut targets = BTreeSet::new();
        for (i, _) in code.match_indices("crate::") {
            let path: String =
                code[i + 7..].chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect();
            let segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
            let target = (1..=segments.len()).rev().map(|n| segments[..n].join("::")).find(|m| modules.contains(m));
            if let Some(t) = target {
                targets.insert(t);
            }
        }
        for (i, _) in code.match_indices("use crate::{") {
            let inner: String = code[i + 12..].chars().take_while(|c| *c != ';').collect();
            for item in inner.split([',', '{', '}']) {
                let first = item.trim().split("::").next().unwrap_or("").trim();
                if modules.contains(first) {
                    targets.insert(first.to_string());
                }
            }
        }
        targets.retain(|t| {
            t != &me && !me.starts_with(&format!("{t}::")) && !t.starts_with(&format!("{me}::")) && !t.is_empty()
        });
        graph.insert(me, targets);
    }
    graph
}

/// A circle, if any: depth-first search with colours.
fn find_circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(node.to_string(), 1);
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            match state.get(next.as_str()).copied().unwrap_or(0) {
                1 => {
                    let start = stack.iter().position(|n| n == next).unwrap();
                    let mut circle = stack[start..].to_vec();
                    circle.push(next.clone());
                    return Some(circle);
                }
                0 => {
                    if let Some(c) = visit(next, graph, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(node.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in graph.keys() {
        if state.get(node.as_str()).copied().unwrap_or(0) == 0
            && let Some(c) = visit(node, graph, &mut state, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

fn crate_src(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(name).join("src")
}

#[test]
fn no_crate_has_an_import_circle() {
    for name in crates() {
        let graph = import_graph(&crate_src(name));
        assert!(!graph.is_empty(), "{name}: read no modules");
        if let Some(circle) = find_circle(&graph) {
            panic!("{name} has an import circle: {}", circle.join(" → "));
        }
    }
}

#[test]
fn card_os_layers_point_one_way() {
    let graph = import_graph(&crate_src("card-os"));
    // Each layer may import only layers before it (and the leaves).
    let order = ["types", "state", "handlers", "command", "card"];
    let rank = |m: &str| order.iter().position(|l| m == *l || m.starts_with(&format!("{l}::")));
    for (module, targets) in &graph {
        let Some(mine) = rank(module) else { continue };
        for target in targets {
            if let Some(theirs) = rank(target) {
                assert!(theirs <= mine, "card-os: {module} (layer {mine}) imports {target} (layer {theirs})");
            }
        }
    }
    // The handlers never import the dispatcher or the transport.
    for (module, targets) in graph.iter().filter(|(m, _)| m.starts_with("handlers")) {
        assert!(!targets.contains("command") && !targets.contains("card"), "{module} imports {targets:?}");
    }
    // And the three files of VERIFY are those: the parser and dispatch, the handler, the commit.
    assert!(graph["command"].contains("handlers::pin"));
    assert!(graph["handlers::pin"].contains("state"));
    assert!(!graph["state"].iter().any(|t| t.starts_with("handlers")));
}

/// The workspace's crates, bottom layer first. A crate may depend only on crates of layers below its own.
const LAYERS: [&[&str]; 7] = [
    &["card-os", "pcsc-runtime", "fixtures"],
    &["reader-sim"],
    &["issuance"],
    &["portal", "conformance"],
    &["personaliser", "replay", "serve", "portal-web"],
    &["chaos"],
    &["zorgcard"],
];

/// Every crate of [`LAYERS`].
fn crates() -> impl Iterator<Item = &'static str> {
    LAYERS.iter().flat_map(|l| l.iter().copied())
}

fn layer_of(name: &str) -> usize {
    LAYERS.iter().position(|l| l.contains(&name)).unwrap_or_else(|| panic!("{name}: not in LAYERS; add it there"))
}

/// The workspace crates a crate's `[dependencies]` name (path dependencies, through `[workspace.dependencies]`).
fn workspace_dependencies(name: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(name).join("Cargo.toml");
    let manifest: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    let deps = manifest.get("dependencies").and_then(|d| d.as_table()).cloned().unwrap_or_default();
    deps.keys().filter(|d| crates().any(|c| c == d.as_str())).cloned().collect()
}

#[test]
fn the_workspace_members_are_the_layered_crates() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let root: toml::Table = std::fs::read_to_string(path).unwrap().parse().unwrap();
    let members: BTreeSet<&str> =
        root["workspace"]["members"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
    let layered: BTreeSet<&str> = crates().collect();
    assert_eq!(members, layered, "the workspace members and LAYERS differ");
}

#[test]
fn crate_dependencies_point_down_the_layers() {
    for name in crates() {
        for dep in workspace_dependencies(name) {
            assert!(
                layer_of(&dep) < layer_of(name),
                "{name} (layer {}) depends on {dep} (layer {}): dependencies point down",
                layer_of(name),
                layer_of(&dep)
            );
        }
    }
}

#[test]
fn nothing_depends_on_the_binary_and_the_harness_stays_a_harness() {
    for name in crates() {
        assert!(!workspace_dependencies(name).contains(&"zorgcard".to_string()), "{name} depends on the binary");
    }
    let harness = workspace_dependencies("conformance");
    for above in ["portal", "portal-web", "personaliser", "serve", "chaos", "replay"] {
        assert!(!harness.iter().any(|d| d == above), "the harness depends on {above}: {harness:?}");
    }
}

#[test]
fn every_crate_stays_under_six_thousand_lines() {
    for name in crates() {
        let mut files = Vec::new();
        rust_files(&crate_src(name), &mut files);
        let lines: usize = files.iter().map(|f| std::fs::read_to_string(f).unwrap().lines().count()).sum();
        assert!(lines > 100, "{name}: read only {lines} lines");
        assert!(lines < 6000, "{name}: src/ has {lines} lines; split it by concept");
    }
}
