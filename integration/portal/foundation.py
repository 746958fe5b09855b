"""The portal's foundation in headless Chromium, as
integration/portal_browser.rs sets it up (PORTAL_TEST: the origin, the
SMTP sink's directory, axe-core's script, the agreement's version, where
screenshots go): a sign-up with one field wrong shows the message beside
that field; the corrected sign-up sends a confirmation link through the
real SMTP server; login is refused until the link confirms the address;
home, agreement, the language switch, logout. axe-core runs on every
page. The last line printed is a JSON summary."""

import json
import os
import sys
import time

from selenium.webdriver.common.by import By

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import portal  # noqa: E402
from portal import check, navigates, open_page  # noqa: E402

ARGS = json.loads(os.environ["PORTAL_TEST"])
ORIGIN = ARGS["origin"]
AXE = ARGS["axe"]
SHOTS = ARGS.get("screenshots")
EMAIL = "Yamada.Taro@example.jp"
PASSWORD = "a long enough passphrase"


def axe_clean(d, page):
    portal.shot(d, SHOTS, page)
    bad = portal.axe(d, page, AXE)
    check(not bad, f"axe on {page}: {bad}", d)


d = portal.browser("ja")
try:
    open_page(d, ORIGIN + "/")
    check("/login" in d.current_url, "no session: the login page", d)
    axe_clean(d, "login")

    # One field wrong: its message beside it, the rest kept.
    portal.signup_form(d, ORIGIN, EMAIL, PASSWORD, dict(portal.HOLDER, postal_code="1000-05"))
    axe_clean(d, "signup")
    started = time.time()
    navigates(d, d.find_element(By.ID, "create-account").click)
    err = d.find_elements(By.ID, "postal_code-error")
    check(err and "123-4567" in err[0].text, "the postal code's message beside it", d)
    check(d.find_element(By.ID, "postal_code").get_attribute("aria-invalid") == "true",
          "the field is marked invalid", d)
    check(len(d.find_elements(By.CLASS_NAME, "field-error")) == 1, "only that field", d)
    check(d.find_element(By.ID, "organization").get_attribute("value") == portal.HOLDER["organization"],
          "the other values are kept", d)
    check(d.find_element(By.ID, "password").get_attribute("value") == "", "never a password", d)
    axe_clean(d, "signup-invalid")

    # Corrected: the passwords again, the box still ticked.
    portal.fill(d, {"postal_code": "100-0005", "password": PASSWORD, "password_again": PASSWORD})
    check(d.find_element(By.ID, "agree").is_selected(), "the acceptance is kept", d)
    navigates(d, d.find_element(By.ID, "create-account").click)
    check(d.current_url == ORIGIN + "/signup/sent", "check your e-mail", d)
    axe_clean(d, "signup-sent")

    link = portal.read_verification_link(ARGS["mail_dir"], EMAIL, after=started - 1)
    check(link.startswith(ORIGIN + "/verify?token="), f"the link is the portal's: {link}", d)

    # Not before the address is confirmed.
    open_page(d, ORIGIN + "/login")
    portal.fill(d, {"email": EMAIL, "password": PASSWORD})
    navigates(d, d.find_element(By.ID, "sign-in").click)
    check("確認が済んでいません" in d.find_element(By.ID, "error").text, "unconfirmed: refused", d)

    open_page(d, link)
    axe_clean(d, "verify")
    navigates(d, d.find_element(By.ID, "confirm-email").click)
    axe_clean(d, "verified")
    open_page(d, link)
    navigates(d, d.find_element(By.ID, "confirm-email").click)
    check("無効" in d.find_element(By.ID, "message").text, "the link works once", d)

    portal.login(d, ORIGIN, EMAIL, PASSWORD)
    check(d.current_url == ORIGIN + "/", "home after login", d)
    check(portal.HOLDER["contact_name"] in d.find_element(By.TAG_NAME, "h1").text, "greeted by name", d)
    check(d.find_elements(By.ID, "no-application"), "no application yet", d)
    axe_clean(d, "home")

    open_page(d, ORIGIN + "/agreement")
    check(d.find_element(By.ID, "agreement-version").text == ARGS["agreement_version"],
          "the version in force", d)
    check(d.find_element(By.ID, "accepted-version").text == ARGS["agreement_version"],
          "accepted at sign-up", d)
    axe_clean(d, "agreement")

    navigates(d, d.find_element(By.ID, "lang-switch").click)
    check(d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en", "English now", d)
    check(d.current_url == ORIGIN + "/agreement", "back on the same page", d)
    open_page(d, ORIGIN + "/")
    check(d.find_element(By.TAG_NAME, "h1").text.startswith("Welcome"), "home in English", d)
    axe_clean(d, "home-en")

    portal.logout(d)
    open_page(d, ORIGIN + "/")
    check("/login" in d.current_url, "the session is over", d)
finally:
    d.quit()

print(json.dumps({"axe": portal.AXE_RESULTS}))
