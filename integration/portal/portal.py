"""Reusable steps of the customer portal in real headless Chromium
(Debian chromium and chromedriver, selenium from the test venv), for the
portal's browser scenarios (integration/portal_browser.rs runs
foundation.py; the applications and certificates scenarios import this
module the same way: a script in this directory puts it on `sys.path`).

    d = portal.browser()
    portal.signup(d, origin, email, password)          # the agreement accepted
    link = portal.read_verification_link(mail_dir, email)
    portal.verify(d, link)
    portal.login(d, origin, email, password)
    bad = portal.axe(d, "home", axe_path)              # serious/critical only
    portal.new_customer(d, origin, mail_dir, email, password)  # all of it

Every step asserts with `check`, which exits non-zero with the page's
URL and source on stderr."""

import glob
import json
import os
import re
import sys
import time

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

WAIT = 30  # seconds: generous on a loaded 2-core machine
AXE_RESULTS = {}

# The account holder's data a test customer signs up with (form field ids).
HOLDER = {
    "contact_name": "山田 太郎",
    "organization": "例示株式会社",
    "department": "情報システム部",
    "postal_code": "100-0005",
    "address": "東京都千代田区丸の内1-1-1",
    "phone": "03-1234-5678",
    "fax": "03-1234-5679",
}


def browser(lang="ja"):
    """A headless Chromium asking for `lang` first."""
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900",
              f"--lang={lang}", "--disable-dev-shm-usage"]:
        opts.add_argument(a)
    other = "en" if lang == "ja" else "ja"
    opts.add_experimental_option("prefs", {"intl.accept_languages": f"{lang},{other}"})
    d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    d.set_page_load_timeout(WAIT)
    d.set_script_timeout(WAIT)
    return d


def check(cond, what, d):
    if not cond:
        sys.stderr.write(f"FAILED: {what}\nURL: {d.current_url}\n{d.page_source}\n")
        sys.exit(1)


def gone(element):
    """Whether `element`'s page has been replaced (chromedriver may call a
    node looked up mid-navigation "not in the document": gone too)."""
    try:
        element.is_enabled()
        return False
    except StaleElementReferenceException:
        return True
    except WebDriverException as e:
        if "does not belong to the document" in str(e):
            return True
        raise


def navigates(d, action):
    """Runs `action` (a click) and waits until the page it leaves is gone
    and the next one has its main element."""
    old = d.find_element(By.TAG_NAME, "html")
    action()
    WebDriverWait(d, WAIT).until(lambda _: gone(old))
    WebDriverWait(d, WAIT).until(ec.presence_of_element_located((By.TAG_NAME, "main")))


def open_page(d, url):
    d.get(url)
    WebDriverWait(d, WAIT).until(ec.presence_of_element_located((By.TAG_NAME, "main")))


def axe(d, page, axe_path):
    """axe-core on the current page; records the result under `page` in
    AXE_RESULTS and returns the serious or critical violations."""
    with open(axe_path, encoding="utf-8") as f:
        d.execute_script(f.read())
    result = d.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document).then(r => done(r.violations.map(v => "
        "({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length}))));"
    )
    bad = [v for v in result if v["impact"] in ("serious", "critical")]
    AXE_RESULTS[page] = {"violations": len(result), "serious_or_critical": bad}
    return bad


def shot(d, directory, name):
    """A PNG of the page when `directory` is set (docs/portal.md)."""
    if directory:
        d.save_screenshot(os.path.join(directory, f"{name}.png"))


def fill(d, values):
    """Types each value into the input with that id (cleared first)."""
    for field, value in values.items():
        e = d.find_element(By.ID, field)
        e.clear()
        e.send_keys(value)


def signup_form(d, origin, email, password, holder=None, agree=True):
    """Opens /signup and fills the form (not submitted)."""
    open_page(d, origin + "/signup")
    check(d.find_element(By.ID, "agreement-text").text.strip() != "", "the agreement is shown", d)
    fill(d, {"email": email, "password": password, "password_again": password})
    fill(d, holder or HOLDER)
    box = d.find_element(By.ID, "agree")
    if box.is_selected() != agree:
        box.click()


def signup(d, origin, email, password, holder=None):
    """Signs up with the agreement accepted; ends on "check your e-mail"."""
    signup_form(d, origin, email, password, holder)
    navigates(d, d.find_element(By.ID, "create-account").click)
    check(d.current_url == origin + "/signup/sent", f"signed up as {email}", d)


def read_verification_link(mail_dir, email, timeout=60, after=0.0):
    """The confirmation link in the newest mail to `email` that the SMTP
    sink (integration/smtp_sink.py) wrote to `mail_dir` at or after time
    `after` (seconds since the epoch), waiting up to `timeout` seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = None
        for path in sorted(glob.glob(os.path.join(mail_dir, "*.json"))):
            if int(os.path.basename(path).split("-")[0]) < after * 1e9:
                continue
            with open(path, encoding="utf-8") as f:
                m = json.load(f)
            if email.lower() in [r.lower() for r in m["rcpt_tos"]]:
                link = re.search(r"https?://\S+/verify\?token=[A-Za-z0-9_-]+", m["body"])
                if link:
                    found = link.group(0)
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"no confirmation mail to {email} in {mail_dir} within {timeout} s")


def verify(d, link):
    """Opens the mailed link and confirms; ends on the confirmed page."""
    open_page(d, link)
    navigates(d, d.find_element(By.ID, "confirm-email").click)
    check(d.find_element(By.ID, "next").get_attribute("href").endswith("/login"),
          "the address is confirmed, on to log in", d)


def login(d, origin, email, password, path="/"):
    """Logs in from `path` (a page behind the login); ends on that page."""
    open_page(d, origin + path)
    if d.find_elements(By.ID, "sign-in"):
        fill(d, {"email": email, "password": password})
        navigates(d, d.find_element(By.ID, "sign-in").click)
    check(d.find_elements(By.ID, "me") and d.find_element(By.ID, "me").text == email.lower(),
          f"signed in as {email}", d)


def logout(d):
    navigates(d, d.find_element(By.ID, "logout").click)
    check(d.find_elements(By.ID, "sign-in"), "logged out: the login page", d)


def new_customer(d, origin, mail_dir, email, password):
    """Sign-up → the link from the real SMTP sink → confirm → login."""
    started = time.time()
    signup(d, origin, email, password)
    verify(d, read_verification_link(mail_dir, email, after=started - 1))
    login(d, origin, email, password)
