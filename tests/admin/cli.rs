//! The operator CLI: the same vetting service, from the real binary.

use std::path::Path;
use std::process::{Command, Output};

struct Cli {
    dir: tempfile::TempDir,
    config: std::path::PathBuf,
    /// With TEST_DATABASE_URL: the PostgreSQL database, dropped last.
    _database: Option<crate::acme::ScratchDatabase>,
}

/// A staff member as `staff add` prints them, with an API token once
/// `token` made one.
#[derive(Clone, Default)]
struct Member {
    name: String,
    password: String,
    totp_secret: String,
    token: String,
}

/// The value after `label` on its line of `out`.
fn field(out: &str, label: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(label))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {label} in {out}"))
        .to_owned()
}

impl Cli {
    fn new() -> Cli {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("trustgate.toml");
        let data = dir.path().join("data");
        let mut text = format!("data_dir = {:?}\n", data.to_str().expect("utf-8 path"));
        let database = crate::acme::ScratchDatabase::create();
        if let Some(db) = &database {
            text.push_str(&format!("[database]\nurl = {:?}\n", db.url));
        }
        std::fs::write(&config, text).expect("config");
        Cli {
            dir,
            config,
            _database: database,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_trustgate"));
        cmd.arg("--config")
            .arg(&self.config)
            .args(args)
            .current_dir(self.dir.path())
            .env("USER", "operator")
            .env_remove("SUDO_USER")
            .env_remove("TRUSTGATE_STAFF")
            .env_remove("TRUSTGATE_STAFF_TOKEN")
            .env_remove("TRUSTGATE_STAFF_PASSWORD")
            .env_remove("TRUSTGATE_STAFF_TOTP")
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::null());
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("running trustgate")
    }

    /// As `who`, with their API token.
    fn run_as(&self, who: &Member, args: &[&str]) -> Output {
        self.command(args)
            .env("TRUSTGATE_STAFF_TOKEN", &who.token)
            .output()
            .expect("running trustgate")
    }

    /// As `who`, logging in with their password and `code`.
    fn run_login(&self, who: &Member, code: &str, args: &[&str]) -> Output {
        self.command(args)
            .env("TRUSTGATE_STAFF", &who.name)
            .env("TRUSTGATE_STAFF_PASSWORD", &who.password)
            .env("TRUSTGATE_STAFF_TOTP", code)
            .output()
            .expect("running trustgate")
    }

    #[track_caller]
    fn ok(&self, args: &[&str]) -> String {
        success(args, self.run(args))
    }

    #[track_caller]
    fn ok_as(&self, who: &Member, args: &[&str]) -> String {
        success(args, self.run_as(who, args))
    }

    /// `staff add` (from the host when `by` is None) and, with a login of
    /// the new member for the first, a token made by `by` or themselves.
    fn enrol(&self, by: Option<&Member>, name: &str, roles: &str) -> Member {
        let args = ["staff", "add", name, "--roles", roles];
        let out = match by {
            None => self.ok(&args),
            Some(by) => self.ok_as(by, &args),
        };
        let mut m = Member {
            name: name.into(),
            password: field(&out, "one-time password:"),
            totp_secret: field(&out, "TOTP secret:"),
            token: String::new(),
        };
        let create = ["staff", "token", "create", name, "--label", "cli test"];
        let out = match by {
            None => success(&create, self.run_login(&m, &code(&m, 0), &create)),
            Some(by) => self.ok_as(by, &create),
        };
        m.token = field(&out, "token:");
        m
    }

    /// The audit events of the CLI's database, oldest first.
    fn audit(&self) -> Vec<trustgate::sa::audit::AuditEvent> {
        let cfg = trustgate::config::Config::load(Some(&self.config)).expect("config");
        let store = trustgate::app::open_store(&cfg).expect("store");
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let mut events = rt
            .block_on(store.read(|c| trustgate::sa::audit::list(c, None, 1000)))
            .expect("audit");
        events.reverse();
        events
    }
}

#[track_caller]
fn success(args: &[&str], out: Output) -> String {
    assert!(
        out.status.success(),
        "trustgate {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[track_caller]
fn failure(out: Output) -> String {
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The member's TOTP code `steps` steps from now.
fn code(m: &Member, steps: i64) -> String {
    let at = time::OffsetDateTime::now_utc() + time::Duration::seconds(30 * steps);
    trustgate::vetting::staff::totp_code(&m.totp_secret, at).expect("code")
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
    let lead = cli.enrol(None, "lead", "view,vet,approve");
    let alice = cli.enrol(Some(&lead), "alice", "vet");
    let bob = cli.enrol(Some(&lead), "bob", "vet,approve");
    let carol = cli.enrol(Some(&lead), "carol", "approve");
    // Bob's second token is still Bob.
    let bob2 = Member {
        token: field(
            &cli.ok_as(
                &bob,
                &["staff", "token", "create", "bob", "--label", "laptop"],
            ),
            "token:",
        ),
        ..bob.clone()
    };
    let id = cli
        .ok_as(
            &alice,
            &[
                "org",
                "create",
                "--file",
                &conf("organization.example.json"),
            ],
        )
        .trim()
        .to_owned();
    assert_eq!(id, "1");
    let checks = [
        ("existence", &alice),
        ("phone_intent", &alice),
        ("domain_scope", &bob),
    ];
    for (kind, who) in checks {
        let file = conf(&format!("checks/{kind}.json"));
        let out = cli.ok_as(who, &["org", "check", &id, "--file", &file]);
        assert!(out.contains(kind), "{out}");
    }
    // Four-eyes compares identities: bob recorded a check, whichever
    // token he approves with.
    for who in [&bob, &bob2] {
        let err = failure(cli.run_as(who, &["org", "approve", &id]));
        assert!(err.contains("four-eyes"), "{err}");
    }
    // A vetter without the approve role cannot approve at all.
    let err = failure(cli.run_as(&alice, &["org", "approve", &id]));
    assert!(err.contains("approve role"), "{err}");
    // No identity, no change; a typed name is not one.
    let err = failure(cli.run(&["org", "approve", &id]));
    assert!(err.contains("--staff"), "{err}");
    assert!(failure(cli.run(&["org", "approve", &id, "--as", "carol"])).contains("--as"));
    let out = cli.ok_as(&carol, &["org", "approve", &id]);
    assert!(out.contains("approved"), "{out}");

    let list = cli.ok(&["org", "list", "--status", "approved"]);
    assert!(list.starts_with("1\tapproved\tov\t例示株式会社"), "{list}");
    let shown: serde_json::Value =
        serde_json::from_str(&cli.ok(&["org", "show", &id])).expect("JSON");
    assert_eq!(shown["organization"]["approved_by"], "staff:carol#4");
    assert_eq!(shown["blockers"], serde_json::json!([]));
    assert!(cli.ok(&["org", "blocked"]).is_empty());

    let eab = cli.ok_as(&alice, &["eab", "create", "--org", &id, "--note", "web01"]);
    assert!(eab.contains("key_id:   kid-"), "{eab}");
    assert!(eab.contains("hmac_key: "), "{eab}");

    let audit = cli.ok(&["org", "audit", &id]);
    let lines: Vec<&str> = audit.lines().collect();
    assert_eq!(lines.len(), 6, "{audit}");
    assert!(lines[0].contains("staff:alice#2\teab.create"), "{audit}");
    assert!(
        lines[1].contains("staff:carol#4\torganization.approve"),
        "{audit}"
    );
    assert!(lines[2].contains("staff:bob#3\tcheck.record"), "{audit}");
    assert!(
        lines[5].contains("staff:alice#2\torganization.create"),
        "{audit}"
    );
    // Each CLI action names the operating-system user too.
    let events = cli.audit();
    let approve = events
        .iter()
        .find(|e| e.action == "organization.approve")
        .expect("approval audited");
    assert_eq!(
        approve.details["os_user"], "operator",
        "{:?}",
        approve.details
    );

    // The other transitions and edit.
    let out = cli.ok_as(&carol, &["org", "suspend", &id, "--reason", "支払遅延"]);
    assert!(out.contains("suspended"), "{out}");
    assert!(
        !cli.run_as(&carol, &["org", "reinstate", &id])
            .status
            .success(),
        "needs --reason"
    );
    let out = cli.ok_as(
        &alice,
        &[
            "org",
            "edit",
            &id,
            "--file",
            &conf("organization.example.json"),
        ],
    );
    assert!(out.contains("pending"), "{out}");
    let out = cli.ok_as(&carol, &["org", "reject", &id, "--reason", "確認できず"]);
    assert!(out.contains("rejected"), "{out}");
    let out = cli.ok_as(&carol, &["org", "reopen", &id, "--reason", "再申請"]);
    assert!(out.contains("pending"), "{out}");
    let old = cli.ok_as(
        &alice,
        &[
            "org",
            "check",
            &id,
            "--file",
            &conf("checks/existence.json"),
            "--performed-at",
            "2026-01-05T10:00:00+09:00",
        ],
    );
    assert!(old.contains("passed"), "{old}");
    let bad = cli.run_as(
        &alice,
        &[
            "org",
            "check",
            &id,
            "--file",
            &conf("organization.example.json"),
        ],
    );
    assert!(!bad.status.success());
}

#[test]
fn staff_are_added_listed_reset_and_disabled() {
    let cli = Cli::new();
    let out = cli.ok(&["staff", "add", "root", "--roles", "view,approve"]);
    let root = Member {
        name: "root".into(),
        password: field(&out, "one-time password:"),
        totp_secret: field(&out, "TOTP secret:"),
        token: String::new(),
    };
    assert!(
        out.contains("otpauth://totp/trustgate:root?secret="),
        "{out}"
    );
    assert!(out.contains(&root.totp_secret), "{out}");
    // Once staff exist, the host alone adds nobody.
    let err = failure(cli.run(&["staff", "add", "eve", "--roles", "approve"]));
    assert!(err.contains("--staff"), "{err}");

    // Login: a wrong code, a wrong password, then the right ones; the
    // same code does not log in twice.
    let create = ["staff", "token", "create", "root", "--label", "ops"];
    let err = failure(cli.run_login(&root, &code(&root, 5), &create));
    assert!(err.contains("login failed"), "{err}");
    let wrong = Member {
        password: "not it".into(),
        ..root.clone()
    };
    assert!(failure(cli.run_login(&wrong, &code(&root, 0), &create)).contains("login failed"));
    let now = code(&root, 0);
    let out = success(&create, cli.run_login(&root, &now, &create));
    let root = Member {
        token: field(&out, "token:"),
        ..root
    };
    let err = failure(cli.run_login(&root, &now, &create));
    assert!(err.contains("used already"), "{err}");

    // The one-time password is replaced (a login, not a token).
    let err = failure(cli.run_as(&root, &["staff", "password"]));
    assert!(err.contains("--staff"), "{err}");
    let changed = cli
        .command(&["staff", "password"])
        .env("TRUSTGATE_STAFF", "root")
        .env("TRUSTGATE_STAFF_PASSWORD", &root.password)
        .env("TRUSTGATE_STAFF_TOTP", code(&root, 1))
        .env("TRUSTGATE_STAFF_NEW_PASSWORD", "a much longer secret")
        .output()
        .expect("running trustgate");
    assert!(success(&["staff", "password"], changed).contains("password changed for root"));
    assert!(cli
        .ok(&["staff", "list"])
        .contains("1\troot\tview,approve\tactive"));
    let viewer = cli.enrol(Some(&root), "viewer", "view");
    let list = cli.ok(&["staff", "list"]);
    assert!(
        list.contains("2\tviewer\tview\tone-time password"),
        "{list}"
    );
    assert!(!list.contains(&root.password), "{list}");
    // A viewer manages nobody else.
    let err = failure(cli.run_as(&viewer, &["staff", "disable", "root"]));
    assert!(err.contains("approve role"), "{err}");

    // Tokens: listed without the token, revoked, then refused.
    let tokens = cli.ok(&["staff", "token", "list", "viewer"]);
    assert!(tokens.starts_with("2\tcli test\tactive\t"), "{tokens}");
    assert!(!tokens.contains(&viewer.token));
    let second = field(
        &cli.ok_as(
            &viewer,
            &["staff", "token", "create", "viewer", "--label", "two"],
        ),
        "token:",
    );
    let out = cli.ok_as(&root, &["staff", "token", "revoke", "2"]);
    assert!(out.contains("revoked token 2"), "{out}");
    let err = failure(cli.run_as(&viewer, &["staff", "token", "revoke", "3"]));
    assert!(err.contains("revoked"), "{err}");
    assert!(cli
        .ok(&["staff", "token", "list", "viewer"])
        .contains("2\tcli test\trevoked"));

    // Reset: a new password and secret; the old password no longer logs in.
    let out = cli.ok_as(&root, &["staff", "reset", "viewer"]);
    let fresh = Member {
        name: "viewer".into(),
        password: field(&out, "one-time password:"),
        totp_secret: field(&out, "TOTP secret:"),
        token: second.clone(),
    };
    assert_ne!(fresh.password, viewer.password);
    let args = ["staff", "token", "create", "viewer", "--label", "three"];
    let stale = Member {
        totp_secret: fresh.totp_secret.clone(),
        ..viewer.clone()
    };
    assert!(failure(cli.run_login(&stale, &code(&fresh, 0), &args)).contains("login failed"));
    success(&args, cli.run_login(&fresh, &code(&fresh, 0), &args));

    // Disabled: the tokens stop working.
    let out = cli.ok_as(&root, &["staff", "disable", "viewer"]);
    assert!(out.contains("disabled viewer"), "{out}");
    let err = failure(cli.run_as(
        &fresh,
        &["staff", "token", "create", "viewer", "--label", "x"],
    ));
    assert!(err.contains("disabled"), "{err}");
    assert!(cli
        .ok(&["staff", "list"])
        .contains("2\tviewer\tview\tdisabled"));

    // Every change is audited as the identity that made it.
    let events = cli.audit();
    let actions: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.actor.as_str(), e.action.as_str()))
        .collect();
    assert_eq!(actions[0], ("host", "staff.add"), "{actions:?}");
    assert!(
        actions.contains(&("staff:root#1", "staff.disable")),
        "{actions:?}"
    );
    assert!(
        actions.contains(&("staff:root#1", "staff.reset")),
        "{actions:?}"
    );
    assert!(events.iter().all(|e| e.details["os_user"] == "operator"));
}

#[test]
fn the_example_files_are_valid() {
    use trustgate::vetting::organization::OrganizationData;
    let org: OrganizationData =
        serde_json::from_value(crate::support::organization()).expect("organization example");
    assert!(org.problems().is_empty(), "{:?}", org.problems());
    let mut kinds = Vec::new();
    for entry in std::fs::read_dir(conf("checks")).expect("conf/checks") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("read");
        let (record, at) =
            trustgate::admin::parse_check_submission(serde_json::from_str(&text).expect("JSON"))
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let today = time::OffsetDateTime::now_utc().date();
        assert!(record.problems(today).is_empty(), "{}", path.display());
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
            "ev_authority",
            "ev_business_category",
            "ev_communication",
            "ev_denied_party_screening",
            "ev_operational_existence",
            "ev_place_of_business",
            "ev_registration",
            "existence",
            "phone_intent"
        ]
    );
}

#[test]
fn deactivating_an_account_names_what_is_wrong() {
    let cli = Cli::new();
    cli.ok(&["migrate"]);
    let carol = cli.enrol(None, "carol", "vet");
    let out = cli.run_as(&carol, &["account", "deactivate", "7", "--reason", "abuse"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no account 7"), "{err}");
    let out = cli.run_as(&carol, &["account", "deactivate", "7", "--reason", " "]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs a reason"), "{err}");
}

#[test]
fn an_operator_shows_and_overrides_an_organizations_limits() {
    let cli = Cli::new();
    let carol = cli.enrol(None, "carol", "vet,approve");
    let id = cli
        .ok_as(
            &carol,
            &[
                "org",
                "create",
                "--file",
                &conf("organization.example.json"),
            ],
        )
        .trim()
        .to_owned();
    let shown: serde_json::Value = serde_json::from_str(&cli.ok(&["org", "limits", &id])).unwrap();
    assert_eq!(
        shown["effective"]["new_orders_per_account"]["count"], 300,
        "{shown}"
    );
    let file = cli.dir.path().join("limits.json");
    std::fs::write(
        &file,
        r#"{"new_orders_per_account": {"count": 3000, "period_secs": 10800}}"#,
    )
    .unwrap();
    let file = file.to_str().unwrap();
    let refused = cli.run_as(&carol, &["org", "limits", &id, "--file", file]);
    assert!(!refused.status.success(), "--file needs --reason");
    let err = failure(cli.run(&["org", "limits", &id, "--file", file, "--reason", "x"]));
    assert!(
        err.contains("--staff"),
        "overrides need a staff member: {err}"
    );
    let set: serde_json::Value = serde_json::from_str(&cli.ok_as(
        &carol,
        &[
            "org",
            "limits",
            &id,
            "--file",
            file,
            "--reason",
            "migration",
        ],
    ))
    .unwrap();
    assert_eq!(set["overrides"]["new_orders_per_account"]["count"], 3000);
    let audit = cli.ok(&["org", "audit", &id]);
    assert!(audit.contains("organization.limits"), "{audit}");
    assert!(
        audit.contains("staff:carol#1\torganization.limits"),
        "{audit}"
    );
}
