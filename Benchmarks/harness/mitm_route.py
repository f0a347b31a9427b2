"""mitmdump addon: send every upstream connection to the bench origin (the names under bench.test do not resolve)."""
from mitmproxy import ctx


class RouteToOrigin:
    def load(self, loader):
        loader.add_option("bench_origin", str, "", "HOST:PORT every upstream connection goes to")

    def server_connect(self, data):
        host, port = ctx.options.bench_origin.rsplit(":", 1)
        data.server.address = (host, int(port))


addons = [RouteToOrigin()]
