"""The flow view (/ui) in a real browser: Debian's headless Chromium, driven by Selenium.

Started by Tests/CLITests/FlowViewBrowserTests.swift, which judges the JSON this prints last.
It runs the proxy itself (so it can stop and restart it), one client that trusts the proxy's
root (curl --cacert, with a hostile header value) and one that does not (Python's urllib), and
records what the page shows. Talks to 127.0.0.1 only.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

HOSTILE = "<script>window.__pwned = 1</script>\"'><img src=x onerror=\"window.__pwned = 2\">"
LONG = "v" * 6000


def start_proxy(binary, ca_dir, admin_port, scratch):
    ready = os.path.join(scratch, "ready-%d.json" % time.monotonic_ns())
    process = subprocess.Popen(
        [binary, "run", "--offline", "--port", "0", "--admin", "127.0.0.1:%d" % admin_port, "--ca-dir", ca_dir, "--ready-file", ready],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if os.path.exists(ready) and os.path.getsize(ready) > 0:
            with open(ready) as handle:
                return process, json.load(handle)
        if process.poll() is not None:
            raise SystemExit("the proxy exited with %s before it was ready" % process.returncode)
        time.sleep(0.05)
    raise SystemExit("the proxy was not ready within 30 s")


def client_environment(info):
    environment = dict(os.environ)
    proxy = "http://127.0.0.1:%d" % info["port"]
    environment.update({"HTTPS_PROXY": proxy, "https_proxy": proxy})
    return environment


def trusting_client(info, host):
    return subprocess.run(
        ["curl", "-sS", "--max-time", "20", "--cacert", info["caCertificate"], "-H", "X-Hostile: " + HOSTILE, "-H", "X-Long: " + LONG,
         "https://%s/%s" % (host, "path-<b>bold</b>")],
        env=client_environment(info), capture_output=True, timeout=30)


def rejecting_client(info, host):
    return subprocess.run(
        [sys.executable, "-c", "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=20)", "https://%s/" % host],
        env=client_environment(info), capture_output=True, timeout=30)


def table(driver):
    """The host table's rows as {host: [cell texts]}, read in one step (the page re-renders it on every poll)."""
    rows = driver.execute_script(
        "return [...document.querySelectorAll('#hosts tbody tr')].map(tr => [tr.dataset.host, [...tr.cells].map(td => td.textContent)])")
    return {host: cells for host, cells in rows}


def select(driver, host):
    driver.execute_script("document.querySelector(`#hosts tbody tr[data-host='${arguments[0]}']`).click()", host)


def wait_for(what, predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    return None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--proxy-binary", required=True)
    parser.add_argument("--screenshot", required=True)
    arguments = parser.parse_args()
    result = {}
    scratch = tempfile.mkdtemp(prefix="intercept-proxy-ui-")
    ca_dir = os.path.join(scratch, "ca")
    proxy, info = start_proxy(arguments.proxy_binary, ca_dir, 0, scratch)
    admin_port = int(info["admin"].rsplit(":", 1)[1])
    driver = None
    try:
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-proxy-server", "--window-size=1280,800", "--disable-dev-shm-usage"]:
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        driver.set_page_load_timeout(20)
        driver.get("http://127.0.0.1:%d/ui" % admin_port)
        result["liveBeforeClients"] = bool(wait_for("live", lambda: driver.find_element(By.ID, "status").text == "live", 10))

        trusted = trusting_client(info, "trusted.example")
        rejected = rejecting_client(info, "rejected.example")
        started = time.monotonic()  # from the moment both clients are done
        result["trustingClientStatus"] = trusted.returncode
        result["rejectingClientStatus"] = rejected.returncode

        # Both hosts with an outcome: the proxy records a rejection when it reads the client's
        # alert, which can come after the client has exited, so a host may show "pending" first.
        def outcomes():
            found = {host: cells[2] for host, cells in table(driver).items()}
            hosts = {"trusted.example", "rejected.example"}
            return found if hosts <= set(found) and all(found[host] != "pending" for host in hosts) else None

        seen = wait_for("both hosts", outcomes, 10)
        result["secondsUntilBothHosts"] = round(time.monotonic() - started, 2) if seen else None
        result["outcomes"] = seen or {host: cells[2] for host, cells in table(driver).items()}

        # The rows once the page has shown every event so far (one long poll may bring the TLS
        # event, the next the request): the same table twice, half a second apart.
        def steady():
            first = table(driver)
            time.sleep(0.5)
            return first if table(driver) == first else None

        result["rows"] = wait_for("a steady table", steady, 10) or table(driver)

        # The hostile values, shown as text and run as nothing.
        select(driver, "trusted.example")
        detail = wait_for("detail", lambda: driver.find_element(By.ID, "detail-connections").text or None, 15) or ""
        result["hostileShownAsText"] = ("x-hostile: " + HOSTILE) in detail
        result["longValueShown"] = LONG in detail
        result["pathShownAsText"] = "path-<b>bold</b>" in detail
        result["chainShown"] = "trusted.example < " in detail
        result["pwned"] = driver.execute_script("return window.__pwned === undefined ? null : window.__pwned")
        result["scriptElements"] = driver.execute_script("return [...document.scripts].map(s => s.src)")
        result["imgElements"] = driver.execute_script("return document.images.length")
        result["boldElements"] = driver.execute_script("return document.querySelectorAll('b').length")

        select(driver, "rejected.example")
        fix = wait_for("fix", lambda: driver.find_element(By.ID, "detail-fix").text or None, 15) or ""
        result["rejectionFix"] = fix
        Select(driver.find_element(By.ID, "filter-outcome")).select_by_value("rejected")
        result["filteredHosts"] = wait_for("filtered", lambda: (lambda hosts: hosts if hosts == ["rejected.example"] else None)(list(table(driver))), 5) or list(table(driver))
        Select(driver.find_element(By.ID, "filter-outcome")).select_by_value("")
        time.sleep(0.3)
        select(driver, "rejected.example")
        time.sleep(0.3)
        driver.save_screenshot(arguments.screenshot)

        # A restart: "reconnecting" while it is away, then live again with the new proxy's flows only.
        proxy.send_signal(signal.SIGTERM)
        proxy.wait(timeout=30)
        result["reconnectingShown"] = bool(wait_for("reconnecting", lambda: driver.find_element(By.ID, "status").text.startswith("reconnecting"), 10))
        proxy, info = start_proxy(arguments.proxy_binary, ca_dir, admin_port, scratch)
        result["liveAfterRestart"] = bool(wait_for("live again", lambda: driver.find_element(By.ID, "status").text == "live", 10))
        trusting_client(info, "after-restart.example")
        after = wait_for("after restart", lambda: (lambda hosts: hosts if "after-restart.example" in hosts else None)(list(table(driver))), 15)
        result["hostsAfterRestart"] = after
    finally:
        if driver is not None:
            driver.quit()
        proxy.send_signal(signal.SIGTERM)
        try:
            proxy.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proxy.kill()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
