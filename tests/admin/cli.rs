//! The operator CLI: the same vetting service, from the real binary.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::sha256_hex;

struct Cli {
    dir: tempfile::TempDir,
    config: std::path::PathBuf,
}

impl Cli {
    fn new() -> Cli {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("trustgate.toml");
        let data = dir.path().join("data");
        std::fs::write(
            &config,
            format!("data_dir = {:?}\n", data.to_str().expect("utf-8 path")),
        )
        .expect("config");
        Cli { dir, config }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_trustgate"))
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .current_dir(self.dir.path())
            .env("USER", "operator")
            .env_remove("SUDO_USER")
            .env("RUST_LOG", "warn")
            .output()
            .expect("running trustgate")
    }

    #[track_caller]
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "trustgate {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }
}

fn conf(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("conf")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

#[test]
fn an_operator_vets_and_approves_from_the_cli() {
    let cli = Cli::new();
    let id = cli
        .ok(&[
            "org",
            "create",
            "--file",
            &conf("organization.example.json"),
        ])
        .trim()
        .to_owned();
    assert_eq!(id, "1");
    let checks = [
        ("existence", "alice"),
        ("phone_intent", "alice"),
        ("domain_scope", "bob"),
    ];
    for (kind, who) in checks {
        let file = conf(&format!("checks/{kind}.json"));
        let out = cli.ok(&["org", "check", &id, "--file", &file, "--as", who]);
        assert!(out.contains(kind), "{out}");
    }
    // Four-eyes: bob recorded a check.
    let refused = cli.run(&["org", "approve", &id, "--as", "bob"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("four-eyes"));
    // `--as` also goes before the subcommand.
    let out = cli.ok(&["org", "--as", "carol", "approve", &id]);
    assert!(out.contains("approved"), "{out}");

    let list = cli.ok(&["org", "list", "--status", "approved"]);
    assert!(list.starts_with("1\tapproved\tov\t例示株式会社"), "{list}");
    let shown: serde_json::Value =
        serde_json::from_str(&cli.ok(&["org", "show", &id])).expect("JSON");
    assert_eq!(shown["organization"]["approved_by"], "carol");
    assert_eq!(shown["blockers"], serde_json::json!([]));
    assert!(cli.ok(&["org", "blocked"]).is_empty());

    let eab = cli.ok(&["eab", "create", "--org", &id, "--note", "web01"]);
    assert!(eab.contains("key_id:   kid-"), "{eab}");
    assert!(eab.contains("hmac_key: "), "{eab}");

    let audit = cli.ok(&["org", "audit", &id]);
    let lines: Vec<&str> = audit.lines().collect();
    assert_eq!(lines.len(), 6, "{audit}");
    assert!(lines[0].contains("cli:operator\teab.create"), "{audit}");
    assert!(lines[1].contains("carol\torganization.approve"), "{audit}");
    assert!(lines[2].contains("bob\tcheck.record"), "{audit}");
    assert!(
        lines[5].contains("cli:operator\torganization.create"),
        "{audit}"
    );

    // The other transitions and edit.
    let out = cli.ok(&[
        "org",
        "suspend",
        &id,
        "--reason",
        "支払遅延",
        "--as",
        "carol",
    ]);
    assert!(out.contains("suspended"), "{out}");
    assert!(
        !cli.run(&["org", "reinstate", &id]).status.success(),
        "needs --reason"
    );
    let out = cli.ok(&[
        "org",
        "edit",
        &id,
        "--file",
        &conf("organization.example.json"),
    ]);
    assert!(out.contains("pending"), "{out}");
    let out = cli.ok(&[
        "org",
        "reject",
        &id,
        "--reason",
        "確認できず",
        "--as",
        "carol",
    ]);
    assert!(out.contains("rejected"), "{out}");
    let out = cli.ok(&["org", "reopen", &id, "--reason", "再申請", "--as", "carol"]);
    assert!(out.contains("pending"), "{out}");
    let old = cli.ok(&[
        "org",
        "check",
        &id,
        "--file",
        &conf("checks/existence.json"),
        "--performed-at",
        "2026-01-05T10:00:00+09:00",
    ]);
    assert!(old.contains("passed"), "{old}");
    let bad = cli.run(&[
        "org",
        "check",
        &id,
        "--file",
        &conf("organization.example.json"),
    ]);
    assert!(!bad.status.success());
}

#[test]
fn staff_token_prints_a_token_and_its_hash() {
    let cli = Cli::new();
    let out = cli.ok(&["staff", "token"]);
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
            .unwrap_or_else(|| panic!("{name} in {out}"))
            .to_owned()
    };
    let token = field("token:");
    let hash = field("token_sha256:");
    assert_eq!(token.len(), 43, "256 bits, base64url without padding");
    assert_eq!(hash, sha256_hex(&token));
    assert_ne!(
        token,
        field_of(&cli.ok(&["staff", "token"])),
        "fresh each time"
    );
}

fn field_of(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("token:"))
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

#[test]
fn the_example_files_are_valid() {
    use trustgate::vetting::organization::OrganizationData;
    let org: OrganizationData =
        serde_json::from_value(crate::support::organization()).expect("organization example");
    assert_eq!(org.problems(), Vec::<String>::new());
    let mut kinds = Vec::new();
    for entry in std::fs::read_dir(conf("checks")).expect("conf/checks") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("read");
        let (record, at) =
            trustgate::admin::parse_check_submission(serde_json::from_str(&text).expect("JSON"))
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(record.problems().is_empty(), "{}", path.display());
        assert!(record.passed() && at.is_none());
        assert_eq!(
            path.file_stem().and_then(|s| s.to_str()),
            Some(record.kind().as_str())
        );
        kinds.push(record.kind().as_str());
    }
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        [
            "domain_scope",
            "ev_business_category",
            "ev_registration",
            "existence",
            "phone_intent"
        ]
    );
}
