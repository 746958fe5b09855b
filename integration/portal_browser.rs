//! The customer portal in real headless Chromium, driven through
//! WebDriver by Python selenium (`integration/portal/foundation.py`, on
//! the reusable steps of `integration/portal/portal.py`), against the
//! real `trustgate serve` with the portal listener and mail sent to a
//! real SMTP server (aiosmtpd, `common::smtp`): a sign-up with a wrong
//! postal code is answered beside that field; the corrected sign-up's
//! confirmation link arrives by mail and is read from the sink; login is
//! refused before the link is used and works after; the link works once;
//! home, agreement, language switch, logout. axe-core (npm, in
//! `integration/console/node_modules`) reports no serious or critical
//! violation on any of those pages. With
//! `TRUSTGATE_PORTAL_SCREENSHOTS=DIR` the pages are saved there as PNG.

use std::path::Path;
use std::process::Command;

use crate::common::pkilint::venv_bin;
use crate::common::server::free_port;
use crate::common::smtp::{mail_toml, SmtpSink};
use crate::common::TestServer;
use crate::console_browser::axe_script;

/// The agreement version the server is configured with.
const AGREEMENT: &str = "2026-12-test";

/// The `[portal]` and `[agreement]` of a server whose portal listens on
/// `port` (plain HTTP on loopback, its links naming that origin).
pub(crate) fn portal_toml(port: u16) -> String {
    format!(
        "[portal]\n\
         listen = \"127.0.0.1:{port}\"\n\
         base_url = \"http://127.0.0.1:{port}\"\n\
         [agreement]\n\
         version = \"{AGREEMENT}\"\n"
    )
}

#[test]
fn customers_sign_up_confirm_and_log_in_in_chromium() {
    let sink = SmtpSink::start();
    let port = free_port();
    let server =
        TestServer::start_with(&format!("{}{}", portal_toml(port), mail_toml(sink.port())));
    let origin = format!("http://127.0.0.1:{port}");
    let args = serde_json::json!({
        "origin": origin,
        "mail_dir": sink.dir(),
        "axe": axe_script(),
        "agreement_version": AGREEMENT,
        "screenshots": std::env::var("TRUSTGATE_PORTAL_SCREENSHOTS").ok(),
    });
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("integration/portal/foundation.py");
    let out = Command::new(venv_bin("python"))
        .arg(&script)
        .env("PORTAL_TEST", args.to_string())
        .output()
        .expect("running the selenium script (./scripts/test installs selenium into .venv)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the browser test failed:\n{stdout}\n{stderr}\nserver log:\n{}",
        server.log_tail(60)
    );
    // The mail the script read is the one the CA sent, to that address.
    let mails = sink.messages();
    assert_eq!(mails.len(), 1, "one confirmation mail: {mails:?}");
    assert_eq!(mails[0].to, ["yamada.taro@example.jp"]);
    assert!(
        mails[0].subject.contains("メールアドレスの確認"),
        "{:?}",
        mails[0]
    );
    assert!(mails[0].body.contains(&format!("{origin}/verify?token=")));
    let summary: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default())
            .unwrap_or_else(|e| panic!("no summary ({e}):\n{stdout}"));
    for page in [
        "login",
        "signup",
        "signup-invalid",
        "signup-sent",
        "verify",
        "verified",
        "home",
        "agreement",
        "home-en",
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
