"""The three ways a client reaches the origin: through intercept-proxy, through mitmproxy, or directly."""
import json
import os
import subprocess
import time

from .origin import DOMAIN, free_port, wait_for_port
from .process import child_setup, stop_process

HERE = os.path.dirname(os.path.abspath(__file__))


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def _stat_fields(pid):
    """/proc/<pid>/stat after the command name (which may hold spaces): field 3 of proc(5) is [0]."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def process_tree(pid):
    """pid and its descendants (squid's certificate helpers, nginx-style workers) at this moment."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                children.setdefault(int(_stat_fields(entry)[1]), []).append(int(entry))
            except (OSError, IndexError):
                continue
    tree, pending = [], [pid]
    while pending:
        current = pending.pop()
        tree.append(current)
        pending.extend(children.get(current, []))
    return tree


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User + system CPU of the process and its living descendants (utime + stime, proc(5) fields 14, 15)."""
    total = 0
    for member in process_tree(pid):
        try:
            fields = _stat_fields(member)
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / _TICK


def context_switches(pid):
    """Voluntary + involuntary context switches so far of every thread of the process tree, by
    (process, thread): a count taken later is compared thread by thread (`switches_since`)."""
    counts = {}
    for member in process_tree(pid):
        try:
            tasks = os.listdir(f"/proc/{member}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{member}/task/{task}/status") as f:
                    counts[(member, task)] = sum(int(line.split()[1]) for line in f if "ctxt_switches:" in line)
            except (OSError, ValueError, IndexError):
                continue
    return counts


def switches_since(before, pid):
    """Context switches of the process tree since `before` (a `context_switches` result). A thread
    that ended in between takes its count with it, so this may count low, never below zero (a sum
    over the threads alive at each end went negative when sslsplit ended a thread mid-round)."""
    return sum(count - before.get(key, 0) for key, count in context_switches(pid).items())


def tree_rss_kib(pid):
    total = 0
    for member in process_tree(pid):
        try:
            total += rss_kib(member)
        except (OSError, RuntimeError):
            continue
    return total


class Direct:
    """curl straight to nginx: every host name under bench.test is pointed at the origin."""
    name = "direct"
    pid = None
    closes_connections = False

    def __init__(self, origin):
        self.origin = origin

    def start(self):
        pass

    def stop(self):
        pass

    def curl_options(self):
        return ["--connect-to", f"::127.0.0.1:{self.origin.port}", "--cacert", self.origin.ca_file]

    def proxy_address(self):
        return None

    @property
    def ca_file(self):
        return self.origin.ca_file


class LocalProxy:
    """A proxy process on a loopback port, working in `<workdir>/<name>-<key algorithm>`; subclasses start
    it and set `process`, `log`, `port`, `ca_file`."""
    closes_connections = False  # True for a proxy that ends each client connection after one response

    def __init__(self, origin, workdir, key_algorithm):
        self.origin = origin
        self.key_algorithm = key_algorithm
        self.dir = os.path.join(workdir, f"{self.name.replace('@', '-')}-{key_algorithm}")
        os.makedirs(self.dir, exist_ok=True)
        self.process = None
        self.port = None

    @property
    def pid(self):
        """None while not running (e.g. `--only start`, whose scenario spawns its own processes)."""
        return self.process.pid if self.process else None

    def stop(self):
        stop_process(self.process)
        self.log.close()

    def proxy_address(self):
        return ("127.0.0.1", self.port)

    def curl_options(self):
        return ["--proxy", f"http://127.0.0.1:{self.port}", "--cacert", self.ca_file]


class InterceptProxy(LocalProxy):
    name = "intercept-proxy"

    def __init__(self, origin, workdir, binary, key_algorithm="rsa2048", profile="plain", name=None):
        self.name = name or self.name  # "intercept-proxy@baseline" for --baseline-binary
        super().__init__(origin, workdir, key_algorithm)
        self.binary = binary
        self.profile = profile
        self.ca_file = None

    def arguments(self, ready_file):
        return [self.binary, "run", "--port", "0", "--ready-file", ready_file, "--ca-dir", os.path.join(self.dir, "ca"),
                "--profile", self.profile, "--key-algorithm", self.key_algorithm,
                "--map-remote", f"*.{DOMAIN}=127.0.0.1:{self.origin.port}", "--upstream-ca", self.origin.ca_file]

    def start(self):
        ready = os.path.join(self.dir, "ready.json")
        if os.path.exists(ready):
            os.remove(ready)
        self.log = open(os.path.join(self.dir, "proxy.log"), "ab")
        self.process = subprocess.Popen(self.arguments(ready), stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=child_setup)
        deadline = time.monotonic() + 30
        while not os.path.exists(ready):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"intercept-proxy did not start; see {self.log.name}")
            time.sleep(0.005)
        info = json.load(open(ready))
        self.port, self.ca_file = info["port"], info["caCertificate"]



class Mitmproxy(LocalProxy):
    name = "mitmproxy"

    def __init__(self, origin, workdir, venv, key_algorithm="rsa2048"):
        super().__init__(origin, workdir, key_algorithm)
        self.venv = venv
        self.ca_file = os.path.join(self.dir, "mitmproxy-ca-cert.pem")

    def arguments(self, port):
        return [os.path.join(self.venv, "bin", "mitmdump"), "-q", "--listen-host", "127.0.0.1", "--listen-port", str(port),
                "--set", f"confdir={self.dir}", "--set", f"ssl_verify_upstream_trusted_ca={self.origin.ca_file}",
                "-s", os.path.join(HERE, "mitm_route.py"), "--set", f"bench_origin=127.0.0.1:{self.origin.port}"]

    def prepare_ca(self):
        """mitmproxy signs leaves with its CA's own key: an EC CA gives EC leaves."""
        if self.key_algorithm != "p256" or os.path.exists(os.path.join(self.dir, "mitmproxy-ca.pem")):
            return
        key, cert = os.path.join(self.dir, "ca.key"), os.path.join(self.dir, "ca.crt")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-days", "30", "-subj", "/CN=mitmproxy P-256 bench CA", "-addext", "basicConstraints=critical,CA:TRUE",
                        "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-keyout", key, "-out", cert],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        with open(os.path.join(self.dir, "mitmproxy-ca.pem"), "w") as f:
            f.write(open(key).read() + open(cert).read())
        with open(self.ca_file, "w") as f:  # mitmproxy writes this only for a CA it generates itself
            f.write(open(cert).read())

    def start(self):
        self.prepare_ca()
        self.port = free_port()
        self.log = open(os.path.join(self.dir, "mitmdump.log"), "ab")
        self.process = subprocess.Popen(self.arguments(self.port), stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=child_setup)
        wait_for_port(self.port, timeout=60, process=self.process)
        deadline = time.monotonic() + 10
        while not os.path.exists(self.ca_file) and time.monotonic() < deadline:
            time.sleep(0.01)
