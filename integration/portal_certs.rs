//! The portal's certificate pages in real headless Chromium
//! (`integration/portal/certs.py`, on the steps of
//! `integration/portal/portal.py`) against the real `trustgate serve`
//! with the portal listener and a real SMTP server for the sign-up mail.
//! Staff approve the customer's organization through the admin API; the
//! customer then makes an EAB credential on `/eab` and the real certbot
//! gets a certificate with it, or pastes an openssl CSR on `/orders/new`
//! and proves one name with an http-01 file (served by the script on
//! loopback) and the other with a TXT record in a real BIND. Every
//! certificate is downloaded in Chromium as PEM chain, DER and PKCS#7 and
//! checked with openssl. axe-core reports no serious or critical violation
//! on any of those pages. When the CA changes its subscriber agreement,
//! the same certbot command is refused with `userActionRequired` naming a
//! portal page; the customer accepts there and certbot succeeds again.
//! With `TRUSTGATE_PORTAL_SCREENSHOTS=DIR` the `/eab` (key redacted),
//! `/orders/{id}` and `/terms/acme/{id}` pages are saved there as PNG.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::bind::{Bind, Signing};
use crate::common::issued::{assert_issued, OV_POLICY};
use crate::common::pkilint::venv_bin;
use crate::common::server::free_port;
use crate::common::smtp::{mail_toml, SmtpSink};
use crate::common::staff::{Eab, Level, Organization};
use crate::common::x509::openssl_verify;
use crate::common::{Certbot, TestServer};
use crate::console_browser::axe_script;

/// The portal on plain HTTP on loopback and the agreement in force.
fn portal_toml(port: u16) -> String {
    format!(
        "[portal]\n\
         listen = \"127.0.0.1:{port}\"\n\
         base_url = \"http://127.0.0.1:{port}\"\n\
         [agreement]\n\
         version = \"{AGREEMENT}\"\n"
    )
}

/// A server with the portal and mail to `sink`, resolving through `bind`
/// when given (the harness's responder otherwise).
fn portal_server(sink: &SmtpSink, bind: Option<&Bind>) -> (TestServer, String) {
    let port = free_port();
    let extra = format!("{}{}", portal_toml(port), mail_toml(sink.port()));
    let server = match bind {
        Some(b) => TestServer::start_with_dns(&b.va_dns(), &extra),
        None => TestServer::start_with(&extra),
    };
    (server, format!("http://127.0.0.1:{port}"))
}

/// The customer with `email` becomes the customer of `org` (what an
/// approved application does; the application pages have their own
/// scenario).
fn link_customer(server: &TestServer, email: &str, org: Organization) -> Result<(), String> {
    let cfg = trustgate::config::Config::load(Some(server.config_path()))
        .map_err(|e| format!("config: {e}"))?;
    let store = trustgate::sa::Store::open(&cfg.database_url(), 1, Duration::from_secs(30))
        .map_err(|e| format!("database: {e}"))?;
    let email = email.to_owned();
    let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let linked = rt.block_on(store.run(move |c| {
        let Some(found) = trustgate::sa::customers::by_email(c, &email)? else {
            return Ok(false);
        };
        let org = trustgate::core::OrganizationId(org.id);
        trustgate::sa::customers::set_organization(c, found.customer.id, org)?;
        Ok(true)
    }));
    match linked {
        Ok(true) => Ok(()),
        Ok(false) => Err("no such customer".into()),
        Err(e) => Err(format!("linking the customer: {e}")),
    }
}

/// Runs certs.py with `args`, answering its `ASK` lines with `answer`;
/// returns its JSON summary.
fn run_script(
    server: &TestServer,
    args: serde_json::Value,
    mut answer: impl FnMut(&[&str]) -> Result<(), String>,
) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("integration/portal/certs.py");
    let stderr_path = server.scratch_dir("selenium").join("stderr.txt");
    let mut child = Command::new(venv_bin("python"))
        .arg(&script)
        .env("PORTAL_TEST", args.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_path).expect("creating the script's log"))
        .spawn()
        .expect("running the selenium script (./scripts/test installs selenium into .venv)");
    let mut stdin = child.stdin.take().expect("the script's stdin");
    let mut last = String::new();
    let mut failures = Vec::new();
    for line in BufReader::new(child.stdout.take().expect("the script's stdout")).lines() {
        let line = line.expect("reading the script's output");
        if let Some(ask) = line.strip_prefix("ASK ") {
            let words: Vec<&str> = ask.split(' ').collect();
            let reply = match answer(&words) {
                Ok(()) => "ok".to_owned(),
                Err(e) => {
                    failures.push(format!("{}: {e}", words[0]));
                    format!("error {}", words[0])
                }
            };
            writeln!(stdin, "{reply}").expect("answering the script");
        } else {
            last = line;
        }
    }
    let status = child.wait().expect("waiting for the script");
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    assert!(
        status.success() && failures.is_empty(),
        "the browser test failed ({status}): {failures:#?}\n{stderr}\nserver log:\n{}",
        server.log_tail(80)
    );
    serde_json::from_str(&last).unwrap_or_else(|e| panic!("no summary ({e}): {last}\n{stderr}"))
}

fn script_args(server: &TestServer, origin: &str, sink: &SmtpSink) -> serde_json::Value {
    serde_json::json!({
        "origin": origin,
        "mail_dir": sink.dir(),
        "axe": axe_script(),
        "downloads": server.scratch_dir("downloads"),
        "screenshots": std::env::var("TRUSTGATE_PORTAL_SCREENSHOTS").ok(),
    })
}

/// What Chromium downloaded: the PEM chain verifies with openssl against
/// the CA's root, the DER file is its first certificate, and openssl
/// reads both certificates out of the PKCS#7 file. Returns the leaf (PEM).
fn check_downloads(server: &TestServer, summary: &serde_json::Value) -> PathBuf {
    let file = |kind: &str| PathBuf::from(summary["downloads"][kind].as_str().unwrap());
    let (pem, der, p7b) = (file("pem"), file("der"), file("p7b"));
    let leaf = pem.with_extension("leaf.pem");
    openssl(
        &["x509", "-inform", "DER", "-in"],
        &der,
        &["-out", leaf.to_str().unwrap()],
    );
    let der_bytes = std::fs::read(&der).unwrap();
    let chain = certificates(&std::fs::read(&pem).unwrap());
    assert_eq!(
        chain.len(),
        2,
        "the leaf and its issuer in {}",
        pem.display()
    );
    assert_eq!(chain[0], der_bytes, "the DER download is the chain's first");
    openssl_verify(&server.root_pem(), &pem, &leaf).unwrap_or_else(|e| panic!("{e}"));
    let printed = openssl(
        &["pkcs7", "-inform", "DER", "-print_certs", "-in"],
        &p7b,
        &[],
    );
    let mut inside = certificates(printed.as_bytes());
    inside.sort();
    let mut expected = chain;
    expected.sort();
    assert_eq!(
        inside, expected,
        "the PKCS#7 file holds the chain:\n{printed}"
    );
    leaf
}

/// The DER of every certificate in a PEM text.
fn certificates(pem_text: &[u8]) -> Vec<Vec<u8>> {
    ::pem::parse_many(pem_text)
        .expect("PEM")
        .into_iter()
        .filter(|p| p.tag() == "CERTIFICATE")
        .map(|p| p.into_contents())
        .collect()
}

fn openssl(before: &[&str], file: &Path, after: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(before)
        .arg(file)
        .args(after)
        .output()
        .expect("running openssl");
    assert!(
        out.status.success(),
        "openssl {before:?} {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn assert_axe_clean(summary: &serde_json::Value, pages: &[&str]) {
    for page in pages {
        let r = &summary["axe"][page];
        assert_eq!(
            r["serious_or_critical"],
            serde_json::json!([]),
            "axe on {page}: {r}"
        );
    }
    eprintln!("axe: {}", summary["axe"]);
}

/// The agreement version the portal starts with, and the one it changes to.
const AGREEMENT: &str = "2026-12-test";
const NEW_AGREEMENT: &str = "2027-04-test";

#[test]
fn a_customer_makes_an_eab_credential_certbot_uses_and_accepts_a_changed_agreement_for() {
    let sink = SmtpSink::start();
    let (mut server, origin) = portal_server(&sink, None);
    let org = server
        .staff()
        .create_organization(Level::Ov, &["example.jp"]);
    server.staff().vet_and_approve(org);
    let name = "www.example.jp";
    eab_and_certbot(&server, &origin, &sink, org, name);

    // The CA publishes a new agreement: the same certbot command is refused
    // with the page where the account's agreement is accepted.
    change_agreement(&mut server, NEW_AGREEMENT);
    let certbot = Certbot::new(&server, "portal-eab");
    let refused = certbot.force_renew(false);
    refused.assert_failure();
    refused.assert_output_contains("urn:ietf:params:acme:error:userActionRequired");
    let instance = terms_instance(&refused.output(), &origin);
    let account = certbot.account_uri();
    let account_id = account.rsplit('/').next().unwrap();
    assert_eq!(
        instance,
        format!("{origin}/terms/acme/{account_id}"),
        "certbot shows the page for its own account"
    );

    // The customer accepts it in the portal (their own acceptance first),
    // then the same command succeeds.
    let mut args = script_args(&server, &origin, &sink);
    args["scenario"] = "terms".into();
    args["instance"] = instance.clone().into();
    args["account"] = account_id.into();
    args["old_version"] = AGREEMENT.into();
    args["version"] = NEW_AGREEMENT.into();
    let summary = run_script(&server, args, |ask| match ask {
        ["certbot-again"] => {
            certbot.force_renew(false).assert_success();
            Ok(())
        }
        other => Err(format!("unknown request {other:?}")),
    });
    assert_eq!(
        certbot.archived_certificates().len(),
        2,
        "the renewal after acceptance was issued"
    );
    assert_issued(&server, &certbot.lineage(name), &[name], OV_POLICY);
    let audit = server.staff().audit(org);
    let accepted = audit
        .iter()
        .find(|e| e["action"] == "account.terms_accept")
        .unwrap_or_else(|| panic!("the acceptance is audited: {audit:#?}"));
    assert_eq!(accepted["subject"], format!("account:{account_id}"));
    assert_eq!(accepted["details"]["version"], NEW_AGREEMENT);
    assert_eq!(accepted["details"]["previous_version"], AGREEMENT);
    assert_axe_clean(
        &summary,
        &["agreement", "acme-terms", "acme-terms-accepted"],
    );
}

/// The customer makes an EAB credential on /eab, certbot (label
/// `portal-eab`) gets a certificate for `name` with it, and the customer
/// downloads it from /certificates: the same certificate, verified.
fn eab_and_certbot(
    server: &TestServer,
    origin: &str,
    sink: &SmtpSink,
    org: Organization,
    name: &str,
) {
    let certbot = Certbot::new(server, "portal-eab");
    let mut args = script_args(server, origin, sink);
    args["scenario"] = "eab".into();
    args["name"] = name.into();
    let summary = run_script(server, args, |ask| match ask {
        ["link", email] => link_customer(server, email, org),
        ["certbot", kid, key, n] => {
            let eab = Eab {
                kid: (*kid).into(),
                hmac_key: (*key).into(),
            };
            let run = certbot.certonly(&eab, &[n]);
            run.assert_success();
            Ok(())
        }
        other => Err(format!("unknown request {other:?}")),
    });
    let issued = assert_issued(server, &certbot.lineage(name), &[name], OV_POLICY);
    assert_eq!(
        summary["serial"].as_str(),
        Some(issued.serial.replace(':', "").as_str()),
        "{summary}"
    );
    let leaf = check_downloads(server, &summary);
    assert_eq!(
        std::fs::read_to_string(leaf).unwrap().trim(),
        std::fs::read_to_string(certbot.lineage(name).cert)
            .unwrap()
            .trim(),
        "the portal's certificate is the one certbot got"
    );
    // The credential certbot used is the organization's.
    let accounts = server.staff().accounts(org);
    assert_eq!(accounts.len(), 1, "{accounts:?}");
    assert_axe_clean(
        &summary,
        &["eab", "eab-created", "certificates", "certificate"],
    );
}

/// Restarts `server` with the subscriber agreement at `version`.
fn change_agreement(server: &mut TestServer, version: &str) {
    server.kill();
    let config = std::fs::read_to_string(server.config_path()).expect("the config");
    let changed = config.replace(
        &format!("version = \"{AGREEMENT}\""),
        &format!("version = \"{version}\""),
    );
    assert_ne!(config, changed, "the agreement's version in the config");
    std::fs::write(server.config_path(), changed).expect("writing the config");
    server.restart();
}

/// The portal page certbot's error names (the problem's `instance`).
fn terms_instance(certbot_output: &str, origin: &str) -> String {
    let prefix = format!("{origin}/terms/acme/");
    let start = certbot_output
        .find(&prefix)
        .unwrap_or_else(|| panic!("no {prefix}… in certbot's output:\n{certbot_output}"));
    let rest = &certbot_output[start + prefix.len()..];
    let id: String = rest.chars().take_while(char::is_ascii_digit).collect();
    assert!(!id.is_empty(), "an account id after {prefix}: {rest}");
    format!("{prefix}{id}")
}

#[test]
fn a_pasted_csr_is_proven_by_file_and_txt_record_and_downloaded() {
    let sink = SmtpSink::start();
    let bind = Bind::start(
        Signing::Unsigned,
        "www IN A 127.0.0.1\nmail IN A 127.0.0.1\n",
    );
    let (server, origin) = portal_server(&sink, Some(&bind));
    let staff = server.staff();
    let org = staff.create_organization(Level::Ov, &["example.jp"]);
    staff.vet_and_approve(org);
    let (http_name, dns_name) = ("www.example.jp", "mail.example.jp");
    let mut args = script_args(&server, &origin, &sink);
    args["scenario"] = "csr".into();
    args["http_name"] = http_name.into();
    args["dns_name"] = dns_name.into();
    args["http01_port"] = server.http01_port().into();
    let summary = run_script(&server, args, |ask| match ask {
        ["link", email] => link_customer(&server, email, org),
        ["txt", record, value] => {
            bind.update("example.jp", &[&format!("{record}. 60 IN TXT \"{value}\"")]);
            Ok(())
        }
        other => Err(format!("unknown request {other:?}")),
    });
    assert!(
        bind.was_queried(&format!("_acme-challenge.{dns_name}"), "TXT"),
        "the VA never asked BIND for the TXT record\n{}",
        bind.log_tail(60)
    );
    let leaf = check_downloads(&server, &summary);
    let text = openssl(
        &["x509", "-noout", "-ext", "subjectAltName", "-in"],
        &leaf,
        &[],
    );
    for n in [http_name, dns_name] {
        assert!(text.contains(&format!("DNS:{n}")), "{n} in {text}");
    }
    assert_axe_clean(
        &summary,
        &["order-new", "order", "order-issued", "certificate"],
    );
}
