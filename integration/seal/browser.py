"""The trust seal in real headless Chromium (Debian chromium and chromedriver)
through WebDriver (selenium), as integration/seal_browser.rs sets it up: an
example site (a local HTML file) embeds the snippet `trustgate org seal`
printed, for the domain the organization holds a certificate for; the SVG
must load and render, and clicking it opens the verification page, which
must say verified and name the organization; the page for another domain
must say not verified. Screenshots go to SEAL_TEST["shots"].

Each step asserts; a failure exits non-zero with what was on the page."""

import json
import os
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

ARGS = json.loads(os.environ["SEAL_TEST"])
WAIT = 30  # seconds: generous on a loaded 2-core machine


def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=900,700",
              "--lang=ja", "--disable-dev-shm-usage"]:
        opts.add_argument(a)
    opts.add_experimental_option("prefs", {"intl.accept_languages": "ja,en"})
    d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    d.set_page_load_timeout(WAIT)
    return d


def check(cond, what, d):
    if not cond:
        print(f"FAILED: {what}\n--- page ---\n{d.page_source[:4000]}", file=sys.stderr)
        d.quit()
        sys.exit(1)


def main():
    d = browser()
    shots = ARGS["shots"]
    # The organization's site, with the snippet as printed (the domain
    # added, as a file:// page sends no Referer host).
    snippet = ARGS["snippet"].replace(".svg\"", ".svg?domain=" + ARGS["domain"] + "\"")
    snippet = snippet.replace(ARGS["seal"] + "\" target", ARGS["seal"] + "?domain=" + ARGS["domain"] + "\" target")
    site = os.path.join(shots, "site.html")
    with open(site, "w", encoding="utf-8") as f:
        f.write("<!doctype html><html lang=ja><meta charset=utf-8><title>例示株式会社</title>"
                "<body style='font-family:sans-serif;margin:2em'><h1>例示株式会社</h1>"
                "<p>当社のサイトは認証局の審査を受けています。</p>" + snippet + "</body></html>")
    d.get("file://" + site)
    img = WebDriverWait(d, WAIT).until(ec.presence_of_element_located((By.TAG_NAME, "img")))
    WebDriverWait(d, WAIT).until(
        lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", img))
    size = d.execute_script("return [arguments[0].naturalWidth, arguments[0].naturalHeight]", img)
    check(size == [240, 72], f"the seal renders at 240x72 (got {size})", d)
    d.save_screenshot(os.path.join(shots, "seal-site.png"))

    # The image itself: an SVG document that says verified.
    d.get(ARGS["origin"] + "/seal/" + ARGS["seal"] + ".svg?domain=" + ARGS["domain"])
    root = d.execute_script("return document.documentElement.tagName")
    check(root == "svg", f"the image is an SVG document (got {root})", d)
    check("認証済み" in d.page_source, "the image says 認証済み", d)

    # A click on the seal opens the verification page in a new tab.
    d.get("file://" + site)
    link = WebDriverWait(d, WAIT).until(ec.element_to_be_clickable((By.TAG_NAME, "a")))
    link.click()
    WebDriverWait(d, WAIT).until(lambda d: len(d.window_handles) == 2)
    d.switch_to.window(d.window_handles[1])
    verdict = WebDriverWait(d, WAIT).until(ec.presence_of_element_located((By.ID, "verdict")))
    check(verdict.get_attribute("data-verified") == "true", "the page says verified", d)
    check("認証済み" in verdict.text, "in Japanese", d)
    org = d.find_element(By.ID, "organization").text
    check(org == ARGS["organization"], f"the page names the organization (got {org})", d)
    check(ARGS["domain"] in d.find_element(By.ID, "domain").text, "and the domain", d)
    d.save_screenshot(os.path.join(shots, "seal.png"))

    # Another domain of the same organization: not verified, with why.
    d.get(ARGS["origin"] + "/seal/" + ARGS["seal"] + "?domain=other.example.jp&lang=en")
    verdict = WebDriverWait(d, WAIT).until(ec.presence_of_element_located((By.ID, "verdict")))
    check(verdict.get_attribute("data-verified") == "false", "another domain is not verified", d)
    reason = d.find_element(By.ID, "reason").text
    check("no certificate for this domain" in reason, f"with the reason (got {reason})", d)
    d.save_screenshot(os.path.join(shots, "seal-not-verified.png"))
    d.quit()
    print(json.dumps({"ok": True, "size": size}))


main()
