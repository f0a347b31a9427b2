"""The HTTPS origin every contender talks to: nginx with a certificate for *.bench.test from a throwaway CA."""
import os
import socket
import subprocess
import time

from .process import child_setup, stop_process

DOMAIN = "bench.test"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, timeout=20.0, process=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.005)
    raise RuntimeError(f"nothing listened on 127.0.0.1:{port} within {timeout}s")


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


class Origin:
    """nginx serving /small (a few bytes) and /bulk (a sparse file of `bulk_bytes`) over HTTPS."""

    def __init__(self, workdir, bulk_bytes):
        self.dir = os.path.join(workdir, "origin")
        os.makedirs(os.path.join(self.dir, "www"))
        os.chmod(workdir, 0o755)
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.ca_file = os.path.join(self.dir, "origin-ca.pem")
        self.bulk_bytes = bulk_bytes
        self.process = None

    def start(self):
        self._make_certificates()
        www = os.path.join(self.dir, "www")
        with open(os.path.join(www, "small"), "w") as f:
            f.write("hello from the bench origin\n")
        with open(os.path.join(www, "bulk"), "wb") as f:
            f.truncate(self.bulk_bytes)
        for name in os.listdir(www):
            os.chmod(os.path.join(www, name), 0o644)
        os.chmod(www, 0o755)
        config = os.path.join(self.dir, "nginx.conf")
        with open(config, "w") as f:
            f.write(self._config(www))
        self.process = subprocess.Popen(["nginx", "-c", config, "-p", self.dir, "-e", os.path.join(self.dir, "error.log")],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=child_setup)
        wait_for_port(self.port, process=self.process)

    def stop(self):
        stop_process(self.process)

    def _make_certificates(self):
        d = self.dir
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", "/CN=bench origin CA",
                "-keyout", "origin-ca.key", "-out", "origin-ca.pem", cwd=d)
        with open(os.path.join(d, "leaf.ext"), "w") as f:
            f.write(f"subjectAltName=DNS:{DOMAIN},DNS:*.{DOMAIN},DNS:localhost,IP:127.0.0.1\n"
                    "basicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n")
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN=*.{DOMAIN}", "-keyout", "origin.key", "-out", "origin.csr", cwd=d)
        openssl("x509", "-req", "-in", "origin.csr", "-CA", "origin-ca.pem", "-CAkey", "origin-ca.key", "-CAcreateserial",
                "-days", "30", "-extfile", "leaf.ext", "-out", "origin.pem", cwd=d)
        for name in ("origin.key", "origin-ca.key"):
            os.chmod(os.path.join(d, name), 0o644)  # nginx workers run as nobody; throwaway keys

    def _config(self, www):
        user = "user root;\n" if os.geteuid() == 0 else ""
        return f"""{user}worker_processes 1;
daemon off;
pid {self.dir}/nginx.pid;
worker_rlimit_nofile 65536;
events {{ worker_connections 30000; }}
http {{
    access_log off;
    client_body_temp_path {self.dir}/tmp-body;
    proxy_temp_path {self.dir}/tmp-proxy;
    fastcgi_temp_path {self.dir}/tmp-fastcgi;
    uwsgi_temp_path {self.dir}/tmp-uwsgi;
    scgi_temp_path {self.dir}/tmp-scgi;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    sendfile on;
    server {{
        listen 127.0.0.1:{self.port} ssl http2;
        server_name _;
        ssl_certificate {self.dir}/origin.pem;
        ssl_certificate_key {self.dir}/origin.key;
        ssl_session_cache shared:SSL:10m;
        root {www};
        default_type application/octet-stream;
    }}
}}
"""
