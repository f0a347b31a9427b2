import Foundation
import Testing
import TestSupport

/// `run --admin` and `healthcheck`, end to end: a proxy process driven by python3's standard
/// library the way a harness in another language would, and the healthcheck's exit statuses.
@Suite struct ControlAPICLITests {
    /// Starts `run --admin 127.0.0.1:0` with a ready file.
    private func startProxy(_ extra: [String] = []) throws -> ProxyProcess {
        try ProxyProcess(["--admin", "127.0.0.1:0"] + extra, caDirectory: .fresh)
    }

    @Test func aPythonHarnessDrivesTheControlAPIAndShutsTheProxyDown() throws {
        let proxy = try startProxy(["--offline"])
        let script = #"""
            import json, ssl, sys, urllib.request
            info = json.load(open(sys.argv[1]))
            admin = "http://" + info["admin"]
            direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            def call(method, path, body=None):
                request = urllib.request.Request(admin + path, data=body, method=method)
                with direct.open(request, timeout=30) as answer:
                    return answer.status, answer.read()
            assert call("GET", "/v1/health") == (200, b'{"status":"ok"}\n')
            status, ready = call("GET", "/v1/ready")
            assert json.loads(ready) == info, (ready, info)
            _, pem = call("GET", "/v1/ca.pem")
            context = ssl.create_default_context(cadata=pem.decode())
            proxied = urllib.request.build_opener(
                urllib.request.ProxyHandler({"https": "http://127.0.0.1:%d" % info["port"]}),
                urllib.request.HTTPSHandler(context=context))
            with proxied.open("https://harness.example/hello", timeout=30) as answer:
                assert answer.status == 200 and b"harness.example" in answer.read()
            _, page = call("GET", "/v1/flows?since=0&wait=10")
            hosts = {item["event"].get("host") for item in json.loads(page)["events"]}
            assert "harness.example" in hosts, page
            assert call("PUT", "/v1/failures", b'["*.harness.example=expired"]')[1] == b'{"rules":["*.harness.example=expired"]}\n'
            try:
                proxied.open("https://www.harness.example/", timeout=30)
                raise SystemExit("an expired leaf was accepted")
            except urllib.error.URLError as error:
                assert "certificate has expired" in str(error.reason), error
            assert call("POST", "/v1/reset")[0] == 200
            assert json.loads(call("GET", "/v1/failures")[1]) == {"rules": []}
            assert call("POST", "/v1/shutdown") == (202, b'{"status":"stopping"}\n')
            print("harness ok")
            """#
        let result = try run("python3", ["-c", script, proxy.readyPath])
        #expect(result.status == 0 && result.stdout == "harness ok\n", "\(result)")
        let ended = proxy.process.waitForExit(timeout: 15)
        #expect(ended != nil, "still running 15 s after POST /v1/shutdown")
        #expect(ended == .exited(0), "\(ended.map(\.description) ?? "running")")
    }

    @Test func healthcheckExitsZeroWhenTheProxyAnswersAndOneOtherwise() throws {
        let proxy = try startProxy()
        let admin = try #require(proxy.info["admin"] as? String)
        let port = try #require(proxy.info["port"] as? Int)

        let viaAdmin = try CLI.run(["healthcheck", "--admin", admin])
        #expect(viaAdmin.status == 0 && viaAdmin.stdout == "healthy: \(admin) answered 200\n", "\(viaAdmin)")
        let viaEnvironment = try CLI.run(["healthcheck"], environment: ["INTERCEPT_PROXY_ADMIN": admin])
        #expect(viaEnvironment.status == 0, "\(viaEnvironment)")
        let viaProxy = try CLI.run(["healthcheck", "--proxy", "127.0.0.1:\(port)"])
        #expect(viaProxy.status == 0 && viaProxy.stdout == "healthy: 127.0.0.1:\(port) answered 200\n", "\(viaProxy)")

        // A port where nothing listens, and a listener that never answers: 1, within the timeout.
        let closed = try CLI.run(["healthcheck", "--admin", "127.0.0.1:1"])
        #expect(closed.status == 1 && closed.stderr == "intercept-proxy: error: unhealthy: connect to 127.0.0.1:1: Connection refused\n", "\(closed)")
        let silent = try startServer("python3", ["-c", """
            import socket, time
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            s.listen(8)
            print("port", s.getsockname()[1], flush=True)
            held = []
            while True:
                held.append(s.accept()[0])
            """])
        defer { silent.stop() }
        let silentPort = try silent.waitFor("port ([0-9]+)")
        let started = Date()
        let hung = try CLI.run(["healthcheck", "--admin", "127.0.0.1:\(silentPort)", "--timeout", "1"])
        let took = Date().timeIntervalSince(started)
        #expect(hung.status == 1 && hung.stderr.contains("unhealthy: timed out waiting for 127.0.0.1:\(silentPort)'s answer"), "\(hung)")
        #expect(took < 5, "healthcheck --timeout 1 took \(took) s")
        // The proxy port is not the control API: it answers, but not 200.
        let wrongPort = try CLI.run(["healthcheck", "--admin", "127.0.0.1:\(port)"])
        #expect(wrongPort.status == 1 && wrongPort.stderr.contains("answered 400, not 200"), "\(wrongPort)")

        let both = try CLI.run(["healthcheck", "--admin", admin, "--proxy", "127.0.0.1:\(port)"])
        #expect(both.status == 2 && both.stderr.contains("give --admin or --proxy, not both"), "\(both)")
        #expect(proxy.terminate() == .exited(0))
        let afterStop = try CLI.run(["healthcheck", "--admin", admin])
        #expect(afterStop.status == 1, "\(afterStop)")
    }

    /// The control API holds at most 64 connections: more are answered 503 naming the field, and once
    /// the clients go, the proxy's descriptors are back where they were and it answers again.
    @Test func connectionsBeyondTheBoundGet503AndDescriptorsReturnToBaseline() throws {
        let proxy = try startProxy(["--offline"])
        let admin = try #require(proxy.info["admin"] as? String)
        let descriptors = { proxy.status.openDescriptors }
        #expect(try CLI.run(["healthcheck", "--admin", admin]).status == 0)
        // The healthcheck's connection is closed by the proxy (nothing announces it): its descriptor goes.
        let baseline = settled(descriptors)
        let script = """
            import socket, sys, time
            port = int(sys.argv[1])
            held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(64)]
            # No pause: the proxy counts a connection when it accepts it, not when a loop adopts it.
            answer = socket.create_connection(("127.0.0.1", port), timeout=10).makefile("rb").read()
            print(answer.decode().split("\\r\\n")[0])
            print(answer.decode().split("\\r\\n\\r\\n", 1)[1].strip())
            for s in held:
                s.close()
            """
        let result = try run("python3", ["-c", script, admin.split(separator: ":").last.map(String.init) ?? ""])
        #expect(result.stdout == "HTTP/1.1 503 Service Unavailable\n{\"error\":\"the control API serves at most 64 connections at once\",\"field\":\"connections\"}\n", "\(result)")
        eventually(timeout: 10, interval: 0.05) { descriptors() <= baseline }
        #expect(descriptors() == baseline, "descriptors: \(descriptors()) after, \(baseline) before")
        let again = try CLI.run(["healthcheck", "--admin", admin])
        #expect(again.status == 0, "\(again)")
    }

    @Test func aBadAdminAddressIsAUsageError() throws {
        let result = try CLI.run(["run", "--admin", "localhost:8081"])
        #expect(result.status == 2, "\(result)")
        #expect(result.stderr.contains("--admin takes HOST:PORT with an IP address (127.0.0.1:8081, [::1]:8081, 0.0.0.0:8081) or a PORT, got 'localhost:8081'"), "\(result)")
    }
}
