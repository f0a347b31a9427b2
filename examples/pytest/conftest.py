"""A session-wide intercept-proxy for pytest: started once on an ephemeral port, reset between tests.

Copy this file next to your tests. It needs only the standard library (plus pytest); the tests in
test_example.py use `requests`. The binary is $INTERCEPT_PROXY_BINARY, else `intercept-proxy` on PATH.
"""
import json
import os
import shutil
import subprocess
import time
import urllib.parse
import urllib.request

import pytest


class InterceptProxy:
    """A running proxy: its URL, the CA file clients trust, and its control API."""

    def __init__(self, ready, process):
        self.process = process
        self.proxy_url = "http://127.0.0.1:%d" % ready["port"]
        self.ca_path = ready["caCertificate"]
        self.admin_url = "http://" + ready["admin"]
        # The control API is on loopback: never send it through a proxy from the environment.
        self._direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.admin_url + path, data=data, method=method)
        with self._direct.open(request, timeout=90) as answer:
            return json.load(answer)

    def flows(self, since=0, wait=0):
        """Flow events after `since`, waiting up to `wait` seconds for the first one (a long poll)."""
        return self.call("GET", "/v1/flows?" + urllib.parse.urlencode({"since": since, "wait": wait}))

    def wait_for_flow(self, predicate, timeout=10):
        """The first recorded event that satisfies `predicate`: no sleeping, the proxy wakes us."""
        since, deadline = 0, time.monotonic() + timeout
        while time.monotonic() < deadline:
            page = self.flows(since, wait=max(0.1, deadline - time.monotonic()))
            for item in page["events"]:
                if predicate(item["event"]):
                    return item["event"]
            since = page["next"]
        raise AssertionError("no matching flow event within %s s" % timeout)

    def set_failures(self, rules):
        """Failure-mode rules (the --failure syntax, e.g. "*.example.test=expired") until the next reset."""
        return self.call("PUT", "/v1/failures", rules)["rules"]

    def reset(self):
        self.call("POST", "/v1/reset")

    def stop(self):
        try:
            self.call("POST", "/v1/shutdown")
            self.process.wait(timeout=15)
        except Exception:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="session")
def intercept_proxy(tmp_path_factory):
    binary = os.environ.get("INTERCEPT_PROXY_BINARY") or shutil.which("intercept-proxy")
    if not binary:
        pytest.fail("intercept-proxy not found: set INTERCEPT_PROXY_BINARY or put it on PATH")
    directory = tmp_path_factory.mktemp("intercept-proxy")
    ready_file = directory / "ready.json"
    process = subprocess.Popen(
        [binary, "run", "--port", "0", "--admin", "127.0.0.1:0", "--offline",
         "--ca-dir", str(directory / "ca"), "--ready-file", str(ready_file)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not ready_file.exists():
        if process.poll() is not None:
            pytest.fail("intercept-proxy exited: " + process.stderr.read().decode())
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("intercept-proxy wrote no ready file within 30 s")
        time.sleep(0.02)
    proxy = InterceptProxy(json.loads(ready_file.read_text()), process)
    yield proxy
    proxy.stop()


@pytest.fixture(autouse=True)
def _isolated(request):
    """Each test starts with no recorded flows and the start-up rules, without a restart."""
    if "intercept_proxy" in request.fixturenames:
        request.getfixturevalue("intercept_proxy").reset()
    yield
