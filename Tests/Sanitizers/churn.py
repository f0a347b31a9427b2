#!/usr/bin/env python3
"""The leak check `make test` runs: connections of every kind through an AddressSanitizer build of
intercept-proxy, then a stop at once, with LeakSanitizer judging what is left at exit.

    python3 Tests/Sanitizers/churn.py --proxy-binary .build-asan/debug/intercept-proxy [--count N]

The bench harness's nginx origin (HTTPS with h2, plus a plain-HTTP port here) serves /small and a
large /bulk; one curl --parallel batch per kind, each request to a host of its own so each is a
connection of its own: plain proxy requests, HTTP/1.1 tunnels, h2 tunnels, tunnels whose client
rejects the forged certificate, and downloads the client gives up mid-response (HTTP/1.1 and h2).
The flow log must show each kind happened as many times as asked. Then, with slow downloads still
in flight, the proxy gets SIGTERM; it must exit 0 with no AddressSanitizer or LeakSanitizer report.
"""
import argparse
import collections
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "Benchmarks"))

from harness.contenders import InterceptProxy  # noqa: E402
from harness.load import clean_env, curl_codes  # noqa: E402
from harness.origin import DOMAIN, Origin, free_port  # noqa: E402

BULK = 64 << 20


class ChurnOrigin(Origin):
    """The bench origin, also listening for plain HTTP."""

    def __init__(self, workdir):
        super().__init__(workdir, BULK)
        self.plain_port = free_port()

    def _config(self, www):
        ssl = f"listen 127.0.0.1:{self.port} ssl http2;"
        return super()._config(www).replace(ssl, f"{ssl}\n        listen 127.0.0.1:{self.plain_port};")


class ChurnProxy(InterceptProxy):
    """The instrumented proxy, port-80 requests mapped to the plain port, every flow event logged."""

    def __init__(self, origin, workdir, binary):
        super().__init__(origin, workdir, binary, key_algorithm="p256", name="intercept-proxy-asan")
        self.flows = os.path.join(self.dir, "flows.jsonl")

    def arguments(self, ready_file):
        return super().arguments(ready_file)[:1] + ["run"] + [
            "--map-remote", f"*.{DOMAIN}:80=127.0.0.1:{self.origin.plain_port}", "--flows", self.flows,
        ] + super().arguments(ready_file)[2:]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--proxy-binary", required=True)
    parser.add_argument("--count", type=int, default=1000, help="connections of each kind")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="intercept-proxy-churn-")
    reports = os.path.join(workdir, "reports")
    os.makedirs(reports)
    os.environ["ASAN_OPTIONS"] = f"log_path={reports}/asan:detect_leaks=1:suppressions={HERE}/asan.supp"
    os.environ["LSAN_OPTIONS"] = f"suppressions={HERE}/lsan.supp:print_suppressions=0"
    origin = ChurnOrigin(workdir)
    origin.start()
    proxy = ChurnProxy(origin, workdir, args.proxy_binary)
    problems = []
    started = time.monotonic()
    in_flight = None
    try:
        proxy.start()
        n = args.count
        close = ["--header", "Connection: close"]
        # curl gives up once the head announces more than it will take: a client leaving mid-response.
        cut = ["--max-filesize", "4096"]
        kinds = [
            # (name, URLs, curl parallelism, extra options, status every transfer must get; a
            # download given up after its head has its status too)
            ("plain request", [f"http://p{i}.{DOMAIN}/small" for i in range(n)], 16, close, "200"),
            ("HTTP/1.1 tunnel", [f"https://t{i}.{DOMAIN}/small" for i in range(n)], 16, close, "200"),
            ("h2 tunnel", [f"https://h{i}.{DOMAIN}/small" for i in range(n)], 16, ["--http2"], "200"),
            # A later --cacert wins: the origin's CA, which did not sign the forged leaf.
            ("rejected handshake", [f"https://r{i}.{DOMAIN}/small" for i in range(n)], 16, ["--cacert", origin.ca_file], "000"),
            ("gone mid-response (HTTP/1.1)", [f"https://m{i}.{DOMAIN}/bulk" for i in range(n)], 16, cut, "200"),
            ("gone mid-response (h2)", [f"https://n{i}.{DOMAIN}/bulk" for i in range(n)], 64, cut + ["--http2"], "200"),
        ]
        for name, urls, parallel, extra, wanted in kinds:
            seconds, codes, _, _, stderr = curl_codes(proxy, urls, parallel, extra, timeout=900)
            got = codes.count(wanted)
            print(f"churn: {len(urls)} x {name}: {got} answered {wanted} in {seconds:.1f} s", flush=True)
            if got != len(urls):
                problems.append(f"{name}: {len(urls) - got} of {len(urls)} did not end with {wanted}: {stderr.strip()[:300]}")
            if proxy.process.poll() is not None:
                raise RuntimeError(f"the proxy exited with {proxy.process.returncode} during '{name}'")
        # Stopped at once, with downloads in flight: what is pending then must be freed too.
        in_flight = subprocess.Popen(
            ["curl", "--silent", "--parallel", "--parallel-max", "32", *proxy.curl_options(), "--limit-rate", "100k",
             *sum(([f"https://s{i}.{DOMAIN}/bulk", "-o", "/dev/null"] for i in range(32)), [])],
            env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_requests(proxy.flows, "/bulk", 32, prefix="https://s")
        proxy.process.send_signal(signal.SIGTERM)
        try:
            status = proxy.process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proxy.process.kill()
            problems.append("the proxy did not exit within 120 s of SIGTERM")
            status = proxy.process.wait()
        if status != 0:
            problems.append(f"the proxy exited with status {status} (AddressSanitizer exits 1 on a leak or an error)")
        problems += check_flows(proxy.flows, n)
    finally:
        if in_flight is not None:
            in_flight.kill()
            in_flight.wait()
        if proxy.process is not None and proxy.process.poll() is None:
            proxy.process.kill()
        origin.stop()
    found = []
    for path in sorted(glob.glob(os.path.join(reports, "asan*"))):
        text = open(path, errors="replace").read()
        if "ERROR: LeakSanitizer" in text or "ERROR: AddressSanitizer" in text or "DEADLYSIGNAL" in text:
            found.append(path)
            print(f"---- {path}\n" + "\n".join(text.splitlines()[:120]))
    if found:
        problems.append(f"{len(found)} sanitizer report(s)")
    elapsed = time.monotonic() - started
    if problems:
        print("leak check: FAILED\n  " + "\n  ".join(problems) + f"\n(work directory kept: {workdir})")
        return 1
    print(f"leak check: {args.count} connections of each of 6 kinds and a stop mid-download, "
          f"0 leaks, no AddressSanitizer report ({elapsed:.0f} s)")
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def events(path):
    if not os.path.exists(path):
        return []
    out = []
    with open(path) as f:
        for line in f:
            try:
                out.append(json.loads(line))
            except ValueError:
                pass  # a line being written
    return out


def wait_for_requests(path, suffix, count, prefix, timeout=60):
    """Until `count` request events for URLs starting with `prefix` and ending with `suffix` are logged."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = [e for e in events(path) if e.get("type") == "request"
                and e.get("url", "").startswith(prefix) and e.get("url", "").endswith(suffix)]
        if len(seen) >= count:
            return
        time.sleep(0.05)
    raise RuntimeError(f"fewer than {count} requests for {prefix}...{suffix} within {timeout} s")


def check_flows(path, n):
    """Each kind happened n times, as the proxy saw it."""
    counted = collections.Counter()
    for e in events(path):
        kind, url = e.get("type"), e.get("url", "")
        host = (e.get("host") or "")[:1]
        if kind == "response" and url.startswith("http://p"):
            counted["plain"] += 1
        elif kind == "response" and url.startswith("https://t"):
            counted["h1"] += 1
        elif kind == "response" and url.startswith("https://h") and e.get("httpVersion") == "HTTP/2":
            counted["h2"] += 1
        elif kind == "tls_failed" and host == "r":
            counted["rejected"] += 1
        elif kind == "error" and e.get("cause") == "client_closed" and url.endswith("/bulk") and host == "m":
            counted["cut m"] += 1
        elif kind == "error" and e.get("cause") in ("client_closed", "h2_stream_reset") and url.endswith("/bulk") and host == "n":
            counted["cut " + host] += 1
    problems = []
    for key, label in [("plain", "plain responses"), ("h1", "HTTP/1.1 tunnel responses"), ("h2", "h2 responses"),
                       ("rejected", "rejected handshakes"), ("cut m", "HTTP/1.1 downloads cut by the client"),
                       ("cut n", "h2 downloads cut by the client")]:
        if counted[key] < n:
            problems.append(f"the flow log shows {counted[key]} {label}, not {n}")
    return problems


if __name__ == "__main__":
    sys.exit(main())
