//! The layer rule, checked on the source: every `crate::<module>` path in
//! src/ (uses, `use crate::{…}` groups, inline paths; comments and string
//! literals are ignored) is an edge between two top-level modules. An edge
//! may only point to the same layer or a lower one, and the edges between
//! top-level modules must not form a cycle. `cargo test --test
//! architecture -- --nocapture` prints the module map.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The rule of record, top layer first. A module may use modules of its
/// own layer (when no cycle results) and of the layers below it.
const LAYERS: &[(&str, &[&str])] = &[
    ("entry points", &["main", "cli", "lib", "fuzzing"]),
    ("assembly", &["app"]),
    (
        "listeners",
        &[
            "wfe",
            "admin",
            "console",
            "portal",
            "publish",
            "perspective",
        ],
    ),
    ("decisions", &["ra", "vetting", "billing"]),
    ("services", &["va", "ca", "sa", "mail"]),
    (
        "foundation",
        &["core", "acme", "jose", "config", "error", "metrics", "http"],
    ),
];

#[test]
fn imports_point_downward_and_form_no_cycle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    read_sources(&root, &root, &mut files);
    assert!(
        files.len() > 20,
        "found only {} files under src/",
        files.len()
    );
    let report = check(&files);
    println!("{}", report.module_map());
    let mut failures = Vec::new();
    if !report.unknown.is_empty() {
        failures.push(report.unknown.join("\n"));
    }
    if !report.upward.is_empty() {
        failures.push(format!(
            "imports that point to a higher layer:\n{}",
            report.upward.join("\n")
        ));
    }
    if !report.cycles.is_empty() {
        failures.push(format!(
            "cycles between top-level modules:\n{}",
            report.cycles.join("\n")
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Every `.rs` file under `dir` except src/bin/ (the tools are separate
/// crates that only use the library's public API), as (path relative to
/// src/, text).
fn read_sources(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut paths: Vec<PathBuf> = entries.map(|e| e.expect("dir entry").path()).collect();
    paths.sort();
    for path in paths {
        let rel = path
            .strip_prefix(root)
            .expect("under src/")
            .to_string_lossy()
            .replace('\\', "/");
        if path.is_dir() {
            if rel != "bin" {
                read_sources(root, &path, out);
            }
        } else if rel.ends_with(".rs") {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            out.push((rel, text));
        }
    }
}

/// One reference from a file of module `from` to module `to`.
#[derive(Debug, Clone)]
struct Edge {
    from: String,
    to: String,
    file: String,
    line: usize,
}

#[derive(Debug, Default)]
struct Report {
    edges: Vec<Edge>,
    /// `file:line: a (layer) uses b (higher layer)`.
    upward: Vec<String>,
    /// `a → b → a`, with where each step is.
    cycles: Vec<String>,
    /// Modules missing from `LAYERS`.
    unknown: Vec<String>,
}

impl Report {
    /// `a -> b, c` per module, for `--nocapture`.
    fn module_map(&self) -> String {
        let mut map: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for e in &self.edges {
            map.entry(&e.from).or_default().insert(&e.to);
        }
        let mut out = String::from("module map (top-level modules and what they use):\n");
        for (from, to) in map {
            let to: Vec<&str> = to.into_iter().collect();
            out.push_str(&format!("  {from} -> {}\n", to.join(", ")));
        }
        out
    }
}

fn check(files: &[(String, String)]) -> Report {
    let mut report = Report::default();
    for (path, text) in files {
        let from = module_of(path);
        for (line, to) in references(text) {
            if to != from {
                report.edges.push(Edge {
                    from: from.clone(),
                    to,
                    file: format!("src/{path}"),
                    line,
                });
            }
        }
    }
    let mut unknown = BTreeSet::new();
    for e in &report.edges {
        for m in [&e.from, &e.to] {
            if layer_of(m).is_none() && unknown.insert(m.clone()) {
                report.unknown.push(format!(
                    "module `{m}` ({}:{}) is in no layer: add it to LAYERS in tests/architecture.rs",
                    e.file, e.line
                ));
            }
        }
        if let (Some(f), Some(t)) = (layer_of(&e.from), layer_of(&e.to)) {
            if t < f {
                report.upward.push(format!(
                    "{}:{}: `{}` ({}) uses `{}` ({}), a higher layer",
                    e.file, e.line, e.from, LAYERS[f].0, e.to, LAYERS[t].0
                ));
            }
        }
    }
    report.cycles = cycles(&report.edges);
    report
}

/// src/main.rs → main, src/cli/** → cli, src/<m>.rs and src/<m>/** → m.
fn module_of(path: &str) -> String {
    let first = path.split('/').next().unwrap_or(path);
    first.strip_suffix(".rs").unwrap_or(first).to_owned()
}

/// Index into `LAYERS` (0 is the top).
fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, ms)| ms.contains(&module))
}

/// (line, top-level module) for every `crate::` path in the code.
fn references(text: &str) -> Vec<(usize, String)> {
    let code = blank_comments_and_strings(text);
    let bytes = code.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = code[from..].find("crate::") {
        let at = from + i;
        from = at + "crate::".len();
        // `crate` must be a whole word (not `my_crate::`).
        if at > 0 && is_ident_byte(bytes[at - 1]) {
            continue;
        }
        let rest = &code[from..];
        let trimmed = rest.trim_start();
        let offset = from + rest.len() - trimmed.len();
        if trimmed.starts_with('{') {
            for (pos, module) in group_heads(&code, offset) {
                out.push((line_at(&code, pos), module));
            }
        } else if let Some(module) = ident_at(trimmed) {
            out.push((line_at(&code, at), module.to_owned()));
        }
    }
    out
}

/// The first path segment of each item of the `{…}` group opening at
/// `open`: `{a, b::c, d::{e, f}}` gives a, b and d, with their offsets.
fn group_heads(code: &str, open: usize) -> Vec<(usize, String)> {
    let bytes = code.as_bytes();
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut expect_head = true;
    let mut i = open;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'{' => {
                depth += 1;
                if depth == 1 {
                    expect_head = true;
                }
            }
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            b',' if depth == 1 => expect_head = true,
            _ if depth == 1 && expect_head && is_ident_byte(b) => {
                if let Some(id) = ident_at(&code[i..]) {
                    if id != "self" {
                        heads.push((i, id.to_owned()));
                    }
                    expect_head = false;
                    i += id.len();
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    heads
}

fn ident_at(s: &str) -> Option<&str> {
    let end = s.bytes().position(|b| !is_ident_byte(b)).unwrap_or(s.len());
    (end > 0).then(|| &s[..end])
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn line_at(code: &str, pos: usize) -> usize {
    code[..pos].bytes().filter(|b| *b == b'\n').count() + 1
}

/// The text with comments, string and char literals replaced by spaces
/// (newlines kept), so that `crate::` in a doc comment or a message is no
/// edge and line numbers stay right.
fn blank_comments_and_strings(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = b.to_vec();
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut out[from..to] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    let mut i = 0;
    while i < b.len() {
        let end = if b[i..].starts_with(b"//") {
            b[i..]
                .iter()
                .position(|c| *c == b'\n')
                .map_or(b.len(), |n| i + n)
        } else if b[i..].starts_with(b"/*") {
            block_comment_end(b, i)
        } else if let Some(end) = raw_string_end(b, i) {
            end
        } else if b[i] == b'"' {
            string_end(b, i)
        } else if b[i] == b'\'' {
            // A lifetime (`'a`) is left as it is.
            char_literal_end(b, i).unwrap_or(i + 1)
        } else {
            i += 1;
            continue;
        };
        blank(&mut out, i, end);
        i = end.max(i + 1);
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn block_comment_end(b: &[u8], start: usize) -> usize {
    let mut depth = 0;
    let mut i = start;
    while i + 1 < b.len() {
        if b[i..].starts_with(b"/*") {
            depth += 1;
            i += 2;
        } else if b[i..].starts_with(b"*/") {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    b.len()
}

/// `r"…"`, `r#"…"#`, `br"…"` starting at `start`, if one does.
fn raw_string_end(b: &[u8], start: usize) -> Option<usize> {
    if start > 0 && is_ident_byte(b[start - 1]) {
        return None;
    }
    let mut i = start;
    if b.get(i) == Some(&b'b') {
        i += 1;
    }
    if b.get(i) != Some(&b'r') {
        return None;
    }
    i += 1;
    let hashes = b[i..].iter().take_while(|c| **c == b'#').count();
    i += hashes;
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let mut closing = vec![b'"'];
    closing.extend(std::iter::repeat_n(b'#', hashes));
    let body = i + 1;
    let n = b[body..]
        .windows(closing.len())
        .position(|w| w == closing)?;
    Some(body + n + closing.len())
}

fn string_end(b: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    b.len()
}

/// `'x'`, `'\n'`, `'\''`, `'\u{1F600}'`, or a multi-byte char; None for a
/// lifetime (`'a`).
fn char_literal_end(b: &[u8], start: usize) -> Option<usize> {
    let rest = &b[start + 1..];
    if rest.first() == Some(&b'\\') {
        let close = rest.iter().skip(2).position(|c| *c == b'\'')?;
        return Some(start + 1 + 2 + close + 1);
    }
    // One UTF-8 character, then the closing quote.
    let len = match rest.first()? {
        c if *c < 0x80 => 1,
        c if *c >= 0xF0 => 4,
        c if *c >= 0xE0 => 3,
        _ => 2,
    };
    (rest.get(len) == Some(&b'\'')).then_some(start + 1 + len + 1)
}

/// One cycle per strongly connected group of modules, as a path that
/// returns to its start, each step with the place that makes it.
fn cycles(edges: &[Edge]) -> Vec<String> {
    let mut graph: BTreeMap<&str, BTreeMap<&str, &Edge>> = BTreeMap::new();
    for e in edges {
        graph.entry(&e.from).or_default().entry(&e.to).or_insert(e);
    }
    let mut reported: BTreeSet<&str> = BTreeSet::new();
    let mut out = Vec::new();
    let nodes: Vec<&str> = graph.keys().copied().collect();
    for start in nodes {
        if reported.contains(start) {
            continue;
        }
        if let Some(path) = path_back(&graph, start) {
            reported.extend(path.iter().map(|e| e.from.as_str()));
            let names: Vec<&str> = path
                .iter()
                .map(|e| e.from.as_str())
                .chain([start])
                .collect();
            let steps: Vec<String> = path
                .iter()
                .map(|e| format!("  {} -> {} at {}:{}", e.from, e.to, e.file, e.line))
                .collect();
            out.push(format!("{}\n{}", names.join(" -> "), steps.join("\n")));
        }
    }
    out
}

/// A shortest path of edges from `start` back to `start` (breadth first).
fn path_back<'a>(
    graph: &BTreeMap<&'a str, BTreeMap<&'a str, &'a Edge>>,
    start: &'a str,
) -> Option<Vec<&'a Edge>> {
    let mut came_by: BTreeMap<&str, &Edge> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        for (next, edge) in graph.get(node).into_iter().flatten() {
            if *next == start {
                let mut path = vec![*edge];
                let mut at = node;
                while at != start {
                    let e = came_by[at];
                    path.push(e);
                    at = &e.from;
                }
                path.reverse();
                return Some(path);
            }
            if !came_by.contains_key(next) {
                came_by.insert(next, edge);
                queue.push_back(next);
            }
        }
    }
    None
}

/// The checker itself, on made-up sources.
mod checker {
    use super::*;

    fn files(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect()
    }

    #[test]
    fn an_upward_use_is_reported_with_file_and_line() {
        let r = check(&files(&[(
            "sa/orders.rs",
            "//! Orders.\n\nuse crate::core::Order;\nuse crate::wfe::urls::Urls;\n",
        )]));
        assert_eq!(r.upward.len(), 1, "{:?}", r.upward);
        assert!(
            r.upward[0].starts_with("src/sa/orders.rs:4: `sa` (services) uses `wfe`"),
            "{}",
            r.upward[0]
        );
        assert!(r.cycles.is_empty());
    }

    #[test]
    fn a_two_module_cycle_is_reported() {
        let r = check(&files(&[
            ("ra/mod.rs", "use crate::vetting::Vetting;\n"),
            (
                "vetting/organization.rs",
                "fn f() { crate::ra::policy::x(); }\n",
            ),
        ]));
        assert!(r.upward.is_empty(), "same layer: {:?}", r.upward);
        assert_eq!(r.cycles.len(), 1, "{:?}", r.cycles);
        let c = &r.cycles[0];
        assert!(c.starts_with("ra -> vetting -> ra"), "{c}");
        assert!(c.contains("src/vetting/organization.rs:1"), "{c}");
    }

    #[test]
    fn grouped_multi_line_uses_and_inline_paths_are_parsed() {
        let text = "use crate::{\n    acme::Identifier,\n    error::{Error, Result},\n    self,\n};\nfn f() { let t = crate::sa::now(); }\n";
        let refs = references(text);
        assert_eq!(
            refs,
            vec![
                (2, "acme".to_owned()),
                (3, "error".to_owned()),
                (6, "sa".to_owned())
            ]
        );
    }

    #[test]
    fn comments_and_strings_are_not_edges() {
        let text = "/// See [`crate::wfe`].\n/* crate::app */\nlet s = \"crate::admin\";\nlet r = r#\"crate::app\"#;\nlet c = '\"'; use crate::core::X;\nfn g<'a>(x: &'a str) {}\n";
        assert_eq!(references(text), vec![(5, "core".to_owned())]);
    }

    #[test]
    fn files_map_to_top_level_modules() {
        assert_eq!(module_of("main.rs"), "main");
        assert_eq!(module_of("cli/org.rs"), "cli");
        assert_eq!(module_of("metrics.rs"), "metrics");
        assert_eq!(module_of("sa/mod.rs"), "sa");
    }

    #[test]
    fn an_unknown_module_is_a_failure() {
        let r = check(&files(&[("ledger/mod.rs", "use crate::core::X;\n")]));
        assert_eq!(r.unknown.len(), 1);
        assert!(r.unknown[0].contains("`ledger`"), "{}", r.unknown[0]);
    }
}
