"""The portal's certificate pages in headless Chromium, as
integration/portal_certs.rs sets them up (PORTAL_TEST: the scenario
"eab" or "csr", the origin, the SMTP sink's directory, axe-core's
script, where downloads and screenshots go, the names to use).

What only the Rust side can do (link the customer to the organization
staff approved, run certbot, write a TXT record into BIND) is asked for
on stdout with one line `ASK <what> <args…>` and answered on stdin with
`ok` (or `error <why>`). The last line printed is a JSON summary.

eab: the customer makes an EAB credential on /eab, reads the key id and
the HMAC key shown once, the real certbot gets a certificate with them;
the customer finds it on /certificates and downloads the PEM chain, the
DER certificate and the PKCS#7 file.

csr: the customer pastes a CSR made with openssl, places the http-01
file (served here on loopback, on the port the CA's VA fetches from) for
one name and a TXT record (BIND) for the other, presses "Check now" and
downloads the certificate.

terms: after the CA changed its subscriber agreement and certbot was
refused, the customer logs in to the page certbot's error named
(`instance`), is asked to accept the new agreement for themselves first,
then accepts it for the ACME account, and certbot runs again."""

import http.server
import json
import os
import subprocess
import sys
import threading
import time

from selenium.webdriver.common.by import By

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import portal  # noqa: E402
from portal import check, navigates, open_page  # noqa: E402

ARGS = json.loads(os.environ["PORTAL_TEST"])
ORIGIN = ARGS["origin"]
AXE = ARGS["axe"]
SHOTS = ARGS.get("screenshots")
DOWNLOADS = ARGS["downloads"]
EMAIL = "ops@example.jp"
PASSWORD = "a long enough passphrase"
ISSUE_WAIT = 180  # seconds: validation and issuance on a loaded machine
SUMMARY = {}


def ask(*words):
    """One request to the Rust side; its answer must be `ok`."""
    print("ASK " + " ".join(words), flush=True)
    answer = sys.stdin.readline().strip()
    if answer != "ok":
        sys.stderr.write(f"FAILED: ASK {words[0]}: {answer}\n")
        sys.exit(1)


def axe_clean(d, page, shot=None):
    if shot:
        portal.shot(d, SHOTS, shot)
    bad = portal.axe(d, page, AXE)
    check(not bad, f"axe on {page}: {bad}", d)


def allow_downloads(d):
    d.execute_cdp_cmd("Browser.setDownloadBehavior",
                      {"behavior": "allow", "downloadPath": DOWNLOADS})


def download(d, link_id, name):
    """Clicks the download link `link_id` and waits for `name` to arrive
    complete in the download directory; returns its path."""
    path = os.path.join(DOWNLOADS, name)
    d.find_element(By.ID, link_id).click()
    deadline = time.time() + portal.WAIT
    while time.time() < deadline:
        partial = [f for f in os.listdir(DOWNLOADS) if f.endswith(".crdownload")]
        if os.path.exists(path) and os.path.getsize(path) > 0 and not partial:
            return path
        time.sleep(0.2)
    check(False, f"{name} downloaded into {DOWNLOADS}: {os.listdir(DOWNLOADS)}", d)


def download_all(d, serial):
    """The three downloads of the certificate page; what openssl says."""
    open_page(d, f"{ORIGIN}/certificates/{serial}")
    check(d.find_element(By.ID, "serial").text == serial, "the certificate's page", d)
    axe_clean(d, "certificate")
    files = {kind: download(d, f"download-{kind}", f"{serial}.{kind}")
             for kind in ("pem", "der", "p7b")}
    SUMMARY["downloads"] = files
    SUMMARY["serial"] = serial


def wait_issued(d, order_url):
    """Presses "Check now" (or reloads while the CA checks) until the page
    shows the certificate; returns its serial."""
    deadline = time.time() + ISSUE_WAIT
    while time.time() < deadline:
        issued = d.find_elements(By.ID, "issued")
        if issued:
            return issued[0].find_element(By.TAG_NAME, "code").text
        check(not d.find_elements(By.ID, "problem"), "no problem with the request", d)
        button = d.find_elements(By.ID, "check-now") or d.find_elements(By.ID, "reload")
        check(button, "Check now or reload on the request's page", d)
        navigates(d, button[0].click)
        check(d.current_url.startswith(order_url), "back on the request's page", d)
    check(False, f"a certificate within {ISSUE_WAIT} s", d)


def eab_scenario(d):
    name = ARGS["name"]
    open_page(d, ORIGIN + "/eab")
    check(d.find_elements(By.ID, "eab-form"), "approved: the credential form", d)
    axe_clean(d, "eab")
    portal.fill(d, {"note": "web server"})
    navigates(d, d.find_element(By.ID, "eab-create").click)
    kid = d.find_element(By.ID, "eab-kid").text
    key = d.find_element(By.ID, "eab-key").text
    check(kid.startswith("kid-") and len(key) == 43, f"a key id and a key: {kid}", d)
    check(f"--eab-kid {kid}" in d.find_element(By.ID, "certbot").text, "certbot's command", d)
    axe_clean(d, "eab-created")
    # The screenshot for docs/portal.md without the key.
    d.execute_script(
        "for (const e of document.querySelectorAll('#eab-key, #certbot code, #lego code'))"
        " e.textContent = e.textContent.split(arguments[0]).join('(redacted)');", key)
    portal.shot(d, SHOTS, "eab")

    ask("certbot", kid, key, name)

    open_page(d, ORIGIN + "/eab")
    check(key not in d.page_source, "the key is shown once only", d)
    check(kid in d.find_element(By.ID, "eab-list").text, "the credential is listed", d)
    open_page(d, ORIGIN + "/certificates")
    axe_clean(d, "certificates")
    rows = d.find_elements(By.CSS_SELECTOR, "#certificates tbody tr")
    check(len(rows) == 1 and name in rows[0].text, f"certbot's certificate for {name}", d)
    serial = rows[0].find_element(By.CLASS_NAME, "serial").text
    navigates(d, rows[0].find_element(By.CLASS_NAME, "serial").click)
    download_all(d, serial)


class Http01(http.server.BaseHTTPRequestHandler):
    """The customer's web server: the http-01 files placed in FILES."""

    FILES = {}

    def do_GET(self):
        body = self.FILES.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        sys.stderr.write("http-01: " + (args[0] % args[1:]) + "\n")


def make_csr(names):
    key = os.path.join(DOWNLOADS, "request.key")
    out = subprocess.run(
        ["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", key, "-subj", f"/CN={names[0]}",
         "-addext", "subjectAltName=" + ",".join(f"DNS:{n}" for n in names)],
        capture_output=True, text=True, check=True)
    return out.stdout


def section_of(d, name):
    for s in d.find_elements(By.CSS_SELECTOR, "section.name"):
        if s.find_element(By.TAG_NAME, "h2").text.split()[0] == name:
            return s
    check(False, f"a section for {name}", d)


def csr_scenario(d):
    http_name, dns_name = ARGS["http_name"], ARGS["dns_name"]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", ARGS["http01_port"]), Http01)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        open_page(d, ORIGIN + "/orders/new")
        axe_clean(d, "order-new")
        d.find_element(By.ID, "csr").send_keys(make_csr([http_name, dns_name]))
        d.find_element(By.ID, "level-ov").click()
        portal.fill(d, {"validity_days": "90"})
        navigates(d, d.find_element(By.ID, "order-submit").click)
        order_url = d.current_url
        check("/orders/" in order_url and d.find_elements(By.ID, "check-now"),
              "the request's page", d)
        axe_clean(d, "order", shot="order")

        web = section_of(d, http_name)
        url = web.find_element(By.CLASS_NAME, "http-url").text
        check(url.startswith(f"http://{http_name}/.well-known/acme-challenge/"), url, d)
        path = url[len(f"http://{http_name}"):]
        Http01.FILES[path] = web.find_element(By.CLASS_NAME, "http-content").text.encode()
        web.find_element(By.CSS_SELECTOR, "input[value='http-01']").click()

        txt = section_of(d, dns_name)
        record = txt.find_element(By.CLASS_NAME, "dns-name").text
        check(record == f"_acme-challenge.{dns_name}", record, d)
        ask("txt", record, txt.find_element(By.CLASS_NAME, "dns-value").text)
        txt.find_element(By.CSS_SELECTOR, "input[value='dns-01']").click()

        serial = wait_issued(d, order_url)
        axe_clean(d, "order-issued")
        SUMMARY["order"] = order_url
        download_all(d, serial)
    finally:
        server.shutdown()


def terms_scenario(d):
    instance, old, new = ARGS["instance"], ARGS["old_version"], ARGS["version"]
    # Logging in on the page certbot named: the customer's own acceptance
    # is out of date too, so the agreement comes first.
    open_page(d, instance)
    portal.fill(d, {"email": EMAIL, "password": PASSWORD})
    navigates(d, d.find_element(By.ID, "sign-in").click)
    check(d.current_url.startswith(ORIGIN + "/agreement") and d.find_elements(By.ID, "accept-again"),
          "the new agreement, to accept before anything else", d)
    check(d.find_element(By.ID, "agreement-version").text == new, f"version {new}", d)
    check(d.find_element(By.ID, "accepted-version").text == old, f"accepted {old}", d)
    axe_clean(d, "agreement")
    navigates(d, d.find_element(By.ID, "accept").click)

    check(d.current_url == instance, "back on the page certbot named", d)
    check(d.find_element(By.ID, "account").text == ARGS["account"], "certbot's account", d)
    check(d.find_element(By.ID, "accepted-version").text == old, f"the account accepted {old}", d)
    check(d.find_element(By.ID, "agreement-version").text == new, f"version {new}", d)
    check(d.find_elements(By.ID, "accept-again"), "the account must accept again", d)
    axe_clean(d, "acme-terms", shot="acme-terms")
    navigates(d, d.find_element(By.ID, "accept").click)
    check(d.current_url == instance and d.find_elements(By.ID, "up-to-date"),
          "the account's agreement is up to date", d)
    check(d.find_element(By.ID, "accepted-version").text == new, f"the account accepted {new}", d)
    axe_clean(d, "acme-terms-accepted")
    ask("certbot-again")


d = portal.browser("ja")
try:
    allow_downloads(d)
    if ARGS["scenario"] == "terms":
        terms_scenario(d)
    else:
        started = time.time()
        portal.signup(d, ORIGIN, EMAIL, PASSWORD)
        portal.verify(d, portal.read_verification_link(ARGS["mail_dir"], EMAIL,
                                                       after=started - 1))
        ask("link", EMAIL)
        portal.login(d, ORIGIN, EMAIL, PASSWORD)
        {"eab": eab_scenario, "csr": csr_scenario}[ARGS["scenario"]](d)
finally:
    d.quit()

SUMMARY["axe"] = portal.AXE_RESULTS
print(json.dumps(SUMMARY), flush=True)
