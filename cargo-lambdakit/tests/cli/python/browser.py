"""What the console's browser checks share: headless Chromium through ChromeDriver, and the
way a check reports (one JSON document, a screenshot of the page when it fails)."""

import json
import os
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service


def open_browser():
    """Headless Debian Chromium at a laptop's size."""
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900"]:
        options.add_argument(argument)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def run(check, shots, failure):
    """Runs `check(browser, found)`, then prints what it found and exits non-zero when it
    failed, after a screenshot named `failure` of the page as it was."""
    os.makedirs(shots, exist_ok=True)
    browser = open_browser()
    found = {}
    try:
        check(browser, found)
        found["ok"] = True
    except Exception as error:  # what went wrong, with the page as it was
        from selenium.webdriver.common.by import By

        found["ok"] = False
        found["error"] = f"{type(error).__name__}: {error}"
        browser.save_screenshot(os.path.join(shots, failure))
        found["page"] = browser.find_element(By.TAG_NAME, "body").text[:4000]
    finally:
        browser.quit()
    print(json.dumps(found))
    sys.exit(0 if found["ok"] else 1)
