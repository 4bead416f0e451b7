"""Drives intake's guest survey page in a real headless browser (Debian's chromium + chromedriver,
python3-selenium), at a phone's screen size, and prints what it saw as one JSON object.

Usage: survey_browser.py BASE_URL GOOD_TOKEN TAMPERED_TOKEN EXPIRED_TOKEN SCREENSHOT_DIR
"""
import json
import os
import shutil
import sys
import signal
import tempfile

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait


def page(driver):
    """The visible essentials of the current page, read again if the page is swapped mid-read
    (chromium reports a node of the replaced document as not belonging to it)."""
    for attempt in range(5):
        try:
            return read_page(driver)
        except WebDriverException:
            if attempt == 4:
                raise
            WebDriverWait(driver, 15).until(loaded)


def loaded(driver):
    return driver.execute_script("return document.readyState") == "complete"


def read_page(driver):
    body = driver.find_element(By.TAG_NAME, "body").text
    return {
        "lang": driver.find_element(By.TAG_NAME, "html").get_attribute("lang"),
        "title": driver.title,
        "heading": driver.find_element(By.TAG_NAME, "h1").text,
        "text": body,
        "hasForm": len(driver.find_elements(By.ID, "survey")) > 0,
        "errors": [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#errors li")],
        # Mobile-friendly: nothing wider than the phone's screen.
        "fitsScreen": driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth"),
    }


def submit(driver):
    """Sends the form and waits for the answer page to replace it (clicking returns before it loads)."""
    button = driver.find_element(By.ID, "submit")
    button.click()
    WebDriverWait(driver, 15).until(lambda _: gone(button))
    WebDriverWait(driver, 15).until(loaded)


def gone(element):
    """Whether the element's document was replaced. Chromium says so either as a stale reference or,
    caught mid-swap, as "Node with given id does not belong to the document" (an inspector error that
    selenium's staleness_of does not expect)."""
    try:
        element.is_enabled()
        return False
    except WebDriverException:
        return True


def main():
    # The Swift test runner blocks SIGTERM and children inherit the mask: unblock it so stop() works,
    # and end through `finally`, which quits chromedriver and Chromium instead of leaving them behind.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM])
    base, good, tampered, expired, shots = sys.argv[1:6]
    # Chromium leaves a folder for its singleton socket in TMPDIR after quitting; give it one that goes with us.
    scratch = tempfile.mkdtemp(prefix="redress-chromium-")
    os.environ["TMPDIR"] = scratch
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=390,844",
                     "--lang=en-US"]:
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    seen = {}
    try:
        driver.set_page_load_timeout(30)
        driver.get(base + "/survey/" + good)
        seen["form"] = page(driver)
        driver.save_screenshot(shots + "/survey-form.png")

        # Sent without choosing anything: the page says what is missing and keeps the form.
        submit(driver)
        seen["incomplete"] = page(driver)

        # An unhappy guest: satisfaction 2, would not recommend (3), a comment in their own words.
        driver.find_element(By.CSS_SELECTOR, "input[name=satisfaction][value='2']").click()
        driver.find_element(By.CSS_SELECTOR, "input[name=recommend][value='3']").click()
        driver.find_element(By.ID, "comment").send_keys("空调还是不制冷")
        submit(driver)
        seen["answered"] = page(driver)
        driver.save_screenshot(shots + "/survey-thanks.png")

        # The same link again, then altered and expired ones.
        driver.get(base + "/survey/" + good)
        seen["again"] = page(driver)
        driver.get(base + "/survey/" + tampered)
        seen["tampered"] = page(driver)
        driver.get(base + "/survey/" + expired)
        seen["expired"] = page(driver)
    except Exception as error:  # reported to the Swift test, which fails with it
        seen["error"] = "%s: %s" % (type(error).__name__, error)
    finally:
        driver.quit()
        shutil.rmtree(scratch, ignore_errors=True)
    print(json.dumps(seen, ensure_ascii=False))


if __name__ == "__main__":
    main()
