# Testcontainers (Python): the image as a DockerContainer, ready on the banner line it logs.
import urllib.request

from testcontainers.core.container import DockerContainer
from testcontainers.core.waiting_utils import wait_for_logs

with DockerContainer("localhost/intercept-proxy:dev") \
        .with_exposed_ports(8080, 8081) \
        .with_command("run --listen-host 0.0.0.0 --port 8080 --admin 0.0.0.0:8081") as proxy:
    wait_for_logs(proxy, "intercept-proxy listening on", timeout=30)
    admin = "http://%s:%s" % (proxy.get_container_host_ip(), proxy.get_exposed_port(8081))
    open("ca.pem", "wb").write(urllib.request.urlopen(admin + "/v1/ca.pem").read())
    https_proxy = "http://%s:%s" % (proxy.get_container_host_ip(), proxy.get_exposed_port(8080))
    # run the code under test with HTTPS_PROXY=https_proxy and REQUESTS_CA_BUNDLE=ca.pem;
    # POST admin + "/v1/reset" between tests.
