//! schemathesis (PyPI) against the admin API's own OpenAPI document, as a
//! staff member (roles view and vet): generated and mutated requests to
//! every operation, and stateful sequences. It must find no server error,
//! no response that contradicts the document (status, content type,
//! headers, body schema) and no schema-invalid request accepted.
//!
//! Left out: schemathesis's check that every schema-valid request is
//! accepted. The server also applies rules no JSON Schema says (check
//! digits of registration numbers, telephone numbers, `since` before
//! `until`), and refuses those requests with a 400 problem document, which
//! the document lists.

use std::process::Command;

use crate::common::pkilint::venv_bin;
use crate::common::staff::Level;
use crate::common::TestServer;

#[test]
fn schemathesis_finds_no_server_error_and_no_schema_violation() {
    let server = TestServer::start();
    let staff = server.staff();
    // Something to read: an approved organization with a credential.
    let org = staff.create_organization(Level::Ov, &["example.jp"]);
    staff.vet_and_approve(org);
    staff.create_eab(org, false);

    let dir = server.scratch_dir("schemathesis");
    let out = Command::new(venv_bin("schemathesis"))
        .current_dir(&dir)
        .arg("run")
        .arg(format!("{}/openapi.json", staff.admin_origin()))
        .args([
            "--header",
            &format!("Authorization: Bearer {}", staff.vetter_token()),
        ])
        .args([
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
        ])
        .args(["--max-examples", "25", "--seed", "20261206"])
        .env("NO_COLOR", "1")
        .output()
        .expect("running schemathesis (./scripts/test installs it into .venv)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "schemathesis found failures:\n{text}");
    assert!(text.contains("generated"), "no test cases ran:\n{text}");
    assert!(!text.contains("Server error"), "{text}");
}
