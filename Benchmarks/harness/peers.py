"""The interceptors written in C and Go that intercept-proxy is measured against: squid-openssl with
ssl-bump, sslsplit and goproxy. Each runs from its own directory under the work directory with its own
CA (RSA-2048, as intercept-proxy's) and writes the settings it runs with (`settings()`) for the report."""
import os
import shutil
import subprocess
import time

from .contenders import LocalProxy
from .origin import DOMAIN, free_port, openssl, wait_for_port
from .process import child_setup

HERE = os.path.dirname(os.path.abspath(__file__))
GOPROXY_SOURCE = os.path.join(os.path.dirname(HERE), "peers", "goproxy")
SQUID_CERTGEN = "/usr/lib/squid/security_file_certgen"


class PeerMissing(RuntimeError):
    pass


def make_ca(directory, name):
    """A throwaway RSA-2048 CA (ca.pem, ca.key) for one peer."""
    key, cert = os.path.join(directory, "ca.key"), os.path.join(directory, "ca.pem")
    if not os.path.exists(cert):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", f"/CN={name} bench CA",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                "-keyout", key, "-out", cert, cwd=directory)
        os.chmod(key, 0o644)  # squid's and sslsplit's unprivileged users read it; throwaway key
    return cert, key


def require(path, package):
    if shutil.which(path) is None and not os.access(path, os.X_OK):
        raise PeerMissing(f"{path} is missing: install the Debian package {package} (`make bench` does)")


class Peer(LocalProxy):
    """A peer process; subclasses write its configuration and give its command line."""
    log_name = "peer.log"

    def __init__(self, origin, workdir):
        super().__init__(origin, workdir, "rsa2048")
        os.chmod(self.dir, 0o755)
        self.ca_file, self.ca_key = None, None

    def start(self):
        self.ca_file, self.ca_key = make_ca(self.dir, self.name)
        self.port = free_port()
        self.log = open(os.path.join(self.dir, self.log_name), "ab")
        self.process = subprocess.Popen(self.command(), cwd=self.dir, stdout=self.log, stderr=subprocess.STDOUT,
                                        preexec_fn=child_setup)
        wait_for_port(self.port, timeout=30, process=self.process)


class Squid(Peer):
    """squid-openssl, ssl-bump bumping at step 1: it forges a leaf for the CONNECT host name (as
    intercept-proxy does) without peeking at the client's SNI or the server's certificate. Every request
    goes to the origin as a TLS cache_peer; nothing is cached, so each request reaches nginx."""
    name = "squid"
    log_name = "cache.log"

    def check_installed(self):
        require("squid", "squid-openssl")
        require(SQUID_CERTGEN, "squid-openssl")
        if "--with-openssl" not in subprocess.run(["squid", "-v"], capture_output=True, text=True).stdout:
            raise PeerMissing("this squid is built without OpenSSL: install squid-openssl")

    def settings(self):
        return [f"http_port 127.0.0.1:PORT ssl-bump tls-cert=ca.pem tls-key=ca.key generate-host-certificates=on "
                f"dynamic_cert_mem_cache_size=64MB", "ssl_bump bump all (bump at step 1)",
                f"sslcrtd_program {SQUID_CERTGEN} -s ssl_db -M 64MB; sslcrtd_children 8 startup=2",
                "cache_peer 127.0.0.1 parent ORIGIN 0 no-query originserver tls tls-cafile=origin-ca.pem; never_direct allow all",
                "cache deny all; access_log none; workers 1 (the default)"]

    def command(self):
        self.check_installed()
        db = os.path.join(self.dir, "ssl_db")
        if not os.path.exists(db):
            subprocess.run([SQUID_CERTGEN, "-c", "-s", db, "-M", "64MB"], check=True, capture_output=True)
            subprocess.run(["chown", "-R", "proxy:proxy", db], check=False)
        config = os.path.join(self.dir, "squid.conf")
        with open(config, "w") as f:
            f.write(f"""http_port 127.0.0.1:{self.port} ssl-bump tls-cert={self.ca_file} tls-key={self.ca_key} generate-host-certificates=on dynamic_cert_mem_cache_size=64MB
sslcrtd_program {SQUID_CERTGEN} -s {db} -M 64MB
sslcrtd_children 8 startup=2
ssl_bump bump all
http_access allow all
cache_peer 127.0.0.1 parent {self.origin.port} 0 no-query no-digest originserver name=origin tls tls-cafile={self.origin.ca_file} tls-domain={DOMAIN}
cache_peer_access origin allow all
never_direct allow all
cache deny all
cache_mem 0 MB
access_log none
cache_store_log none
cache_log {os.path.join(self.dir, 'cache.log')}
pid_filename {os.path.join(self.dir, 'squid.pid')}
coredump_dir {self.dir}
shutdown_lifetime 0 seconds
max_filedescriptors 65536
""")
        return ["squid", "-N", "-f", config]


class SSLsplit(Peer):
    """sslsplit is not a CONNECT proxy: curl connects to it directly (as to the origin, with
    --connect-to), and it forwards every connection to the origin's fixed address. It forges the leaf
    from the origin's certificate (one *.bench.test leaf, cached), so it has no CONNECT to read, no
    HTTP to parse and one leaf to forge."""
    name = "sslsplit"

    def settings(self):
        return ["sslsplit -k ca.key -c ca.pem ssl 127.0.0.1 PORT 127.0.0.1 ORIGIN (static target, no NAT lookup)",
                "no connection or content log; upstream certificate not verified (sslsplit has no option for a trust store)"]

    def command(self):
        require("sslsplit", "sslsplit")
        return ["sslsplit", "-k", self.ca_key, "-c", self.ca_file, "-p", os.path.join(self.dir, "sslsplit.pid"),
                "ssl", "127.0.0.1", str(self.port), "127.0.0.1", str(self.origin.port)]

    def curl_options(self):
        return ["--connect-to", f"::127.0.0.1:{self.port}", "--cacert", self.ca_file]

    def proxy_address(self):
        return None


class Goproxy(Peer):
    """github.com/elazarl/goproxy from Debian (golang-github-elazarl-goproxy-dev), built here from
    peers/goproxy/main.go: MitmConnect for every CONNECT, a leaf per host cached, every upstream
    connection to the origin, verified against the origin's CA. goproxy closes each intercepted
    client connection after its response (its 1.1 MITM loop does), so curl reconnects per request."""
    name = "goproxy"
    closes_connections = True

    def settings(self):
        return ["goproxy-bench (Benchmarks/peers/goproxy/main.go): ConnectMitm for every host, leaf cache per host, "
                "http.Transport MaxIdleConnsPerHost 64 to the origin, logging off"]

    def binary(self):
        require("go", "golang-go")
        gocode = "/usr/share/gocode"
        if not os.path.isdir(os.path.join(gocode, "src", "github.com", "elazarl", "goproxy")):
            raise PeerMissing("goproxy's source is missing: install golang-github-elazarl-goproxy-dev (`make bench` does)")
        # Built once per checkout (a cold build takes seconds); rebuilt when main.go changes.
        build = os.path.join(os.path.dirname(os.path.dirname(HERE)), ".build", "bench-peers")
        out, source = os.path.join(build, "goproxy-bench"), os.path.join(GOPROXY_SOURCE, "main.go")
        if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(source):
            os.makedirs(build, exist_ok=True)
            env = dict(os.environ, GO111MODULE="off", GOPATH=gocode, GOCACHE=os.path.join(build, "gocache"), GOFLAGS="")
            result = subprocess.run(["go", "build", "-o", out, "."], cwd=GOPROXY_SOURCE, env=env, capture_output=True, text=True)
            if result.returncode != 0:
                raise RuntimeError(f"goproxy build failed: {result.stderr[-500:]}")
        return out

    def command(self):
        return [self.binary(), "-listen", f"127.0.0.1:{self.port}", "-ca-cert", self.ca_file, "-ca-key", self.ca_key,
                "-origin", f"127.0.0.1:{self.origin.port}", "-upstream-ca", self.origin.ca_file]


PEERS = {"squid": Squid, "sslsplit": SSLsplit, "goproxy": Goproxy}
