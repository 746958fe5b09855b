//! The fuzz targets' corpora as ordinary tests on stable: every file
//! under fuzz/corpus/<target>/ and fuzz/regressions/<target>/ goes
//! through the same function the `cargo fuzz` target calls
//! (`trustgate::fuzzing`), whose assertions then hold or panic here.

use std::path::{Path, PathBuf};

use trustgate::fuzzing::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files of `dir`, sorted; none when it does not exist.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_corpus_and_regression_input_passes_its_target() {
    for (name, run) in TARGETS {
        let seeds = inputs(&fuzz_dir().join("corpus").join(name));
        assert!(
            seeds.len() >= 2,
            "fuzz/corpus/{name} has {} seeds",
            seeds.len()
        );
        let regressions = inputs(&fuzz_dir().join("regressions").join(name));
        let mut accepted = Vec::new();
        for path in seeds.iter().chain(&regressions) {
            let data = std::fs::read(path).expect("readable input");
            let outcome = std::panic::catch_unwind(|| run(&data));
            assert!(outcome.is_ok(), "{name}: {} fails", path.display());
            if outcome.unwrap_or_default() {
                accepted.push(
                    path.file_name()
                        .expect("a file")
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
        // The seeds reach past the parsers, or the fuzzer starts shallow.
        for seed in must_pass(name) {
            assert!(
                accepted.iter().any(|a| a == seed),
                "{name}: seed {seed} is refused; accepted: {accepted:?}"
            );
        }
    }
}

/// Seeds each target must accept: the ones the harness signs among them
/// show that its signing gets inputs past the signature checks.
fn must_pass(target: &str) -> &'static [&'static str] {
    match target {
        "jws" => &["kid-new-order", "kid-post-as-get", "jwk-new-account"],
        "jwk" => &["ed25519", "rsa-2048", "p256", "p384", "rfc7638"],
        "eab" => &["hs256", "hs512", "none-alg"],
        "csr" => &["csr-ec", "csr-cn", "csr-p384", "csr-ec-info"],
        "caa" => &[
            "issue-us",
            "params",
            "critical-unknown",
            "servfail",
            "empty",
        ],
        "http01_redirect" => &["loc-00", "loc-01", "loc-02", "loc-03", "loc-04"],
        "tlsalpn01" => &["ok"],
        "acme_json" => &[
            "new-account",
            "new-order",
            "finalize",
            "revoke",
            "key-change",
        ],
        "admin_json" => &[
            "organization",
            "check-existence",
            "eab-create",
            "cert-revoke",
        ],
        "names" => &["n-00", "n-01", "n-02", "n-03", "n-04", "n-10", "n-12"],
        _ => &[],
    }
}

/// Each target has its cargo fuzz binary, and no binary lacks a target.
#[test]
fn fuzz_targets_match_the_table() {
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).expect("fuzz/Cargo.toml");
    let bins = manifest.matches("[[bin]]").count();
    assert_eq!(bins, TARGETS.len(), "fuzz/Cargo.toml [[bin]] entries");
    for (name, _) in TARGETS {
        let source = fuzz_dir().join("fuzz_targets").join(format!("{name}.rs"));
        let text = std::fs::read_to_string(&source).expect("a fuzz target source");
        assert!(
            text.contains(&format!("trustgate::fuzzing::{name}(")),
            "{} does not call trustgate::fuzzing::{name}",
            source.display()
        );
        assert!(manifest.contains(&format!("name = \"{name}\"")), "{name}");
    }
}
