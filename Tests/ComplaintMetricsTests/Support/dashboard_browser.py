"""Drives the metrics service's manager dashboard in a real headless browser (Debian's chromium +
chromedriver, python3-selenium) at a desktop screen size, and prints what it saw as JSON lines.

Usage: dashboard_browser.py BASE_URL API_KEY HOTEL SCREENSHOT_PATH STEP

STEP `load-after-outage` is `load` with the page's first GET v1/hotels answered 503 (the service restarting
as a wall display reloads) and its first GET v1/live refused (so it shows its reconnect countdown): the page
must come back by itself, without a reload. Its snapshot adds "hotelsRefused" and "statusAnnouncements":
every text #live-status (role=status) gave screen readers, leaving out what is aria-hidden.

STEP `load-with-burst` is `load` with the page's first GET v1/live answered by the page itself: an event of
HOTEL every 200 ms for 8 s, then the end of the stream (as a busy hotel, or a fire alarm). Once the burst
is over it prints the snapshot with "refreshesDuringBurst": the refreshes that completed while it lasted.

STEP `load` opens BASE_URL/?hotel=HOTEL&lang=zh-CN#key=API_KEY, waits (up to 20 s) until the page has
loaded (body[data-loaded="true"]) and follows the live stream (#live-status[data-state="live"]), prints
one JSON object (see `snapshot`), saves a screenshot to SCREENSHOT_PATH and then keeps the browser open,
reading commands from stdin, one a line:

  wait-refresh N   waits (up to 20 s) until body[data-refreshes] > N and the open-complaints table differs
                   from the last one printed, then prints the snapshot again with "liveFeed" and saves a
                   screenshot to SCREENSHOT_PATH with "-after" before ".png"
  wait-resync N    waits (up to 20 s) until the page heard `event: resync` (body[data-resyncs] > 0) and
                   refreshed after it (body[data-refreshes] > N), then prints the snapshot (with "liveFeed")
  read             prints the snapshot (with "liveFeed") at once, without waiting
  mark-feed        marks every item of the live feed (li[data-marked]) and prints {"marked": N}: a snapshot's
                   "feedMarked" then counts the items that were not rebuilt since
  switch-during-refresh HOTEL
                   holds the page's next GET v1/kpis for 2 s and prints {"armed": true}; once the page asked
                   for it (the test publishes an event, and the page refreshes), picks HOTEL from the hotel
                   menu while that refresh is still running, waits (up to 20 s) until HOTEL's KPI tiles have
                   numbers, and prints the snapshot (with "liveFeed")
  fake-open-total N
                   from now on adds N - (listed) unlisted open complaints, all serious, to every GET v1/open answer
                   (as after a backlog past the 500 listed), prints {"armed": true}, waits (up to 20 s) until the
                   open summary shows N (the test publishes an event, and the page refreshes) and prints the snapshot
  quit             quits the browser and exits 0 (so does the end of stdin)

Every JSON object is one line, flushed at once. On any failure the script prints {"error": "..."} (with
the browser's console errors) and exits 1; the browser is always quit.
"""
import json
import os
import shutil
import signal
import sys
import tempfile

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait
from urllib.parse import quote

WAIT_SECONDS = 20

# One script, run in the page, so a snapshot is consistent (no refresh lands halfway through reading).
SNAPSHOT_SCRIPT = """
const tiles = {};
for (const tile of document.querySelectorAll('[data-kpi]')) {
  const value = tile.querySelector('.value');
  tiles[tile.getAttribute('data-kpi')] = value ? value.getAttribute('data-raw') : null;
}
const rows = Array.from(document.querySelectorAll('#open-complaints tbody tr[data-complaint]'));
const h1 = document.querySelector('h1');
const error = document.getElementById('error');
const live = document.getElementById('live-status');
return {
  tiles: tiles,
  openComplaints: rows.map(r => r.getAttribute('data-complaint')),
  alerts: Array.from(document.querySelectorAll('#alerts [data-alert]')).map(a => a.getAttribute('data-alert')),
  liveState: live ? live.getAttribute('data-state') : null,
  lang: document.documentElement.lang,
  refreshes: parseInt(document.body.dataset.refreshes || '0', 10),
  resyncs: parseInt(document.body.dataset.resyncs || '0', 10),
  title: document.title,
  headerText: h1 ? h1.innerText.trim() : null,
  hotel: (document.getElementById('hotel') || {}).value || null,
  lastUpdated: (document.getElementById('last-updated') || {}).textContent || null,
  error: error && !error.hidden ? error.innerText.trim() : null,
  signInShown: !document.getElementById('signin').hidden,
  fitsScreen: document.documentElement.scrollWidth <= window.innerWidth,
  liveFeed: Array.from(document.querySelectorAll('#live-feed li')).map(li => li.innerText.replace(/\\s+/g, ' ').trim()),
  feedMarked: document.querySelectorAll('#live-feed li[data-marked]').length,
  streamIdleLimit: document.body.dataset.streamIdleLimit || null,
  openTotal: (document.querySelector('#open-summary .summary-total') || { dataset: {} }).dataset.value || null,
  seriousOpen: (document.querySelector('#open-summary [data-count="severity:serious"]') || { dataset: {} }).dataset.value || null,
  openMore: document.getElementById('open-more') && !document.getElementById('open-more').hidden ? document.getElementById('open-more').innerText : null,
  tableSignature: rows.map(r => ['complaint', 'status', 'severity', 'category', 'level', 'vip', 'breached', 'deadline']
    .map(name => r.getAttribute('data-' + name)).join('|')).join('\\n'),
};
"""

PAGE_STATE_SCRIPT = """
const live = document.getElementById('live-status');
const error = document.getElementById('error');
return {
  loaded: document.body.dataset.loaded === 'true',
  live: live ? live.getAttribute('data-state') : null,
  refreshes: parseInt(document.body.dataset.refreshes || '0', 10),
  resyncs: parseInt(document.body.dataset.resyncs || '0', 10),
  signInShown: !document.getElementById('signin').hidden,
  error: error && !error.hidden ? error.innerText.trim() : null,
};
"""


# Injected before the page's own script: the first GET v1/hotels is answered 503, as while the service
# restarts, and the first GET v1/live fails; what the live status announces is recorded.
OUTAGE_SCRIPT = """
(function () {
  var original = window.fetch.bind(window);
  window.__hotelsRefused = 0;
  window.__liveRefused = 0;
  window.fetch = function (url, options) {
    if (window.__hotelsRefused < 1 && String(url).indexOf('v1/hotels') >= 0) {
      window.__hotelsRefused++;
      return Promise.resolve(new Response(JSON.stringify({ title: 'Service Unavailable', status: 503 }),
        { status: 503, headers: { 'Content-Type': 'application/problem+json' } }));
    }
    if (window.__liveRefused < 1 && String(url).indexOf('v1/live') >= 0) {
      window.__liveRefused++;
      return Promise.reject(new TypeError('Failed to fetch'));
    }
    return original(url, options);
  };
  window.__statusAnnouncements = [];
  document.addEventListener('DOMContentLoaded', function () {
    var status = document.getElementById('live-status');
    var record = function () {
      var copy = status.cloneNode(true);
      copy.querySelectorAll('[aria-hidden="true"]').forEach(function (n) { n.remove(); });
      var text = copy.textContent.replace(/\\s+/g, ' ').trim();
      var list = window.__statusAnnouncements;
      if (list[list.length - 1] !== text) list.push(text);
    };
    new MutationObserver(record).observe(status, { childList: true, characterData: true, subtree: true });
  });
})();
"""

# Injected before the page's own script: the first GET v1/live is a stream made here, one event every
# 200 ms for 8 s; the refreshes completed meanwhile are counted.
BURST_SCRIPT = """
(function () {
  var original = window.fetch.bind(window);
  var served = false;
  window.__burstEnded = false;
  window.__refreshesDuringBurst = 0;
  window.__burstStarted = false;
  window.fetch = function (url, options) {
    if (served || String(url).indexOf('v1/live') < 0) return original(url, options);
    served = true;
    var hotel = new URL(String(url), location.href).searchParams.get('hotel');
    var encoder = new TextEncoder();
    var stream = new ReadableStream({
      start: function (controller) {
        controller.enqueue(encoder.encode(': connected\\n\\n'));
        var sent = 0;
        var startRefreshes = null;
        var timer = setInterval(function () {
          if (startRefreshes === null) { startRefreshes = parseInt(document.body.dataset.refreshes || '0', 10); window.__burstStarted = true; }
          sent++;
          var data = { topic: 'received', kind: 'received', hotelId: hotel, complaintId: 'b' + sent, at: new Date().toISOString() };
          controller.enqueue(encoder.encode('event: complaint\\ndata: ' + JSON.stringify(data) + '\\n\\n'));
          if (sent >= 40) {
            clearInterval(timer);
            window.__refreshesDuringBurst = parseInt(document.body.dataset.refreshes || '0', 10) - startRefreshes;
            window.__burstEnded = true;
            controller.close();
          }
        }, 200);
      }
    });
    return Promise.resolve(new Response(stream, { status: 200, headers: { 'Content-Type': 'text/event-stream' } }));
  };
})();
"""

# Holds the next GET v1/kpis answer for 2 s, so that a refresh is still running when the hotel changes.
SLOW_KPIS_SCRIPT = """
if (!window.__slowInstalled) {
  window.__slowInstalled = true;
  var original = window.fetch.bind(window);
  window.fetch = function (url, options) {
    var answer = original(url, options);
    if (window.__slowArmed && String(url).indexOf('v1/kpis') >= 0) {
      window.__slowArmed = false;
      window.__slowStarted = true;
      return answer.then(function (r) { return new Promise(function (resolve) { setTimeout(function () { resolve(r); }, 2000); }); });
    }
    return answer;
  };
}
window.__slowArmed = true;
window.__slowStarted = false;
"""


# Every GET v1/open answer from now on counts arguments[0] open complaints, the unlisted ones serious.
FAKE_OPEN_TOTAL_SCRIPT = """
var total = arguments[0];
var original = window.fetch.bind(window);
window.fetch = function (url, options) {
  var answer = original(url, options);
  if (String(url).indexOf('v1/open') < 0) return answer;
  return answer.then(function (r) {
    if (!r.ok) return r;
    return r.json().then(function (body) {
      var unlisted = total - body.complaints.length;
      body.total = total;
      body.bySeverity = Object.assign({}, body.bySeverity);
      body.bySeverity.serious = (body.bySeverity.serious || 0) + unlisted;
      body.byStatus = Object.assign({}, body.byStatus);
      body.byStatus.assigned = (body.byStatus.assigned || 0) + unlisted;
      return new Response(JSON.stringify(body), { status: 200, headers: { 'Content-Type': 'application/json' } });
    });
  });
};
"""


class PageProblem(Exception):
    """The page says something went wrong (signed out, an API problem): no point waiting longer."""


class Browser:
    def __init__(self):
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,900",
                         "--lang=zh-CN", "--force-device-scale-factor=1"]:
            options.add_argument(argument)
        # The console (CSP violations, script errors, failed requests) comes back through get_log('browser').
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        self.driver.set_page_load_timeout(30)
        self.driver.set_script_timeout(30)
        self.console_errors = []
        self.last_signature = None

    def collect_console(self):
        try:
            entries = self.driver.get_log("browser")
        except Exception:  # not every driver offers the log
            return
        for entry in entries:
            if entry.get("level") == "SEVERE":
                self.console_errors.append(entry.get("message", ""))

    def state(self):
        return self.driver.execute_script(PAGE_STATE_SCRIPT)

    def snapshot(self, with_feed):
        seen = self.driver.execute_script(SNAPSHOT_SCRIPT)
        self.last_signature = seen.pop("tableSignature")
        if not with_feed:
            seen.pop("liveFeed", None)
        self.collect_console()
        seen["consoleErrors"] = list(self.console_errors)
        return seen

    def wait(self, condition, what):
        def check(driver):
            state = self.state()
            if state["signInShown"]:
                raise PageProblem("the page asks to sign in again: %s" % (state["error"] or "no message"))
            return condition(state)
        try:
            WebDriverWait(self.driver, WAIT_SECONDS, poll_frequency=0.2).until(check)
        except TimeoutException:
            raise TimeoutException("timed out after %d s waiting for %s; page state: %s"
                                   % (WAIT_SECONDS, what, json.dumps(self.state(), ensure_ascii=False)))

    def load(self, base, key, hotel, outage=False, burst=False):
        if outage:
            self.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": OUTAGE_SCRIPT})
        if burst:
            self.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": BURST_SCRIPT})
        url = "%s/?hotel=%s&lang=zh-CN#key=%s" % (base.rstrip("/"), quote(hotel, safe=""), quote(key, safe=""))
        self.driver.get(url)
        self.wait(lambda s: s["loaded"] and s["live"] == "live", 'body[data-loaded="true"] and #live-status[data-state="live"]')

    def wait_refresh(self, count):
        before = self.last_signature

        def changed(state):
            if state["refreshes"] <= count:
                return False
            signature = self.driver.execute_script(
                "return Array.from(document.querySelectorAll('#open-complaints tbody tr[data-complaint]')).map(r => "
                "['complaint', 'status', 'severity', 'category', 'level', 'vip', 'breached', 'deadline']"
                ".map(name => r.getAttribute('data-' + name)).join('|')).join('\\n');")
            return signature != before
        self.wait(changed, "body[data-refreshes] > %d and a changed open-complaints table" % count)

    def switch_during_refresh(self, hotel):
        self.driver.execute_script(SLOW_KPIS_SCRIPT)
        emit({"armed": True})
        self.wait(lambda s: self.driver.execute_script("return window.__slowStarted === true"), "the page's refresh (GET v1/kpis)")
        self.driver.execute_script(
            "var s = document.getElementById('hotel'); s.value = arguments[0]; s.dispatchEvent(new Event('change'));", hotel)

        def filled(state):
            return self.driver.execute_script(
                "var v = document.querySelector('[data-kpi=\"volume\"] .value');"
                "return document.getElementById('hotel').value === arguments[0] && !!v && !!v.getAttribute('data-raw');", hotel)
        self.wait(filled, "%s's KPI tiles to be filled after picking it during a refresh" % hotel)


def emit(value):
    sys.stdout.write(json.dumps(value, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def after_path(path):
    return path[:-4] + "-after.png" if path.lower().endswith(".png") else path + "-after"


def main():
    # The Swift test runner blocks SIGTERM and children inherit the mask: unblock it so stop() works,
    # and end through `finally`, which quits chromedriver and Chromium instead of leaving them behind.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM])
    if len(sys.argv) != 6 or sys.argv[5] not in ("load", "load-after-outage", "load-with-burst"):
        emit({"error": "usage: dashboard_browser.py BASE_URL API_KEY HOTEL SCREENSHOT_PATH load|load-after-outage|load-with-burst"})
        return 1
    base, key, hotel, screenshot = sys.argv[1:5]
    # Chromium leaves a folder for its singleton socket in TMPDIR after quitting; give it one that goes with us.
    scratch = tempfile.mkdtemp(prefix="redress-chromium-")
    os.environ["TMPDIR"] = scratch
    browser = None
    try:
        browser = Browser()
        browser.load(base, key, hotel, outage=sys.argv[5] == "load-after-outage", burst=sys.argv[5] == "load-with-burst")
        if sys.argv[5] == "load-with-burst":
            browser.wait(lambda s: browser.driver.execute_script("return window.__burstEnded === true"), "the end of the 8 s burst of events")
        seen = browser.snapshot(with_feed=False)
        if sys.argv[5] == "load-with-burst":
            seen["refreshesDuringBurst"] = browser.driver.execute_script("return window.__refreshesDuringBurst")
        if sys.argv[5] == "load-after-outage":
            seen["hotelsRefused"] = browser.driver.execute_script("return window.__hotelsRefused || 0")
            seen["statusAnnouncements"] = browser.driver.execute_script("return window.__statusAnnouncements || []")
        emit(seen)
        browser.driver.save_screenshot(screenshot)

        for line in sys.stdin:
            command = line.split()
            if not command:
                continue
            if command[0] == "quit":
                break
            if command[0] == "wait-refresh" and len(command) == 2 and command[1].lstrip("-").isdigit():
                browser.wait_refresh(int(command[1]))
                emit(browser.snapshot(with_feed=True))
                browser.driver.save_screenshot(after_path(screenshot))
            elif command[0] == "wait-resync" and len(command) == 2 and command[1].lstrip("-").isdigit():
                count = int(command[1])
                browser.wait(lambda s: s["resyncs"] > 0 and s["refreshes"] > count,
                             "body[data-resyncs] > 0 and body[data-refreshes] > %d" % count)
                emit(browser.snapshot(with_feed=True))
            elif command[0] == "read" and len(command) == 1:
                emit(browser.snapshot(with_feed=True))
            elif command[0] == "mark-feed" and len(command) == 1:
                emit({"marked": browser.driver.execute_script(
                    "var items = document.querySelectorAll('#live-feed li');"
                    "items.forEach(function (li) { li.setAttribute('data-marked', '1'); }); return items.length;")})
            elif command[0] == "fake-open-total" and len(command) == 2 and command[1].isdigit():
                total = int(command[1])
                browser.driver.execute_script(FAKE_OPEN_TOTAL_SCRIPT, total)
                emit({"armed": True})
                browser.wait(lambda s: browser.driver.execute_script(
                    "var t = document.querySelector('#open-summary .summary-total'); return !!t && t.dataset.value === String(arguments[0]);", total),
                    "the open summary to show %d" % total)
                emit(browser.snapshot(with_feed=True))
            elif command[0] == "switch-during-refresh" and len(command) == 2:
                browser.switch_during_refresh(command[1])
                emit(browser.snapshot(with_feed=True))
            else:
                raise ValueError("unknown command %r (expected 'wait-refresh N', 'wait-resync N', 'read', 'mark-feed', "
                                 "'switch-during-refresh HOTEL', 'fake-open-total N' or 'quit')" % line.strip())
        return 0
    except Exception as error:  # reported to the Swift test, which fails with it
        report = {"error": "%s: %s" % (type(error).__name__, str(error).strip())}
        if browser is not None:
            try:
                browser.collect_console()
            except Exception:
                pass
            report["consoleErrors"] = browser.console_errors
        emit(report)
        return 1
    finally:
        if browser is not None:
            try:
                browser.driver.quit()
            except Exception:
                pass
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
