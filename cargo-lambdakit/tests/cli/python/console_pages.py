"""Opens the console of a serve that asks for a token, the token given in the address
(`#token=...`), and pages through its invocations. Keeps a screenshot.

Usage: console_pages.py CONSOLE_URL_WITH_TOKEN SCREENSHOT_DIR
Prints one JSON document of what it found; exits non-zero when a check fails."""

import os
import sys

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as seen
from selenium.webdriver.support.ui import WebDriverWait

from browser import run

url, shots = sys.argv[1:3]


def check(browser, found):
    wait = WebDriverWait(browser, 20)
    rows = lambda: len(browser.find_elements(By.CSS_SELECTOR, "#invocations tbody tr"))
    browser.get(url)
    wait.until(seen.text_to_be_present_in_element((By.ID, "status"), "live"))
    found["address"] = browser.current_url
    wait.until(lambda b: rows() > 0)
    found["first_page"] = rows()
    found["kept"] = browser.find_element(By.ID, "kept").text
    browser.find_element(By.ID, "older").click()
    wait.until(lambda b: rows() != found["first_page"])
    found["second_page"] = rows()
    found["older_disabled"] = not browser.find_element(By.ID, "older").is_enabled()
    browser.find_element(By.ID, "newer").click()
    wait.until(lambda b: rows() == found["first_page"])
    found["back"] = rows()
    browser.save_screenshot(os.path.join(shots, "pages.png"))


run(check, shots, "pages-failure.png")
