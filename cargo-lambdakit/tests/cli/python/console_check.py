"""Opens serve's console in headless Chromium (through ChromeDriver) and checks what a user
sees: the functions, the invocations as they end, an invocation's detail with its trace's
waterfall, an invocation made from the page, and a state machine's execution as a graph.
Keeps a screenshot of each view.

Usage: console_check.py CONSOLE_URL SCREENSHOT_DIR REQUEST_ID FAILED_REQUEST_ID
Prints one JSON document of what it found; exits non-zero when a check fails."""

import os
import sys

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as seen
from selenium.webdriver.support.ui import Select, WebDriverWait

from browser import run

url, shots, request_id, failed_id = sys.argv[1:5]


def check(browser, found):
    wait = WebDriverWait(browser, 20)
    browser.get(url)
    wait.until(seen.text_to_be_present_in_element((By.ID, "status"), "live"))
    row = f'#invocations tbody tr[data-request-id="{request_id}"]'
    wait.until(seen.presence_of_element_located((By.CSS_SELECTOR, row)))
    found["functions"] = [
        cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "#functions tbody th")
    ]
    found["rows"] = len(browser.find_elements(By.CSS_SELECTOR, "#invocations tbody tr"))
    failed = browser.find_element(By.CSS_SELECTOR, f'#invocations tbody tr[data-request-id="{failed_id}"]')
    found["failed_outcome"] = failed.find_elements(By.TAG_NAME, "td")[8].text
    browser.save_screenshot(os.path.join(shots, "invocations.png"))

    # The keyboard opens a row with Enter; a click opens another.
    first = browser.find_element(By.CSS_SELECTOR, "#invocations tbody tr")
    first.send_keys(Keys.ENTER)
    wait.until(seen.visibility_of_element_located((By.ID, "detail")))
    target = browser.find_element(By.CSS_SELECTOR, row)
    target.click()
    wait.until(seen.text_to_be_present_in_element((By.ID, "detail-title"), request_id))
    found["detail_event"] = browser.find_element(By.ID, "detail-event").text
    found["detail_logs"] = browser.find_element(By.ID, "detail-logs").text
    wait.until(seen.presence_of_element_located((By.CSS_SELECTOR, "#waterfall li .bar")))
    found["waterfall"] = [
        item.text for item in browser.find_elements(By.CSS_SELECTOR, "#waterfall li")
    ]
    browser.execute_script("document.getElementById('trace').scrollIntoView()")
    browser.save_screenshot(os.path.join(shots, "detail.png"))

    # Invoke from the page: the answer opens, and joins the list as any invocation does.
    before = found["rows"]
    Select(browser.find_element(By.ID, "invoke-function")).select_by_visible_text("behave")
    payload = browser.find_element(By.ID, "invoke-payload")
    payload.clear()
    payload.send_keys('{"print": "from the page"}')
    browser.find_element(By.CSS_SELECTOR, "#invoke button[type=submit]").click()
    wait.until(seen.text_to_be_present_in_element((By.ID, "invoke-result"), "behave: OK"))
    wait.until(seen.text_to_be_present_in_element((By.ID, "detail-logs"), "from the page"))
    wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "#invocations tbody tr")) > before)
    found["invoked_trigger"] = browser.find_element(By.CSS_SELECTOR, "#invocations tbody tr td:nth-child(3)").text
    browser.save_screenshot(os.path.join(shots, "invoked.png"))

    # The state machine's execution: its graph, each state's outcome in words, its events.
    execution = wait.until(seen.presence_of_element_located((By.CSS_SELECTOR, "#executions tbody tr")))
    found["execution_row"] = execution.text
    execution.send_keys(Keys.ENTER)
    wait.until(seen.presence_of_element_located((By.CSS_SELECTOR, "#graph svg g.node")))
    found["states"] = {
        row.find_element(By.TAG_NAME, "th").text: row.find_elements(By.TAG_NAME, "td")[1].text
        for row in browser.find_elements(By.CSS_SELECTOR, "#states tbody tr")
    }
    found["nodes"] = {
        node.get_attribute("data-state"): node.get_attribute("class")
        for node in browser.find_elements(By.CSS_SELECTOR, "#graph g.node")
    }
    found["events"] = [
        row.find_elements(By.TAG_NAME, "td")[2].text
        for row in browser.find_elements(By.CSS_SELECTOR, "#timeline tbody tr")
    ]
    browser.execute_script("document.getElementById('execution').scrollIntoView()")
    browser.save_screenshot(os.path.join(shots, "execution.png"))


run(check, shots, "failure.png")
