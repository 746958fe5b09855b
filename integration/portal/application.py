"""A customer's application from sign-up to renewal in headless Chromium,
as integration/portal_application.rs sets it up (APPLICATION_TEST: the
portal's and the console's origins, the SMTP sink's directory, two staff
members, the application's fields, a PDF, axe-core's script, where
screenshots go). The portal's steps come from portal.py, the console's
from ../console/staff.py.

Sign-up with the link from the real SMTP server → the OV application →
its printable confirmation with the number → the vetter asks for a
document in the console → the customer sees the request and its message
on /status and uploads the PDF on /documents → the vetter sees the
document and records the checks, the approver approves (four eyes) →
/status approved. Then the script prints {"restart": …} and waits for a
line on stdin: the Rust side restarts the server with vetting data valid
for 30 days only, so the approval is within the renewal window → /renew
sends the record unchanged → a renewal application with its own number.
axe-core runs on every portal page. The last line printed is a JSON
summary."""

import json
import os
import re
import sys

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "console"))
import portal  # noqa: E402
import staff  # noqa: E402
from portal import WAIT, check, navigates, open_page  # noqa: E402

ARGS = json.loads(os.environ["APPLICATION_TEST"])
ORIGIN = ARGS["origin"]
CONSOLE = ARGS["console"]
SHOTS = ARGS.get("screenshots")
EMAIL = "suzuki.hanako@example.co.jp"
PASSWORD = "a long enough passphrase"
MESSAGE = "登記事項証明書(履歴事項全部証明書)のPDFをお送りください。"
NUMBER = re.compile(r"^A-\d{4}-\d{6}$")


def axe_clean(d, page, shot=None):
    if shot:
        portal.shot(d, SHOTS, shot)
    bad = portal.axe(d, page, ARGS["axe"])
    check(not bad, f"axe on {page}: {bad}", d)


def state_becomes(d, state):
    """Reloads /status until its state is `state` (staff's step has been
    taken in another browser; the page is only read, never waited on)."""
    def reached(_):
        open_page(d, ORIGIN + "/status")
        return d.find_element(By.ID, "status").get_attribute("data-state") == state
    try:
        WebDriverWait(d, WAIT * 2, poll_frequency=1).until(reached)
    except Exception:
        check(False, f"/status never reached {state!r}", d)


def fill_application(d, values):
    form = d.find_element(By.ID, "application")
    for name, value in values:
        found = form.find_elements(By.NAME, name)
        check(found, f"the application form has {name}", d)
        el = found[0]
        if el.tag_name == "select":
            Select(el).select_by_value(value)
        elif el.get_attribute("type") == "checkbox":
            if el.is_selected() != (value == "on"):
                el.click()
        else:
            el.clear()
            el.send_keys(value)


def submitted(d):
    """Submits the application form; returns the number its confirmation shows."""
    navigates(d, d.find_element(By.ID, "application-submit").click)
    WebDriverWait(d, WAIT).until(ec.presence_of_element_located((By.ID, "number")))
    number = d.find_element(By.ID, "number").text
    check(NUMBER.match(number), f"an application number: {number!r}", d)
    check(d.current_url == f"{ORIGIN}/application/{number}/confirmation",
          "on the printable confirmation", d)
    check("お申込確認書" in d.find_element(By.TAG_NAME, "h1").text, "お申込確認書", d)
    return number


def staff_on_organization(d, member):
    """Logs `member` in and opens the organization the application made."""
    staff.login(d, CONSOLE, member, "/console/")
    WebDriverWait(d, WAIT).until(ec.presence_of_element_located((By.ID, "queue")))
    staff.navigates(d, d.find_element(By.LINK_TEXT, ARGS["legal_name"]).click)
    WebDriverWait(d, WAIT).until(ec.presence_of_element_located((By.ID, "status")))


customer = portal.browser("ja")
vetter = portal.browser("ja")
approver = portal.browser("ja")
try:
    c = customer
    portal.new_customer(c, ORIGIN, ARGS["mail_dir"], EMAIL, PASSWORD)
    axe_clean(c, "home")

    # The OV application, then its confirmation with the number.
    open_page(c, ORIGIN + "/application/new")
    fill_application(c, ARGS["application"])
    axe_clean(c, "application-new", "application-form")
    number = submitted(c)
    check(c.find_element(By.ID, "state").text.strip() != "", "its state shown", c)
    check("example.co.jp" in c.find_element(By.ID, "domains").text, "its domain listed", c)
    axe_clean(c, "confirmation", "confirmation")
    open_page(c, ORIGIN + "/status")
    check(c.find_element(By.ID, "status").get_attribute("data-state") == "received", "received", c)
    check(number in c.find_element(By.ID, "applications").text, "the application on /status", c)
    axe_clean(c, "status-received")

    # The vetter asks for a document.
    v = vetter
    staff_on_organization(v, ARGS["vetter"])
    org_page = v.current_url
    check(f"application-{number}" in v.page_source, "the console shows the application", v)
    v.find_element(By.ID, "documents-message").send_keys(MESSAGE)
    staff.navigates(v, v.find_element(By.ID, "request-documents-send").click)
    WebDriverWait(v, WAIT).until(ec.presence_of_element_located((By.ID, "status")))
    check(not v.find_elements(By.ID, "error"), "the request is sent", v)

    # The customer sees the request with its message and uploads the PDF.
    state_becomes(c, "documents_requested")
    check(MESSAGE in c.find_element(By.ID, "status-detail").text, "staff's message on /status", c)
    axe_clean(c, "status-documents-requested")
    navigates(c, c.find_element(By.ID, "to-documents").click)
    check(c.find_element(By.ID, "request-message").text == MESSAGE, "the message on /documents", c)
    axe_clean(c, "documents")
    c.find_element(By.ID, "files").send_keys(ARGS["pdf"])
    pdf_name = os.path.basename(ARGS["pdf"])
    navigates(c, c.find_element(By.ID, "upload-submit").click)
    WebDriverWait(c, WAIT).until(ec.presence_of_element_located((By.ID, "uploaded")))
    check(pdf_name in c.find_element(By.ID, "documents").text, "the upload listed", c)
    axe_clean(c, "documents-uploaded")

    # The vetter sees the document and records the checks; the approver,
    # who recorded nothing, approves.
    def document_listed(_):
        v.get(org_page)
        return v.find_elements(By.CLASS_NAME, "document-link")
    WebDriverWait(v, WAIT * 2, poll_frequency=1).until(document_listed)
    link = v.find_element(By.CLASS_NAME, "document-link")
    check(link.text == pdf_name and "/documents/" in link.get_attribute("href"),
          f"the document's link: {link.text} {link.get_attribute('href')}", v)
    staff.record_ov_checks(v)
    a = approver
    staff.login(a, CONSOLE, ARGS["approver"], org_page.removeprefix(CONSOLE))
    WebDriverWait(a, WAIT).until(ec.presence_of_element_located((By.ID, "status")))
    check(a.find_elements(By.ID, "needs-none"), "nothing stands in the approver's way", a)
    staff.navigates(a, a.find_element(By.ID, "do-approve").click)
    WebDriverWait(a, WAIT).until(ec.text_to_be_present_in_element((By.ID, "status"), "approved"))

    state_becomes(c, "approved")
    axe_clean(c, "status-approved", "status-approved")

    # Vetting data valid for 30 days from now on: within the renewal window.
    print(json.dumps({"restart": {"max_age_days": 30}}), flush=True)
    check(json.loads(sys.stdin.readline()).get("restarted"), "the server restarted", c)
    state_becomes(c, "expiring")
    navigates(c, c.find_element(By.ID, "to-renew").click)
    check(c.find_element(By.ID, "application").get_attribute("action").endswith("/renew"),
          "the renewal form", c)
    check(c.find_element(By.NAME, "legal_name").get_attribute("value") == ARGS["legal_name"],
          "the record as it stands", c)
    axe_clean(c, "renew")
    renewal = submitted(c)
    check(renewal != number, f"the renewal has its own number: {renewal}", c)
    axe_clean(c, "renewal-confirmation")
    state_becomes(c, "received")
    rows = c.find_elements(By.CSS_SELECTOR, "#applications tbody tr")
    check(len(rows) == 2 and renewal in rows[0].text + rows[1].text, "both applications listed", c)
    axe_clean(c, "status-renewal")
    v.get(org_page)
    WebDriverWait(v, WAIT).until(ec.presence_of_element_located((By.ID, f"application-{renewal}")))
    check(v.find_element(By.ID, "status").text == "approved", "the approval stands meanwhile", v)
finally:
    customer.quit()
    vetter.quit()
    approver.quit()

print(json.dumps({"axe": portal.AXE_RESULTS, "application": number, "renewal": renewal}))
