//! The trust seal in real headless Chromium, driven by Python selenium
//! (`integration/seal/browser.py`, in the test venv), against the real
//! `trustgate serve`: staff approve an organization, certbot obtains a
//! certificate for `seal.example.jp`, `trustgate org seal` prints the
//! snippet; a page embedding it shows the SVG (rendered, 240×72), the
//! click opens the verification page that says verified and names the
//! organization, and the page for another domain says not verified and
//! why. With `TRUSTGATE_SEAL_SCREENSHOTS=DIR` the screenshots (`seal.png`:
//! the verification page; `seal-site.png`: the seal on a site) are kept
//! there (docs/ holds the ones docs/seal.md shows).

use std::process::Command;

use crate::common::certbot::Certbot;
use crate::common::pkilint::venv_bin;
use crate::common::staff::{Level, LEGAL_NAME};
use crate::common::TestServer;

const NAME: &str = "seal.example.jp";

#[test]
fn seal_renders_and_verifies_in_chromium() {
    let server = TestServer::start();
    let staff = server.staff();
    let org = staff.create_organization(Level::Ov, &["example.jp"]);
    staff.vet_and_approve(org);
    let eab = staff.create_eab(org, false);
    let certbot = Certbot::new(&server, "seal");
    certbot.certonly(&eab, &[NAME]).assert_success();

    let out = Command::new(env!("CARGO_BIN_EXE_trustgate"))
        .arg("--config")
        .arg(server.config_path())
        .args(["org", "seal", &org.id.to_string()])
        .output()
        .expect("running trustgate org seal");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "org seal: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines = text.lines();
    let seal = lines.next().expect("the seal id").trim().to_owned();
    let snippet = lines.next().expect("the snippet").trim().to_owned();
    assert_eq!(seal.len(), 26, "{text}");
    let origin = format!("http://localhost:{}", server.publish_port());
    assert!(
        snippet.contains(&format!("{origin}/seal/{seal}.svg")),
        "{snippet}"
    );

    let keep = std::env::var_os("TRUSTGATE_SEAL_SCREENSHOTS");
    let tmp = tempfile::tempdir().unwrap();
    let shots = keep
        .as_ref()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&shots).unwrap();
    let args = serde_json::json!({
        "origin": origin,
        "seal": seal,
        "snippet": snippet,
        "domain": NAME,
        "organization": LEGAL_NAME,
        "shots": shots.canonicalize().unwrap(),
    });
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/integration/seal/browser.py");
    let run = Command::new(venv_bin("python"))
        .arg(script)
        .env("SEAL_TEST", args.to_string())
        .output()
        .expect("running the browser script");
    assert!(
        run.status.success(),
        "browser: {}{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr),
        server.log_tail(40)
    );
    assert!(shots.join("seal.png").is_file());
    if keep.is_some() {
        let _ = std::fs::remove_file(shots.join("site.html"));
    }
}
