"""The console's browser steps other scenarios reuse (browser.py, the
portal's application.py): TOTP codes, a member's login with the one-time
password replaced, navigation that waits for the old page to go, one
check recorded through its form. Each step asserts with `check`, which
exits non-zero with the page on stderr."""

import base64
import hashlib
import hmac
import struct
import sys
import time

from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

WAIT = 30  # seconds: generous on a loaded 2-core machine


def totp(secret_b32, at=None):
    """RFC 6238: HMAC-SHA1, 30-second steps, 6 digits."""
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    step = int((at or time.time()) // 30)
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    code = (struct.unpack(">I", mac[off : off + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{code:06d}"


def check(cond, what, d):
    if not cond:
        sys.stderr.write(f"FAILED: {what}\nURL: {d.current_url}\n{d.page_source}\n")
        sys.exit(1)


def gone(element):
    """Whether `element`'s page has been replaced. chromedriver reports a
    node it looks up mid-navigation as "does not belong to the document"
    (an unknown error) rather than as a stale reference; both mean gone."""
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
    """Runs `action` (a click, a back) and waits until the page it leaves
    is gone: an element of the old page must never answer for the new."""
    old = d.find_element(By.TAG_NAME, "html")
    action()
    WebDriverWait(d, WAIT).until(lambda _: gone(old))


def login(d, origin, member, expect_return, on_password_page=None):
    """Logs `member` (name, one-time password, TOTP secret from `trustgate
    staff add`) in from `expect_return`, replaces the one-time password
    (calling `on_password_page(d)` on that page) and ends on
    `expect_return`."""
    d.get(origin + expect_return)
    WebDriverWait(d, WAIT).until(ec.presence_of_element_located((By.ID, "sign-in")))
    check("/console/login?return=" in d.current_url, "no session: the login page, with a return path", d)
    d.find_element(By.ID, "name").send_keys(member["name"])
    d.find_element(By.ID, "password").send_keys(member["password"])
    d.find_element(By.ID, "code").send_keys(totp(member["totp_secret"]))
    navigates(d, d.find_element(By.ID, "sign-in").click)
    WebDriverWait(d, WAIT).until(ec.presence_of_element_located((By.ID, "me")))
    check(d.find_element(By.ID, "me").text == member["name"], "signed in as the member", d)
    # The one-time password from `staff add` must be replaced first.
    check(d.current_url == origin + "/console/password", "the one-time password is replaced first", d)
    if on_password_page:
        on_password_page(d)
    own = "own password of " + member["name"]
    d.find_element(By.ID, "new").send_keys(own)
    d.find_element(By.ID, "again").send_keys(own)
    navigates(d, d.find_element(By.ID, "change-password").click)
    WebDriverWait(d, WAIT).until(ec.presence_of_element_located((By.TAG_NAME, "main")))
    check(d.current_url == origin + "/console/", "on to the queue after the change", d)
    if expect_return != "/console/":
        d.get(origin + expect_return)


def record_check(d, kind, texts, selects=()):
    """Records the check `kind` on the organization's page through its form."""
    form = d.find_element(By.ID, f"check-{kind}")
    for name, value in texts:
        form.find_element(By.NAME, name).send_keys(value)
    for name, value in selects:
        Select(form.find_element(By.NAME, name)).select_by_value(value)
    navigates(d, form.find_element(By.ID, f"record-{kind}").click)
    WebDriverWait(d, WAIT).until(ec.presence_of_element_located((By.ID, f"check-{kind}")))
    check(not d.find_elements(By.ID, "error"), f"{kind} recorded", d)


def record_ov_checks(d):
    """The three checks an OV approval needs, as a vetter records them."""
    record_check(d, "existence", [("reference", "TDB企業コード 123456789"), ("notes", "一致")],
                 [("source", "tdb")])
    record_check(d, "phone_intent", [("number_called", "03-1234-5678"), ("person_reached", "佐藤花子")],
                 [("number_source", "ntt104")])
    record_check(d, "domain_scope", [])
