import CertForge
import Foundation
import InterceptProxy
import Testing
import TestSupport

/// The control API (`ProxyConfiguration.adminAddress`) against an in-process proxy, driven by curl
/// and python3, and the same operations through the Swift API.
@Suite struct ControlAPITests {
    /// `withProxy` with the control API on an ephemeral loopback port.
    private func withAdminProxy(offline: Bool = true, configure: (inout ProxyConfiguration) -> Void = { _ in },
                                _ body: (ProxyFixture) async throws -> Void) async throws {
        try await withProxy(offline: offline, configure: {
            $0.adminAddress = "127.0.0.1:0"
            configure(&$0)
        }, body)
    }

    /// curl against the control API: the status and the body.
    private func admin(_ fixture: ProxyFixture, _ path: String, _ extra: [String] = []) throws -> (status: Int, body: String) {
        let address = try #require(fixture.proxy.adminAddress)
        let result = try run("curl", ["-sS", "--max-time", "20", "-w", "\n%{http_code}"] + extra + ["http://\(address)\(path)"])
        #expect(result.status == 0, "\(result)")
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        var body = lines.dropLast().joined(separator: "\n")
        if body.hasSuffix("\n") { body.removeLast() }  // every JSON answer ends in one
        return (Int(lines.last ?? "") ?? -1, body)
    }

    private func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "not a JSON object: \(text)")
    }

    @Test func offByDefault() async throws {
        try await withProxy { fixture in
            #expect(fixture.proxy.adminAddress == nil)
            #expect(fixture.proxy.readyInfo.admin == nil)
        }
    }

    @Test func healthReadyAndEveryCertificateForm() async throws {
        try await withAdminProxy { fixture in
            let health = try admin(fixture, "/v1/health")
            #expect(health.status == 200 && health.body == #"{"status":"ok"}"#, "\(health)")

            let ready = try json(try admin(fixture, "/v1/ready").body)
            #expect(ready["port"] as? Int == fixture.port && ready["admin"] as? String == fixture.proxy.adminAddress?.description, "\(ready)")
            #expect(ready["caCertificate"] as? String == fixture.rootFile && ready["pid"] as? Int == Int(getpid()), "\(ready)")

            let pem = try admin(fixture, "/v1/ca.pem")
            #expect(pem.status == 200 && pem.body + "\n" == fixture.proxy.rootCertificatePEM, "\(pem)")
            let crt = try admin(fixture, "/v1/ca.crt", ["-D", "-"])
            #expect(crt.body.contains("Content-Type: application/x-x509-ca-cert") && crt.body.contains("-----BEGIN CERTIFICATE-----"), "\(crt)")

            let scratch = try TemporaryDirectory()
            let address = try #require(fixture.proxy.adminAddress)
            for (form, check) in [("der", ["x509", "-inform", "DER", "-noout", "-fingerprint", "-sha256", "-in"]),
                                  ("p12", ["pkcs12", "-nokeys", "-passin", "pass:changeit", "-in"])] {
                let file = scratch.path("ca.\(form)")
                let fetched = try run("curl", ["-sS", "--fail", "-o", file, "http://\(address)/v1/ca.\(form)"])
                #expect(fetched.status == 0, "\(fetched)")
                let parsed = try run("openssl", check + [file])
                #expect(parsed.status == 0, "\(form): \(parsed)")
                let root = try Certificate.parsePEM(fixture.proxy.rootCertificatePEM)[0]
                if form == "der" {
                    #expect(parsed.stdout.uppercased().replacingOccurrences(of: ":", with: "").contains(root.sha256FingerprintText.uppercased().replacingOccurrences(of: ":", with: "")), "\(parsed)")
                } else {
                    #expect(parsed.stdout.contains("-----BEGIN CERTIFICATE-----") && !parsed.stdout.contains("PRIVATE KEY"), "\(parsed)")
                }
            }
        }
    }

    /// A harness waits for "the request reached the proxy" without sleeping: the long poll returns
    /// as soon as the event is recorded, and an idle one returns empty after its wait, not later.
    @Test func flowsLongPollReturnsWhenTheRequestArrives() async throws {
        try await withAdminProxy { fixture in
            let address = try #require(fixture.proxy.adminAddress)
            let script = """
                import http.client, json, sys, time
                started = time.monotonic()
                conn = http.client.HTTPConnection(sys.argv[1], timeout=30)
                conn.request("GET", sys.argv[2])
                print("sent", flush=True)
                page = json.load(conn.getresponse())
                print(json.dumps({"seconds": time.monotonic() - started, "page": page}))
                """
            let poll = try start("python3", ["-c", script, address.description, "/v1/flows?since=0&wait=20"])
            // The poll is out before the request starts (and is waiting by the time curl has made its tunnel).
            try poll.waitFor("^sent$")
            let request = try fixture.curl(["--cacert", fixture.rootFile, "https://polled.example/path"])
            #expect(request.status == 0, "\(request)")
            let result = try poll.wait(timeout: 30)
            #expect(result.stdout.hasPrefix("sent\n"), "\(result)")
            let outcome = try json(String(result.stdout.dropFirst("sent\n".count)))
            let seconds = try #require(outcome["seconds"] as? Double)
            #expect(seconds < 10, "the long poll took \(seconds) s")
            let page = try #require(outcome["page"] as? [String: Any])
            let events = try #require(page["events"] as? [[String: Any]])
            #expect(events.first?["sequence"] as? Int == 1, "\(page)")
            #expect((events.first?["event"] as? [String: Any])?["host"] as? String == "polled.example", "\(page)")
            #expect(page["next"] as? Int == events.last?["sequence"] as? Int, "\(page)")

            // Nothing newer: an empty page after about the wait asked for.
            let next = try #require(page["next"] as? Int)
            // The tunnel's close is recorded when the proxy reads curl's close, which can be after curl exits.
            _ = try fixture.waitForEvent { $0.type == .tunnelClosed && $0.host == "polled.example" }
            let later = fixture.proxy.lastFlowSequence
            let started = Date()
            let idle = try json(try admin(fixture, "/v1/flows?since=\(later)&wait=1").body)
            let waited = Date().timeIntervalSince(started)
            #expect((idle["events"] as? [Any])?.isEmpty == true && idle["next"] as? Int == later, "\(idle)")
            #expect(waited >= 0.9 && waited < 5, "an idle wait=1 poll took \(waited) s")
            #expect(later >= next)

            // A bounded page: limit=2 gives two events and the number to go on from.
            let limited = try json(try admin(fixture, "/v1/flows?since=0&limit=2").body)
            #expect((limited["events"] as? [Any])?.count == 2 && limited["next"] as? Int == 2, "\(limited)")
        }
    }

    @Test func theSwiftAPIWaitsForTheNextFlowToo() async throws {
        try await withAdminProxy { fixture in
            let since = fixture.proxy.lastFlowSequence
            async let page = fixture.proxy.flows(since: since, wait: 20)
            // A time gap in which the child task starts its wait (nothing announces that it did;
            // had it not yet, the page would hold the same event, only without having waited).
            try await Task.sleep(nanoseconds: 200_000_000)
            let request = try fixture.curl(["--cacert", fixture.rootFile, "https://swift-api.example/"])
            #expect(request.status == 0, "\(request)")
            let received = await page
            #expect(received.events.first?.sequence == since + 1 && received.events.first?.event.host == "swift-api.example", "\(received)")
            let empty = await fixture.proxy.flows(since: fixture.proxy.lastFlowSequence, wait: 0)
            #expect(empty.events.isEmpty)
        }
    }

    /// `--failure` rules set at run time take effect on the next connection; DELETE removes them,
    /// and reset puts back those the proxy started with and forgets the flows.
    @Test func failureRulesAtRunTimeAndReset() async throws {
        try await withAdminProxy(configure: { $0.failureRules = [try! FailureRule(parsing: "start.test=self-signed")] }) { fixture in
            let before = try fixture.curl(["--cacert", fixture.rootFile, "https://www.broken.test/"])
            #expect(before.status == 0, "\(before)")
            let put = try admin(fixture, "/v1/failures", ["-X", "PUT", "-d", #"{"rules": ["*.broken.test=expired"]}"#])
            #expect(put.status == 200 && put.body == #"{"rules":["*.broken.test=expired"]}"#, "\(put)")
            #expect(fixture.proxy.failureRules == [FailureRule(pattern: "*.broken.test", mode: .expired)])
            let expired = try fixture.curl(["--cacert", fixture.rootFile, "https://www.broken.test/"])
            #expect(expired.status == 60 && expired.stderr.contains("SSL certificate problem: certificate has expired"), "\(expired)")

            let deleted = try admin(fixture, "/v1/failures", ["-X", "DELETE"])
            #expect(deleted.status == 200 && deleted.body == #"{"rules":[]}"#, "\(deleted)")
            let fine = try fixture.curl(["--cacert", fixture.rootFile, "https://other.broken.test/"])
            #expect(fine.status == 0, "\(fine)")

            #expect(!fixture.proxy.recordedEvents.isEmpty)
            // The tunnel's close is recorded just after curl exits: wait for it, or it lands after `last`.
            _ = try fixture.waitForEvent { $0.type == .tunnelClosed && $0.host == "other.broken.test" }
            let last = fixture.proxy.lastFlowSequence
            let reset = try json(try admin(fixture, "/v1/reset", ["-X", "POST"]).body)
            #expect(reset["status"] as? String == "reset" && reset["next"] as? Int == last, "\(reset)")
            #expect(fixture.proxy.recordedEvents.isEmpty)
            #expect(try json(try admin(fixture, "/v1/flows?since=0").body)["events"] as? [Any] != nil)
            #expect((try json(try admin(fixture, "/v1/flows?since=0").body)["events"] as? [Any])?.isEmpty == true)
            #expect(try admin(fixture, "/v1/failures").body == #"{"rules":["start.test=self-signed"]}"#)
            // Numbering goes on after a reset: a harness's old `since` stays valid.
            _ = try fixture.curl(["--cacert", fixture.rootFile, "https://after-reset.example/"])
            let page = await fixture.proxy.flows(since: 0, wait: 10)
            #expect(page.events.first?.sequence == last + 1, "\(page)")
        }
    }

    @Test func mapRemoteRulesAtRunTime() async throws {
        let origin = try OriginServer()
        defer { origin.stop() }
        try await withAdminProxy(offline: false) { fixture in
            let unmapped = try fixture.curl(["http://mapped.test/hello"])
            #expect(!unmapped.stdout.contains("hello"), "\(unmapped)")
            let rule = "mapped.test=127.0.0.1:\(origin.port)"
            let put = try admin(fixture, "/v1/map-remote", ["-X", "PUT", "-d", "[\"\(rule)\"]"])
            #expect(put.status == 200 && put.body == "{\"rules\":[\"\(rule)\"]}", "\(put)")
            #expect(fixture.proxy.mapRemoteRules == [try MapRemoteRule(parsing: rule)])
            let mapped = try fixture.curl(["http://mapped.test/headers"])
            #expect(mapped.status == 0 && mapped.stdout.contains("request-line: GET /headers HTTP/1.1"), "\(mapped)")
            #expect(try admin(fixture, "/v1/map-remote", ["-X", "DELETE"]).body == #"{"rules":[]}"#)
            #expect(fixture.proxy.mapRemoteRules.isEmpty)
        }
    }

    /// Bad requests get 4xx and a JSON error naming the field; the API keeps serving.
    @Test func badRequestsNameTheField() async throws {
        try await withAdminProxy { fixture in
            let cases: [(String, [String], Int, String, String)] = [
                ("/v1/flows?wait=61", [], 400, "wait", "wait must be 0 to 60 seconds, got '61'"),
                ("/v1/flows?since=-1", [], 400, "since", "since must be a whole number from 0 up, got '-1'"),
                ("/v1/flows?limit=0", [], 400, "limit", "limit must be a whole number from 1 to 1000, got '0'"),
                ("/v1/flows?since=1&since=2", [], 400, "since", "since given more than once"),
                ("/v1/flows?colour=red", [], 400, "colour", "flows takes since, wait and limit, not 'colour'"),
                ("/v1/health?x=1", [], 400, "x", "/v1/health takes no query parameter 'x'"),
                ("/v1/failures", ["-X", "PUT", "-d", "not json"], 400, "body", #"the body must be JSON: {"rules": ["...", ...]}"#),
                ("/v1/failures", ["-X", "PUT", "-d", #"{"rule": []}"#], 400, "rules", #"the body must be {"rules": ["...", ...]} (a list of strings, nothing else)"#),
                ("/v1/failures", ["-X", "PUT", "-d", #"["a.test=expired", "b.test=warped"]"#], 400, "rules[1]", ""),
                ("/v1/failures", ["-X", "PUT", "-d", #"[7]"#], 400, "rules[0]", "each rule is a string"),
                ("/v1/map-remote", ["-X", "PUT", "-d", #"["a.test=nowhere"]"#], 400, "rules[0]", "--map-remote takes HOST[:PORT]=ADDRESS:PORT, got 'a.test=nowhere'"),
                ("/v1/map-remote", ["-X", "PUT", "-d", #"["a.test=127.0.0.1:9"]"#], 409, "rules", "the proxy runs with --offline and contacts no upstream: map-remote rules would have no effect"),
                ("/v1/health", ["-X", "DELETE"], 405, "method", "/v1/health takes GET, not DELETE"),
                ("/v1/shutdown", [], 405, "method", "/v1/shutdown takes POST, not GET"),
                ("/v2/health", [], 404, "path", ""),
            ]
            for (path, extra, status, field, message) in cases {
                let answer = try admin(fixture, path, extra)
                let object = try json(answer.body)
                #expect(answer.status == status && object["field"] as? String == field, "\(path) \(extra): \(answer)")
                if !message.isEmpty { #expect(object["error"] as? String == message, "\(path): \(answer)") }
            }
            #expect(fixture.proxy.failureRules.isEmpty, "a rejected PUT changes nothing")
            let allow = try admin(fixture, "/v1/reset", ["-D", "-"])
            #expect(allow.body.contains("Allow: POST"), "\(allow)")

            // Below HTTP: a malformed request (bare LF), a body over the bound, the proxy's form of target.
            let address = try #require(fixture.proxy.adminAddress)
            let hostile: [(String, String)] = [
                ("GET /v1/health HTTP/1.1\nHost: x\n\n", "HTTP/1.1 400 Bad Request"),
                ("PUT /v1/failures HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n", "HTTP/1.1 413 Content Too Large"),
                ("GET http://example.test/ HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n", "HTTP/1.1 400 Bad Request"),
            ]
            for (request, expected) in hostile {
                let outcome = try RawClient.run(port: address.port, [.send(request), .readToClose(timeout: 10)])
                #expect(outcome.received.hasPrefix(expected) && outcome.received.contains("\"field\"") && outcome.closedByPeer,
                        "\(request.prefix(60)): \(outcome)")
            }
            #expect(try admin(fixture, "/v1/health").status == 200, "still serving")
        }
    }

    /// POST /v1/shutdown answers 202, then runs `onShutdownRequest` once the answer is out (by
    /// default `stop()`; `run` sets one that also exits, see ControlAPICLITests).
    @Test func shutdownAnswersThenRunsTheHandlerOnce() async throws {
        try await withAdminProxy { fixture in
            let calls = LockedCalls()
            fixture.proxy.onShutdownRequest = { calls.add() }
            let answer = try admin(fixture, "/v1/shutdown", ["-X", "POST"])
            #expect(answer.status == 202 && answer.body == #"{"status":"stopping"}"#, "\(answer)")
            calls.waitForFirst(timeout: 10)
            usleep(100_000)  // a time gap in which a second call, were there one, would come
            #expect(calls.count == 1)
            #expect(try admin(fixture, "/v1/health").status == 200, "a custom handler that does not stop leaves the proxy serving")
        }
    }

    /// `http://intercept-proxy.test/ca.pem` (and .crt, .der, .p12) from the proxy itself: plain and through CONNECT.
    @Test func theProxyServesItsRootAtInterceptProxyTest() async throws {
        try await withProxy(offline: false) { fixture in
            let plain = try fixture.curl(["-D", "-", "http://intercept-proxy.test/ca.pem"])
            #expect(plain.status == 0 && plain.stdout.contains("Content-Type: application/x-pem-file"), "\(plain)")
            #expect(plain.stdout.hasSuffix(fixture.proxy.rootCertificatePEM), "\(plain)")
            let tunnelled = try fixture.curl(["--cacert", fixture.rootFile, "https://intercept-proxy.test/ca.crt"])
            #expect(tunnelled.status == 0 && tunnelled.stdout == fixture.proxy.rootCertificatePEM, "\(tunnelled)")
            let scratch = try TemporaryDirectory()
            let p12 = scratch.path("ca.p12")
            #expect(try fixture.curl(["--fail", "-o", p12, "http://intercept-proxy.test/ca.p12"]).status == 0)
            let parsed = try run("openssl", ["pkcs12", "-in", p12, "-nokeys", "-passin", "pass:changeit"])
            #expect(parsed.status == 0 && parsed.stdout.contains("-----BEGIN CERTIFICATE-----"), "\(parsed)")
            let missing = try fixture.curl(["-o", "/dev/null", "-w", "%{http_code}", "http://intercept-proxy.test/key.pem"])
            #expect(missing.stdout == "404", "\(missing)")
            let posted = try fixture.curl(["-o", "/dev/null", "-w", "%{http_code}", "-d", "x", "http://intercept-proxy.test/ca.pem"])
            #expect(posted.stdout == "405", "\(posted)")
            let event = try fixture.waitForEvent { $0.type == .response && $0.url == "http://intercept-proxy.test/ca.pem" }
            #expect(event.status == 200)
        }
    }
}

private final class LockedCalls: @unchecked Sendable {
    private let condition = NSCondition()
    private var calls = 0
    func add() {
        condition.withLock {
            calls += 1
            condition.broadcast()
        }
    }
    var count: Int { condition.withLock { calls } }

    /// Waits until the first call, at most `timeout` seconds.
    func waitForFirst(timeout: TimeInterval) {
        let deadline = Date() + timeout
        condition.withLock {
            while calls == 0 && condition.wait(until: deadline) {}
        }
    }
}
