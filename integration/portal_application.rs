//! A customer's application in real headless Chromium, from sign-up to
//! renewal, across the portal and the staff console
//! (`integration/portal/application.py`, on the portal's steps in
//! `portal.py` and the console's in `console/staff.py`): the real
//! `trustgate serve` with the portal listener, mail to a real SMTP server
//! (aiosmtpd), staff enrolled with `trustgate staff add`. The customer
//! applies (OV) and gets the printable confirmation with the number; a
//! vetter asks for a document with a message; the customer reads it on
//! /status and uploads a PDF on /documents; the vetter sees it and
//! records the checks, a second member approves (four eyes); /status says
//! approved. The server is then restarted with `vetting.max_age_days =
//! 30`, which puts the approval within the renewal window, and the
//! customer renews on /renew. axe-core reports no serious or critical
//! violation on any portal page. With `TRUSTGATE_PORTAL_SCREENSHOTS=DIR`
//! the application form, its confirmation and the approved status are
//! saved there (docs/portal/*.png).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::pkilint::venv_bin;
use crate::common::server::free_port;
use crate::common::smtp::{mail_toml, SmtpSink};
use crate::common::staff::LEGAL_NAME;
use crate::common::TestServer;
use crate::console_browser::{application, axe_script, enrol};
use crate::portal_browser::portal_toml;

/// A one-page PDF (header, catalog, pages, page, cross-reference table)
/// as a customer would upload a scanned certificate of registration.
fn pdf() -> Vec<u8> {
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend(format!("{} 0 obj\n{o}\nendobj\n", i + 1).bytes());
    }
    let xref = out.len();
    out.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).bytes());
    for o in offsets {
        out.extend(format!("{o:010} 00000 n \n").bytes());
    }
    out.extend(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .bytes(),
    );
    out
}

/// Restarts `server` with vetting data valid for `days` days.
fn restart_with_max_age(server: &mut TestServer, days: u64) {
    server.kill();
    let mut config = std::fs::read_to_string(server.config_path()).expect("the config");
    config.push_str(&format!("\n[vetting]\nmax_age_days = {days}\n"));
    std::fs::write(server.config_path(), config).expect("writing the config");
    server.restart();
}

#[test]
fn a_customer_applies_uploads_is_approved_and_renews_in_chromium() {
    let sink = SmtpSink::start();
    let port = free_port();
    let mut server =
        TestServer::start_with(&format!("{}{}", portal_toml(port), mail_toml(sink.port())));
    let vetter = enrol(&server, "app-vetter", "view,vet");
    let approver = enrol(&server, "app-approver", "view,approve");
    let pdf_path = server.scratch_dir("upload").join("registry.pdf");
    std::fs::write(&pdf_path, pdf()).expect("writing the PDF");
    let mut form = application(&["example.co.jp"]);
    form.push(("validity_days".into(), "90".into()));
    let args = serde_json::json!({
        "origin": format!("http://127.0.0.1:{port}"),
        "console": server.staff().admin_origin(),
        "mail_dir": sink.dir(),
        "axe": axe_script(),
        "application": form,
        "legal_name": LEGAL_NAME,
        "vetter": vetter,
        "approver": approver,
        "pdf": pdf_path,
        "screenshots": std::env::var("TRUSTGATE_PORTAL_SCREENSHOTS").ok(),
    });
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("integration/portal/application.py");
    let stderr_path = server.scratch_dir("browser").join("stderr.txt");
    let mut child = Command::new(venv_bin("python"))
        .arg(&script)
        .env("APPLICATION_TEST", args.to_string())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_path).expect("the script's stderr file"))
        .spawn()
        .expect("running the selenium script (./scripts/test installs selenium into .venv)");
    let mut stdin = child.stdin.take().expect("the script's stdin");
    let mut lines = BufReader::new(child.stdout.take().expect("the script's stdout")).lines();
    let mut stdout = String::new();
    let mut restarted = false;
    for line in lines.by_ref() {
        let line = line.expect("reading the script's stdout");
        stdout.push_str(&line);
        stdout.push('\n');
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if let Some(days) = msg["restart"]["max_age_days"].as_u64() {
            restart_with_max_age(&mut server, days);
            restarted = true;
            writeln!(stdin, "{}", serde_json::json!({"restarted": true}))
                .expect("answering the script");
            stdin.flush().expect("answering the script");
            break;
        }
    }
    stdout.extend(lines.map_while(Result::ok).map(|l| l + "\n"));
    let status = child.wait().expect("waiting for the script");
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    assert!(
        status.success() && restarted,
        "the browser test failed:\n{stdout}\n{stderr}\nserver log:\n{}",
        server.log_tail(60)
    );
    let summary: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default())
            .unwrap_or_else(|e| panic!("no summary ({e}):\n{stdout}"));
    assert_ne!(summary["application"], summary["renewal"], "{summary}");
    for page in [
        "home",
        "application-new",
        "confirmation",
        "status-received",
        "status-documents-requested",
        "documents",
        "documents-uploaded",
        "status-approved",
        "renew",
        "renewal-confirmation",
        "status-renewal",
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
