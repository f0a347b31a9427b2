"""Load generators: curl for HTTP traffic, a small asyncio client for idle tunnels, the forgers' own timers."""
import json
import os
import subprocess
import sys
import tempfile
import time

from .origin import DOMAIN

# Variables the machine presets that would change which CA or proxy curl uses.
_CLEARED = {"SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS",
            "HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"}


def clean_env():
    return {k: v for k, v in os.environ.items() if k not in _CLEARED}


class LoadError(RuntimeError):
    pass


def curl_codes(contender, urls, parallel, extra=(), timeout=900):
    """Fetches every URL with one curl --parallel invocation; returns (seconds, status codes (000 for a
    transfer that failed), connections curl opened, curl's exit status, its stderr)."""
    with tempfile.NamedTemporaryFile("w", suffix=".curlrc", delete=False) as config:
        for url in urls:
            config.write(f'url = "{url}"\noutput = "/dev/null"\n')
    try:
        # HTTP/1.1 unless the scenario asks for h2 (`extra`, later on the line, wins): both proxies
        # would otherwise offer h2, and the HTTP/1.1 scenarios compare HTTP/1.1 paths.
        command = ["curl", "--http1.1", "--silent", "--show-error", "--parallel", "--parallel-max", str(parallel), *contender.curl_options(),
                   *extra, "--write-out", "%{http_code} %{num_connects}\\n", "--config", config.name]
        start = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, env=clean_env(), timeout=timeout)
        elapsed = time.perf_counter() - start
    finally:
        os.unlink(config.name)
    lines = result.stdout.split()
    return elapsed, lines[0::2], sum(int(n) for n in lines[1::2]), result.returncode, result.stderr


def curl_batch(contender, urls, parallel, extra=()):
    """Fetches every URL with one curl --parallel invocation; returns (seconds, connections curl opened)."""
    elapsed, codes, connects, status, stderr = curl_codes(contender, urls, parallel, extra)
    ok = codes.count("200")
    if ok != len(urls):
        raise LoadError(f"{contender.name}: {ok} of {len(urls)} requests answered 200 (curl exit {status}): "
                        f"{stderr.strip()[:300]}")
    return elapsed, connects


def curl_download(contender, url):
    """One download; returns (seconds, bytes)."""
    command = ["curl", "--http1.1", "--silent", "--show-error", "--fail", *contender.curl_options(), "--output", "/dev/null",
               "--write-out", "%{size_download}", url]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=clean_env(), timeout=900)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise LoadError(f"{contender.name}: download failed (curl exit {result.returncode}): {result.stderr.strip()[:300]}")
    return elapsed, int(result.stdout)


def hold_idle_tunnels(contender, count, rss_of):
    """Opens `count` intercepted tunnels (CONNECT + TLS handshake, no request) and returns the proxy's
    RSS growth in KiB per tunnel while they are all open."""
    host, port = contender.proxy_address()
    before = rss_of()
    client = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(__file__), "idle_client.py"), host, str(port),
                               contender.ca_file, f"idle.{DOMAIN}", str(count)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=clean_env())
    try:
        line = client.stdout.readline()
        if not line.startswith("READY"):
            raise LoadError(f"{contender.name}: idle client failed: {line.strip()} {client.stderr.read()[:300]}")
        time.sleep(0.5)  # let the proxy finish any work it deferred
        during = rss_of()
    finally:
        if client.poll() is None:
            client.stdin.close()
            client.wait(timeout=120)
    return (during - before) / count


def time_to_ready(contender, samples):
    """Median seconds from spawning the proxy until it is ready (ready file, or port accepting)."""
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        contender.start()
        times.append(time.perf_counter() - start)
        contender.stop()
    return sorted(times)[len(times) // 2]


def forge_bench(binary, new_hosts):
    result = subprocess.run([binary, "--json", "--new-hosts", str(new_hosts)], capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise LoadError(f"forge-bench failed: {result.stderr[:300]}")
    return json.loads(result.stdout)


def mitmproxy_forge(venv, confdir, key_size, new_hosts):
    script = os.path.join(os.path.dirname(__file__), "mitm_forge.py")
    result = subprocess.run([os.path.join(venv, "bin", "python"), script, confdir, str(key_size), str(new_hosts)],
                            capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise LoadError(f"mitmproxy forge timing failed: {result.stderr[-300:]}")
    return json.loads(result.stdout)
