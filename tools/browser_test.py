#!/usr/bin/env python3
"""Real-browser test of code-serve's web page (issue 26 item 5).

Against an already running code-serve (--url), headless Debian chromium driven by selenium:
opens the page at a phone-like width, uploads real images and broken ones through the file
input, waits for the results and checks, per file, that the rendered verdict equals what
POST /v1/detect answers for the same bytes (fetched here with urllib), and that a broken file
shows the "Could not be read" line with the service's reason. Also checks the page needs no
horizontal scrolling at that width and that the model-card note is shown. Saves a screenshot.

Exit code 0 when every check passes, 1 on a failed check, 2 when chromium/chromedriver or
selenium is missing. `make test-browser` starts the server and runs this.
"""
import argparse
import json
import os
import shutil
import sys
import urllib.error
import urllib.request

VERDICT_TEXT = {"real": "Real", "fake": "Fake (generated)"}


def fail(msg, code=1):
    print(f"browser_test: FAIL: {msg}", file=sys.stderr)
    sys.exit(code)


def detect(url, path):
    """What the API says for one file posted as a raw body, as the page posts it."""
    data = open(path, "rb").read()
    req = urllib.request.Request(url.rstrip("/") + "/v1/detect", data=data, method="POST",
                                 headers={"Content-Type": "application/octet-stream"})
    try:
        with urllib.request.urlopen(req, timeout=300) as r:
            return json.load(r)["results"][0]
    except urllib.error.HTTPError as e:
        body = json.load(e)
        return {"status": "error", "error": body["error"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True, help="base URL of a running code-serve, e.g. http://127.0.0.1:8080/")
    ap.add_argument("--image", action="append", required=True, help="a readable image (repeatable)")
    ap.add_argument("--bad", action="append", required=True, help="a broken image file (repeatable)")
    ap.add_argument("--screenshot", required=True, help="where to save the PNG screenshot")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    ap.add_argument("--width", type=int, default=412, help="window width in CSS pixels (phone-like)")
    args = ap.parse_args()

    for exe, pkg in [(args.chromium, "chromium"), (args.chromedriver, "chromium-driver")]:
        if not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
            fail(f"{exe} not found: install Debian's {pkg} (apt-get install chromium chromium-driver; make test-browser does)", 2)
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait
    except ImportError as e:
        fail(f"selenium is not installed ({e}): pip install -r Tests/Browser/requirements.txt", 2)

    files = [os.path.abspath(p) for p in args.image + args.bad]
    expected = {}
    for p in files:
        res = detect(args.url, p)
        expected[os.path.basename(p)] = res
    for p in args.bad:
        if expected[os.path.basename(p)]["status"] != "error":
            fail(f"{p} is meant to be broken but /v1/detect read it")
    for p in args.image:
        if expected[os.path.basename(p)]["status"] != "ok":
            fail(f"{p} is meant to be readable but /v1/detect says {expected[os.path.basename(p)]}")

    opts = webdriver.ChromeOptions()
    opts.binary_location = args.chromium
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              f"--window-size={args.width},900"]:
        opts.add_argument(a)
    driver = webdriver.Chrome(service=Service(args.chromedriver), options=opts)
    try:
        driver.set_page_load_timeout(30)
        driver.get(args.url)
        wait = WebDriverWait(driver, 300)
        # The model description has loaded once the classifier menu has options.
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#classifier option"))
        file_input = driver.find_element(By.ID, "files")
        label = driver.find_element(By.CSS_SELECTOR, "label[for=files]")
        if not label.text.strip():
            fail("the file input has no label text")
        file_input.send_keys("\n".join(files))
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#results li.result")) == len(files)
                   and not d.find_elements(By.CSS_SELECTOR, "#results .pending"))
        problems = []
        seen = set()
        for li in driver.find_elements(By.CSS_SELECTOR, "#results li.result"):
            name = li.find_element(By.CSS_SELECTOR, ".name").text
            seen.add(name)
            want = expected.get(name)
            if want is None:
                problems.append(f"unexpected result row {name!r}")
                continue
            verdicts = li.find_elements(By.CSS_SELECTOR, ".verdict")
            errors = li.find_elements(By.CSS_SELECTOR, ".error")
            if want["status"] == "ok":
                got = verdicts[0].text if verdicts else None
                if got != VERDICT_TEXT[want["verdict"]]:
                    problems.append(f"{name}: page shows verdict {got!r}, /v1/detect says {want['verdict']!r}")
                if not li.find_elements(By.CSS_SELECTOR, ".bar .fill"):
                    problems.append(f"{name}: no score bar")
                details = li.find_elements(By.CSS_SELECTOR, ".info div.small")
                if not details:
                    problems.append(f"{name}: no detail line; row reads {li.text!r}")
                    continue
                detail = details[-1].text
                if f"score {want['score']:.4f}" not in detail or f"classifier {want['classifier']}" not in detail:
                    problems.append(f"{name}: detail line {detail!r} does not give score {want['score']:.4f} / {want['classifier']}")
                print(f"browser_test: {name}: {got} (score {want['score']:.4f}, {want['classifier']})")
            else:
                got = errors[0].text if errors else None
                line = "Could not be read: " + want["error"]["message"]
                if got != line or verdicts:
                    problems.append(f"{name}: page shows {got!r} (verdicts {len(verdicts)}), want {line!r}")
                print(f"browser_test: {name}: {got}")
        if seen != set(expected):
            problems.append(f"rows {sorted(seen)} != files {sorted(expected)}")
        note = driver.find_element(By.ID, "summary").text
        if not note.strip():
            problems.append("the model-card note is empty")
        overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        if overflow > 0:
            problems.append(f"the page scrolls sideways by {overflow}px at width {args.width}")
        live = driver.find_element(By.ID, "results").get_attribute("aria-live")
        if live != "polite":
            problems.append(f"results aria-live is {live!r}")
        os.makedirs(os.path.dirname(os.path.abspath(args.screenshot)), exist_ok=True)
        # The whole page: resize to its height first.
        h = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(args.width, min(max(h, 600), 4000))
        driver.save_screenshot(args.screenshot)
        print(f"browser_test: screenshot {args.screenshot}")
        if problems:
            for p in problems:
                print(f"browser_test: FAIL: {p}", file=sys.stderr)
            sys.exit(1)
        print(f"browser_test: OK ({len(files)} files, {len(args.bad)} broken)")
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
