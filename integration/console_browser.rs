//! The staff console in real headless Chromium, driven through WebDriver
//! by Python selenium (`integration/console/browser.py`, in the test
//! venv), against the real `trustgate serve`: a vetter and a viewer
//! enrolled with `trustgate staff add` log in with their password and a
//! TOTP code computed from the secret the CLI printed, and replace the
//! one-time password first; the vetter sees the
//! organization entered from `conf/organization.example.json` in the
//! queue with its missing checks, records them with the check forms and
//! makes an EAB credential (its key and certbot line shown once); an
//! approver approves, and the audit trail names both; the viewer sees no approve button, and
//! forged posts (no CSRF token; the viewer's own token) are refused with
//! 403 pages; logout ends the session (back → login). Between approval
//! and logout, certbot obtains a certificate with the credential the page
//! showed (the script hands it over on stdout and waits on stdin); the
//! approver finds it on the organization's page and in the search, sees
//! its evidence, is refused without a reason, revokes it with one, and
//! the audit trail names the vetter and the approver for each step.
//! axe-core (npm, in `integration/console/node_modules`) runs in the
//! login, queue, organization, credential and certificate pages: no
//! serious or critical violation. With
//! `TRUSTGATE_CONSOLE_SCREENSHOTS=DIR` the pages are saved there as PNG.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::certbot::Certbot;
use crate::common::pkilint::venv_bin;
use crate::common::staff::{Eab, LEGAL_NAME};
use crate::common::TestServer;

/// The name certbot asks for, in the organization's domain.
const NAME: &str = "shop.example.jp";

/// `trustgate staff add NAME --roles ROLES` as the approver: the member's
/// one-time password and TOTP secret, as the CLI printed them.
pub(crate) fn enrol(server: &TestServer, name: &str, roles: &str) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_trustgate"))
        .arg("--config")
        .arg(server.config_path())
        .args(["staff", "add", name, "--roles", roles])
        .env("TRUSTGATE_STAFF_TOKEN", server.staff().approver_token())
        .output()
        .expect("running trustgate staff add");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "staff add {name}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let field = |label: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(label))
            .unwrap_or_else(|| panic!("no {label} in {text}"))
            .trim()
            .to_owned()
    };
    serde_json::json!({
        "name": name,
        "password": field("one-time password:"),
        "totp_secret": field("TOTP secret:"),
    })
}

/// `conf/organization.example.json` for `domains` as the console's form
/// takes it: (field, value) by JSON path, the domains a line each.
pub(crate) fn application(domains: &[&str]) -> Vec<(String, String)> {
    fn walk(path: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(&p, v, out);
                }
            }
            serde_json::Value::Null => {}
            serde_json::Value::Bool(b) => {
                out.push((path.into(), if *b { "on" } else { "" }.into()))
            }
            serde_json::Value::String(s) => out.push((path.into(), s.clone())),
            other => out.push((path.into(), other.to_string())),
        }
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/organization.example.json");
    let mut data: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).expect("the example application"))
            .expect("the example application is JSON");
    let obj = data.as_object_mut().expect("an object");
    obj.remove("domains");
    assert_eq!(
        obj["legal_name"], LEGAL_NAME,
        "conf/organization.example.json"
    );
    let mut out = Vec::new();
    walk("", &data, &mut out);
    out.push(("domains".into(), domains.join("\n")));
    out
}

/// axe-core's script, installed by npm into the directory this test owns.
pub(crate) fn axe_script() -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("integration/console");
    let axe = dir.join("node_modules/axe-core/axe.min.js");
    if !axe.is_file() {
        let status = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--no-package-lock"])
            .current_dir(&dir)
            .status()
            .expect("running npm (Debian npm) to install axe-core");
        assert!(status.success(), "npm install axe-core failed");
    }
    assert!(axe.is_file(), "{} missing after npm install", axe.display());
    axe
}

#[test]
fn staff_work_the_console_in_chromium() {
    let server = TestServer::start();
    // Vets and may approve: refused by the four-eyes rule what they vetted.
    let vetter = enrol(&server, "desk-vetter", "view,vet,approve");
    let viewer = enrol(&server, "desk-viewer", "view");
    let approver = enrol(&server, "desk-approver", "view,approve");
    let screenshots = std::env::var("TRUSTGATE_CONSOLE_SCREENSHOTS").ok();
    let args = serde_json::json!({
        "origin": server.staff().admin_origin(),
        "application": application(&["example.jp"]),
        "legal_name": LEGAL_NAME,
        "vetter": vetter,
        "viewer": viewer,
        "approver": approver,
        "axe": axe_script(),
        "screenshots": screenshots,
        // The 403 pages' headings (Japanese: the browser asks for ja).
        "csrf_refused": "フォームの確認トークンが無効です。ページを再読み込みしてください。",
        "forbidden": "この操作の権限がありません。",
    });
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("integration/console/browser.py");
    let stderr_path = server.scratch_dir("browser").join("stderr.txt");
    let mut child = Command::new(venv_bin("python"))
        .arg(&script)
        .env("CONSOLE_TEST", args.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_path).expect("the script's stderr file"))
        .spawn()
        .expect("running the selenium script (./scripts/test installs selenium into .venv)");
    let mut stdin = child.stdin.take().expect("the script's stdin");
    let mut lines = BufReader::new(child.stdout.take().expect("the script's stdout")).lines();
    let mut stdout = String::new();
    let mut issued = None;
    for line in lines.by_ref() {
        let line = line.expect("reading the script's stdout");
        stdout.push_str(&line);
        stdout.push('\n');
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if let Some(eab) = msg.get("eab") {
            // The credential as the console showed it, used as a
            // subscriber would: certbot with --eab-kid/--eab-hmac-key.
            let eab = Eab {
                kid: eab["kid"].as_str().expect("kid").to_owned(),
                hmac_key: eab["hmac_key"].as_str().expect("hmac_key").to_owned(),
            };
            let certbot = Certbot::new(&server, "console");
            certbot.certonly(&eab, &[NAME]).assert_success();
            issued = Some(certbot.lineage(NAME));
            writeln!(stdin, "{}", serde_json::json!({"names": [NAME]}))
                .expect("answering the script");
            stdin.flush().expect("answering the script");
            break;
        }
    }
    stdout.extend(lines.map_while(Result::ok).map(|l| l + "\n"));
    let status = child.wait().expect("waiting for the script");
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    assert!(
        status.success() && issued.is_some(),
        "the browser test failed:\n{stdout}\n{stderr}\nserver log:\n{}",
        server.log_tail(60)
    );
    let summary: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default())
            .unwrap_or_else(|e| panic!("no summary ({e}):\n{stdout}"));
    // What the page said is what the CA did: revoked, with the reason.
    let serial = summary["revoked"].as_str().expect("the revoked serial");
    let leaf = crate::common::x509::Leaf::read(&issued.expect("issued above").cert);
    assert_eq!(
        serial,
        leaf.serial.replace(':', "").to_lowercase(),
        "the page revoked certbot's certificate"
    );
    let ev = server.staff().certificate_evidence(serial);
    assert_eq!(ev["certificate"]["revocation_reason"], 4, "{ev}");
    for page in [
        "login",
        "password",
        "organization-new",
        "queue",
        "organization",
        "eab",
        "certificate",
        "certificates",
        "revoke-refused",
        "audit",
        "health",
        "notices",
    ] {
        let r = &summary["axe"][page];
        assert_eq!(
            r["serious_or_critical"],
            serde_json::json!([]),
            "axe on {page}: {r}"
        );
    }
    eprintln!("axe: {}", summary["axe"]);
}
