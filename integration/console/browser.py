"""The staff console in real headless Chromium (Debian chromium and
chromedriver), through WebDriver (selenium), as integration/console_browser.rs
sets it up: the console's origin, three members (a vetter who may also
approve, a viewer, an approver) with the password and TOTP secret
`trustgate staff add` printed, the example application as the form's
fields, axe-core's script, where screenshots go.

Each step asserts; a failure exits non-zero with what was on the page.
After the approval the script prints the new EAB credential as a JSON
line (`{"eab": …}`) and waits for one line on stdin: the Rust side has
obtained a certificate with certbot meanwhile (`{"names": […]}`); the
browsers stay signed in. The last line printed is a JSON summary (axe
violations per page, the certificate revoked)."""

import json
import os
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import staff  # noqa: E402
from staff import WAIT, check, navigates, record_ov_checks  # noqa: E402

ARGS = json.loads(os.environ["CONSOLE_TEST"])
ORIGIN = ARGS["origin"]
ORG = None  # the organization the vetter registers


def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900",
              "--lang=ja", "--disable-dev-shm-usage"]:
        opts.add_argument(a)
    opts.add_experimental_option("prefs", {"intl.accept_languages": "ja,en"})
    d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    d.set_page_load_timeout(WAIT)
    d.set_script_timeout(WAIT)
    return d


AXE = open(ARGS["axe"], encoding="utf-8").read()
AXE_RESULTS = {}


def axe(d, page):
    """axe-core in the page; returns (and records) serious/critical violations."""
    d.execute_script(AXE)
    result = d.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document).then(r => done(r.violations.map(v => "
        "({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length}))));"
    )
    bad = [v for v in result if v["impact"] in ("serious", "critical")]
    AXE_RESULTS[page] = {"violations": len(result), "serious_or_critical": bad}
    return bad


def shot(d, name):
    if ARGS.get("screenshots"):
        d.save_screenshot(os.path.join(ARGS["screenshots"], f"{name}.png"))


def login(d, member, expect_return):
    def password_page(d):
        check(not axe(d, "password"), f"axe on the password page: {AXE_RESULTS['password']}", d)

    staff.login(d, ORIGIN, member, expect_return, password_page)


def forged_post(d, path, csrf):
    """A form the page never offered, posted from the page's own origin."""
    navigates(d, lambda: d.execute_script(
        "const f = document.createElement('form'); f.method = 'post'; f.action = arguments[0];"
        "if (arguments[1] !== null) { const i = document.createElement('input');"
        " i.type = 'hidden'; i.name = 'csrf'; i.value = arguments[1]; f.appendChild(i); }"
        "document.body.appendChild(f); f.submit();",
        path,
        csrf,
    ))
    WebDriverWait(d, WAIT).until(ec.url_contains(path))
    WebDriverWait(d, WAIT).until(ec.presence_of_element_located((By.TAG_NAME, "h1")))
    return d.find_element(By.TAG_NAME, "h1").text


vetter_browser = browser()
viewer_browser = browser()
approver_browser = browser()
try:
    d = vetter_browser
    # The login page, then the queue (the page asked for first).
    d.get(ORIGIN + "/console/login")
    WebDriverWait(d, WAIT).until(ec.presence_of_element_located((By.ID, "sign-in")))
    check(d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "ja", "Japanese for lang=ja", d)
    check(not axe(d, "login"), f"axe on the login page: {AXE_RESULTS['login']}", d)
    shot(d, "login")
    login(d, ARGS["vetter"], "/console/")
    check(d.current_url == ORIGIN + "/console/", "back at the queue after login", d)

    # The application received on paper, typed into the new
    # organization's form: first with a wrong registration number.
    navigates(d, d.find_element(By.ID, "new-organization").click)
    WebDriverWait(d, WAIT).until(ec.presence_of_element_located((By.ID, "new-submit")))
    check(not axe(d, "organization-new"), f"axe on the new organization: {AXE_RESULTS['organization-new']}", d)

    def fill(values):
        form = d.find_element(By.ID, "new")
        for name, value in values:
            el = form.find_element(By.NAME, name)
            if el.tag_name == "select":
                Select(el).select_by_value(value)
            elif el.get_attribute("type") == "checkbox":
                if el.is_selected() != (value == "on"):
                    el.click()
            else:
                el.clear()
                el.send_keys(value)

    # The browser would refuse a pattern itself; the server's message is
    # what this step is about, so the wrong value is one a browser allows.
    fill([(k, "12345" if k == "registration_number" else v) for k, v in ARGS["application"]])
    shot(d, "organization-new")
    navigates(d, d.find_element(By.ID, "new-submit").click)
    WebDriverWait(d, WAIT).until(ec.presence_of_element_located((By.ID, "new-registration_number-error")))
    check("12 桁の数字" in d.find_element(By.ID, "new-registration_number-error").text,
          "the wrong registration number is named beside its field", d)
    fill([(k, v) for k, v in ARGS["application"] if k == "registration_number"])
    navigates(d, d.find_element(By.ID, "new-submit").click)
    WebDriverWait(d, WAIT).until(ec.presence_of_element_located((By.ID, "needs")))
    check("/console/organizations/" in d.current_url, "on the new organization's page", d)
    ORG = int(d.current_url.rsplit("/", 1)[1])
    d.get(ORIGIN + "/console/")
    WebDriverWait(d, WAIT).until(ec.presence_of_element_located((By.ID, "queue")))
    queue = d.find_element(By.ID, "queue").text
    check(ARGS["legal_name"] in queue, "the organization is in the queue", d)
    check("not recorded" in queue, "its missing checks are in the queue", d)
    check(not axe(d, "queue"), f"axe on the queue: {AXE_RESULTS['queue']}", d)
    shot(d, "queue")

    # The organization: its fields, what approval needs.
    navigates(d, d.find_element(By.LINK_TEXT, ARGS["legal_name"]).click)
    WebDriverWait(d, WAIT).until(ec.presence_of_element_located((By.ID, "needs")))
    check(d.current_url.endswith(f"/console/organizations/{ORG}"), "the organization's page", d)
    needs = [li.text for li in d.find_elements(By.CSS_SELECTOR, "#needs li")]
    check(len(needs) == 3 and all("not recorded" in n for n in needs),
          f"three checks missing: {needs}", d)
    fields = d.find_element(By.ID, "fields").text
    check("組織名" in fields and ARGS["legal_name"] in fields and "本店登記住所" in fields,
          "the application's fields by their Japanese names", d)
    check(not axe(d, "organization"), f"axe on the organization: {AXE_RESULTS['organization']}", d)
    shot(d, "organization")

    # The vetter records the three checks with their forms.
    record_ov_checks(d)
    # What the vetter recorded, the vetter may not approve (four eyes).
    needs = [li.text for li in d.find_elements(By.CSS_SELECTOR, "#needs li")]
    check(len(needs) == 3 and all("four-eyes" in n for n in needs),
          f"only the four-eyes rule stands in the vetter's way: {needs}", d)
    navigates(d, d.find_element(By.ID, "do-approve").click)
    WebDriverWait(d, WAIT).until(ec.presence_of_element_located((By.ID, "error")))
    check("four-eyes" in d.find_element(By.ID, "error").text, "the vetter's approval is refused", d)
    check(d.find_element(By.ID, "status").text == "pending", "still pending after the refusal", d)
    checks = d.find_element(By.ID, "checks").find_element(By.XPATH, "following-sibling::table").text
    check(checks.count("staff:desk-vetter#") == 3 and "TDB企業コード 123456789" in checks,
          "the checks with source, reference and who recorded them", d)

    # An EAB credential: the key once, and the certbot line.
    d.find_element(By.ID, "eab-note").send_keys("desk")
    navigates(d, d.find_element(By.ID, "eab-create").click)
    WebDriverWait(d, WAIT).until(ec.presence_of_element_located((By.ID, "certbot")))
    kid = d.find_element(By.ID, "eab-kid").text
    key = d.find_element(By.ID, "eab-key").text
    line = d.find_element(By.ID, "certbot").text
    check(kid.startswith("kid-") and f"--eab-kid {kid} --eab-hmac-key {key}" in line,
          f"the certbot line names the credential: {line}", d)
    check(not axe(d, "eab"), f"axe on the new credential: {AXE_RESULTS['eab']}", d)
    d.get(ORIGIN + f"/console/organizations/{ORG}")
    WebDriverWait(d, WAIT).until(ec.presence_of_element_located((By.ID, "needs")))

    # English through the switch.
    navigates(d, d.find_element(By.ID, "lang-switch").click)
    WebDriverWait(d, WAIT).until(ec.presence_of_element_located((By.ID, "needs")))
    check(d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en", "English after the switch", d)
    check("Approval still needs" in d.page_source, "English words after the switch", d)

    # A viewer: the page without decisions; forged posts refused.
    v = viewer_browser
    login(v, ARGS["viewer"], f"/console/organizations/{ORG}")
    check(v.current_url.endswith(f"/console/organizations/{ORG}"), "back at the page asked for", v)
    check(not v.find_elements(By.ID, "do-approve"), "no approve button for a viewer", v)
    csrf = v.find_element(By.CSS_SELECTOR, "input[name=csrf]").get_attribute("value")
    approve = f"/console/organizations/{ORG}/approve"
    h1 = forged_post(v, approve, None)
    check(h1 == ARGS["csrf_refused"], f"a post without the CSRF token refused: {h1!r}", v)
    v.get(ORIGIN + f"/console/organizations/{ORG}")
    h1 = forged_post(v, approve, csrf)
    check(h1 == ARGS["forbidden"], f"a viewer's approve refused: {h1!r}", v)
    v.get(ORIGIN + f"/console/organizations/{ORG}")
    check(v.find_element(By.ID, "status").text == "pending", "still pending", v)

    # The approver, who recorded nothing, approves.
    a = approver_browser
    login(a, ARGS["approver"], f"/console/organizations/{ORG}")
    check(a.find_elements(By.ID, "needs-none"), "nothing stands in the approver's way", a)
    navigates(a, a.find_element(By.ID, "do-approve").click)
    WebDriverWait(a, WAIT).until(ec.text_to_be_present_in_element((By.ID, "status"), "approved"))

    # certbot, run by the Rust side with the credential the page showed.
    print(json.dumps({"eab": {"kid": kid, "hmac_key": key}}), flush=True)
    issued = json.loads(sys.stdin.readline())

    # The certificate on the organization's page, then its own page.
    a.get(ORIGIN + f"/console/organizations/{ORG}")
    WebDriverWait(a, WAIT).until(ec.presence_of_element_located((By.CLASS_NAME, "cert-link")))
    links = a.find_elements(By.CLASS_NAME, "cert-link")
    check(len(links) == 1, f"one certificate on the organization's page: {len(links)}", a)
    serial = links[0].text
    navigates(a, links[0].click)
    WebDriverWait(a, WAIT).until(ec.presence_of_element_located((By.ID, "cert-status")))
    check(a.current_url.endswith(f"/console/certificates/{serial}"), "the certificate's page", a)
    check(a.find_element(By.ID, "cert-status").text == "valid", "the certificate is valid", a)
    check(a.find_element(By.ID, "cert-names").text == ", ".join(issued["names"]),
          f"its names: {a.find_element(By.ID, 'cert-names').text}", a)
    evidence = a.find_element(By.ID, "evidence").find_element(By.XPATH, "..").text
    check("http-01" in evidence and "permitted" in evidence,
          f"the validation method and the CAA decision: {evidence}", a)
    check(a.find_element(By.ID, "dl-chain").get_attribute("href").endswith(f"/{serial}/chain.pem"),
          "the chain's download link", a)
    check(not axe(a, "certificate"), f"axe on the certificate: {AXE_RESULTS['certificate']}", a)
    shot(a, "certificate")

    # The search finds it by its name and by its serial with colons.
    a.get(ORIGIN + "/console/certificates")
    WebDriverWait(a, WAIT).until(ec.presence_of_element_located((By.ID, "cs-submit")))
    a.find_element(By.ID, "cs-name").send_keys(issued["names"][0])
    navigates(a, a.find_element(By.ID, "cs-submit").click)
    WebDriverWait(a, WAIT).until(ec.presence_of_element_located((By.ID, "certificates")))
    rows = a.find_elements(By.CSS_SELECTOR, "#certificates tbody tr")
    check(len(rows) == 1 and serial in rows[0].text, "found by its name", a)
    check(not axe(a, "certificates"), f"axe on the search: {AXE_RESULTS['certificates']}", a)
    colons = ":".join(serial[i:i + 2] for i in range(0, len(serial), 2)).upper()
    a.get(ORIGIN + "/console/certificates?serial=" + colons)
    WebDriverWait(a, WAIT).until(ec.presence_of_element_located((By.ID, "certificates")))
    check(serial in a.find_element(By.ID, "certificates").text, "found by its serial with colons", a)

    # A refusal next to its field: no reason text given.
    a.get(ORIGIN + f"/console/certificates/{serial}")
    WebDriverWait(a, WAIT).until(ec.presence_of_element_located((By.ID, "revoke-form")))
    # The browser would refuse the empty required field itself; the
    # server's own check is what this step is about.
    a.execute_script("document.getElementById('revoke-reason').removeAttribute('required')")
    a.find_element(By.ID, "revoke-confirm").click()
    navigates(a, a.find_element(By.ID, "revoke-submit").click)
    WebDriverWait(a, WAIT).until(ec.presence_of_element_located((By.ID, "revoke-reason-error")))
    check(a.find_element(By.ID, "cert-status").text == "valid", "nothing revoked without a reason", a)
    check(not axe(a, "revoke-refused"), f"axe on the refusal: {AXE_RESULTS['revoke-refused']}", a)

    # The approver revokes it, with a reason code and why.
    Select(a.find_element(By.ID, "revoke-code")).select_by_value("4")
    a.find_element(By.ID, "revoke-reason").send_keys("replaced by the customer's new certificate")
    if not a.find_element(By.ID, "revoke-confirm").is_selected():
        a.find_element(By.ID, "revoke-confirm").click()
    navigates(a, a.find_element(By.ID, "revoke-submit").click)
    WebDriverWait(a, WAIT).until(ec.presence_of_element_located((By.ID, "notice")))
    check(a.find_element(By.ID, "cert-status").text == "revoked", "the page says revoked", a)
    check(a.find_element(By.ID, "revoked-reason").text == "superseded", "with its reason", a)
    check(not a.find_elements(By.ID, "revoke-form"), "no revoke form for a revoked certificate", a)

    # The audit trail: each step, with who took it.
    a.get(ORIGIN + f"/console/organizations/{ORG}")
    WebDriverWait(a, WAIT).until(ec.presence_of_element_located((By.ID, "audit")))
    rows = [r.text for r in a.find_element(By.ID, "audit")
            .find_element(By.XPATH, "following-sibling::table")
            .find_elements(By.CSS_SELECTOR, "tbody tr")]

    def done_by(action, who):
        return any(action in r and f"staff:{who}#" in r for r in rows)

    steps = [("organization.create", "desk-vetter"), ("check.record", "desk-vetter"),
             ("organization.approve", "desk-approver"), ("eab.create", "desk-vetter"),
             ("certificate.revoke", "desk-approver")]
    for action, who in steps:
        check(done_by(action, who), f"the audit trail has {action} by {who}: {rows}", a)

    # The audit log: the same steps, filtered by this organization, and
    # by the approver alone.
    a.get(ORIGIN + f"/console/audit?organization={ORG}")
    WebDriverWait(a, WAIT).until(ec.presence_of_element_located((By.ID, "audit")))
    rows = [r.text for r in a.find_elements(By.CSS_SELECTOR, "#audit tbody tr")]
    for action, who in steps:
        check(done_by(action, who), f"the audit log has {action} by {who}: {rows}", a)
    check(not axe(a, "audit"), f"axe on the audit log: {AXE_RESULTS['audit']}", a)
    shot(a, "audit")
    a.get(ORIGIN + "/console/audit?actor=desk-approver")
    WebDriverWait(a, WAIT).until(ec.presence_of_element_located((By.ID, "audit")))
    rows = [r.text for r in a.find_elements(By.CSS_SELECTOR, "#audit tbody tr")]
    check(rows and all("staff:desk-approver#" in r for r in rows),
          f"the approver's filter shows only the approver: {rows}", a)

    # Health: ready, every CRL shard listed.
    a.get(ORIGIN + "/console/health")
    WebDriverWait(a, WAIT).until(ec.presence_of_element_located((By.ID, "ready")))
    check("ok" in a.find_element(By.ID, "ready").get_attribute("class").split(), "the CA is ready", a)
    check(a.find_element(By.ID, "pending-organizations").text == "0", "nothing left pending", a)
    check(not axe(a, "health"), f"axe on health: {AXE_RESULTS['health']}", a)
    shot(a, "health")
    a.get(ORIGIN + "/console/notices")
    WebDriverWait(a, WAIT).until(ec.presence_of_element_located((By.ID, "queued")))
    check(not axe(a, "notices"), f"axe on the mail notices: {AXE_RESULTS['notices']}", a)

    # Logout; going back finds the login page, not the organization.
    navigates(d, d.find_element(By.ID, "logout").click)
    WebDriverWait(d, WAIT).until(ec.presence_of_element_located((By.ID, "sign-in")))
    navigates(d, d.back)
    WebDriverWait(d, WAIT).until(ec.presence_of_element_located((By.TAG_NAME, "main")))
    check(d.find_elements(By.ID, "sign-in") and not d.find_elements(By.ID, "needs"),
          "after logout, back shows the login page", d)
    check("/console/login" in d.current_url, "after logout, back lands on login", d)
finally:
    vetter_browser.quit()
    viewer_browser.quit()
    approver_browser.quit()

print(json.dumps({"axe": AXE_RESULTS, "revoked": serial}))
