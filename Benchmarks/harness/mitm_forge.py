"""mitmproxy's own certificate store, timed like forge-bench times CertForge (run with the venv's python)."""
import ipaddress  # noqa: F401  (mitmproxy's SAN helpers expect it importable)
import json
import sys
import time

from cryptography import x509
from mitmproxy import certs

confdir, key_size, new_hosts = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
store = certs.CertStore.from_store(confdir, "mitmproxy", key_size)


def forge(name):
    return store.get_cert(name, [x509.DNSName(name)])


forge("warm-up.bench.test")
fresh = []
for i in range(new_hosts):
    name = f"host-{i}.bench.test"
    start = time.perf_counter()
    forge(name)
    fresh.append((time.perf_counter() - start) * 1e6)
hits = []
for i in range(20000):  # the store keeps only its newest 100 entries: hit the newest 50
    name = f"host-{new_hosts - 1 - i % 50}.bench.test"
    start = time.perf_counter()
    forge(name)
    hits.append((time.perf_counter() - start) * 1e6)
fresh.sort()
hits.sort()
print(json.dumps({"newP50": fresh[len(fresh) // 2], "newP99": fresh[int(len(fresh) * 0.99)], "hitP50": hits[len(hits) // 2]}))
