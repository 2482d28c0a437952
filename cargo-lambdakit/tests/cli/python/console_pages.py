"""Opens the console of a serve that asks for a token, the token given in the address
(`#token=...`), and pages through its invocations. Keeps a screenshot.

Usage: console_pages.py CONSOLE_URL_WITH_TOKEN SCREENSHOT_DIR
Prints one JSON document of what it found; exits non-zero when a check fails."""

import json
import os
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as seen
from selenium.webdriver.support.ui import WebDriverWait

url, shots = sys.argv[1:3]
os.makedirs(shots, exist_ok=True)
options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for argument in ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900"]:
    options.add_argument(argument)
browser = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
wait = WebDriverWait(browser, 20)
rows = lambda: len(browser.find_elements(By.CSS_SELECTOR, "#invocations tbody tr"))
found = {}
try:
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
    found["ok"] = True
except Exception as error:  # what went wrong, with the page as it was
    found["ok"] = False
    found["error"] = f"{type(error).__name__}: {error}"
    browser.save_screenshot(os.path.join(shots, "pages-failure.png"))
    found["page"] = browser.find_element(By.TAG_NAME, "body").text[:4000]
finally:
    browser.quit()
print(json.dumps(found))
sys.exit(0 if found["ok"] else 1)
