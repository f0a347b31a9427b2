"""The scenarios of the benchmark. Each measures one number per contender per round; rounds alternate
the contenders (A B C A B C ...) so drift in the machine hits all of them alike."""
import itertools

from .load import curl_batch, curl_download, hold_idle_tunnels, time_to_ready
from .origin import DOMAIN

_serial = itertools.count()


def unique_hosts(prefix, count):
    """Host names never used before in this run: each one makes a proxy forge a new leaf."""
    batch = next(_serial)
    return [f"https://{prefix}{batch}-{i}.{DOMAIN}/small" for i in range(count)]


class Scenario:
    unit = ""
    higher_is_better = True
    key = ""
    title = ""
    contender_names = None  # None: every contender of the run
    work_unit = "request"  # what the proxy's CPU time is divided by
    measures_cost = True  # False where the proxy is restarted inside the measurement

    def __init__(self, sizes):
        self.sizes = sizes

    def runs(self, contender):
        return self.contender_names is None or contender.name.split("@")[0] in self.contender_names

    def slow(self, contender):
        """mitmproxy is one to two orders slower; goproxy forges an RSA-2048 key per new host and makes
        a new tunnel per keep-alive request (it closes each one)."""
        return contender.name == "mitmproxy" or (contender.name == "goproxy" and self.key in ("new_hosts", "keepalive_requests"))

    def count_for(self, contender):
        """A slow contender runs a smaller batch so a round stays short. Every figure is a rate, so
        batch size does not enter the comparison."""
        full = self.sizes[self.key]
        return max(1, full // self.sizes["mitmproxy_divisor"]) if self.slow(contender) else full

    def work(self, contender):
        """How many work units one measurement of this contender is (the CPU figure's denominator)."""
        return self.count_for(contender)


class NewHostTunnels(Scenario):
    unit = "tunnels/s"
    work_unit = "tunnel"

    def __init__(self, sizes, algorithm):
        super().__init__(sizes)
        self.algorithm = algorithm
        self.key = "new_hosts"
        self.title = f"new-host tunnels ({'RSA-2048' if algorithm == 'rsa2048' else 'P-256'})"
        self.id = f"new-host-{algorithm}"

    def measure(self, contender):
        urls = unique_hosts("n", self.count_for(contender))
        seconds, _ = curl_batch(contender, urls, parallel=self.sizes["parallel"])
        return len(urls) / seconds


class RepeatHostTunnels(Scenario):
    unit = "tunnels/s"
    key = "repeat_hosts"
    title = "repeat-host tunnels"
    id = "repeat-host"
    work_unit = "tunnel"

    def measure(self, contender):
        count = self.count_for(contender)
        urls = [f"https://r{i % 20}.{DOMAIN}/small" for i in range(count)]
        # Connection: close ends each tunnel after its one response, so every request opens a new one.
        seconds, connects = curl_batch(contender, urls, parallel=self.sizes["parallel"], extra=["--header", "Connection: close"])
        if connects < count:
            raise RuntimeError(f"{contender.name}: expected {count} new connections, curl made {connects}")
        return count / seconds


class KeepAliveRequests(Scenario):
    unit = "requests/s"
    key = "keepalive_requests"
    title = "keep-alive requests (8 tunnels)"
    id = "keep-alive"

    def measure(self, contender):
        count = self.count_for(contender)
        urls = [f"https://ka.{DOMAIN}/small"] * count
        seconds, connects = curl_batch(contender, urls, parallel=8)
        if connects > 16 and not contender.closes_connections:
            raise RuntimeError(f"{contender.name}: curl opened {connects} connections; keep-alive is not being reused")
        return count / seconds


class H2Requests(Scenario):
    unit = "requests/s"
    key = "h2_requests"
    title = "h2 requests (one connection, 100 streams)"
    id = "h2-requests"
    contender_names = ("intercept-proxy", "mitmproxy", "direct")  # the peers speak HTTP/1.1 to the client

    def measure(self, contender):
        count = self.count_for(contender)
        urls = [f"https://h2.{DOMAIN}/small"] * count
        seconds, connects = curl_batch(contender, urls, parallel=100, extra=["--http2"])
        if connects > 2:
            raise RuntimeError(f"{contender.name}: curl opened {connects} connections; the streams were not multiplexed")
        return count / seconds


class BulkDownload(Scenario):
    unit = "MiB/s"
    key = "bulk_bytes"
    title = "bulk download (one tunnel)"
    id = "bulk"
    work_unit = "MiB"

    def work(self, contender):
        return self.sizes["bulk_bytes"] / (1 << 20)

    def warm_up(self, contenders):
        """The origin's file is sparse: its first read fills nginx's page cache (zeroed pages, 1 GiB in a full
        run), which made whichever contender went first in round 1 about half as fast. One download outside the
        measurement, straight to the origin, pays for that."""
        direct = next((c for c in contenders if c.name == "direct"), contenders[0])
        curl_download(direct, f"https://bulk.{DOMAIN}/bulk")

    def measure(self, contender):
        seconds, size = curl_download(contender, f"https://bulk.{DOMAIN}/bulk")
        if size != self.sizes["bulk_bytes"]:
            raise RuntimeError(f"{contender.name}: downloaded {size} bytes, expected {self.sizes['bulk_bytes']}")
        return size / seconds / (1 << 20)


class IdleTunnels(Scenario):
    unit = "KiB/tunnel"
    higher_is_better = False
    key = "idle_tunnels"
    title = "idle tunnels (RSS per tunnel)"
    id = "idle"
    work_unit = "tunnel"
    contender_names = ("intercept-proxy", "mitmproxy")

    def measure(self, contender):
        from .contenders import rss_kib
        return hold_idle_tunnels(contender, self.count_for(contender), lambda: rss_kib(contender.pid))


class StartTime(Scenario):
    unit = "ms"
    higher_is_better = False
    key = "start_samples"
    title = "start (spawn to ready, CA present)"
    id = "start"
    contender_names = ("intercept-proxy", "mitmproxy")
    measures_cost = False

    def measure(self, contender):
        return 1000 * time_to_ready(contender, self.sizes["start_samples"])
