import Foundation
@testable import InterceptProxy
import Testing
import TestSupport

/// The allow-list's ranges, parsed once and matched on 128-bit addresses.
@Suite struct ClientAllowListTests {
    @Test func matchesIPv4IPv6AndIPv4MappedPeers() throws {
        let list = try ClientAllowList(["10.0.0.0/8", "192.0.2.7", "fd00::/8", "2001:db8::1"])
        for allowed in ["10.0.0.1", "10.255.255.255", "192.0.2.7", "fd12::5", "2001:db8::1", "::ffff:10.1.2.3", "::ffff:192.0.2.7"] {
            #expect(list.allows(allowed), "\(allowed)")
        }
        for refused in ["11.0.0.1", "9.255.255.255", "192.0.2.8", "fe00::1", "2001:db8::2", "::ffff:11.0.0.1", "127.0.0.1", "::1", "", "host.test"] {
            #expect(!list.allows(refused), "\(refused)")
        }
        let everyone = try ClientAllowList(["0.0.0.0/0", "::/0"])
        #expect(everyone.allows("203.0.113.9") && everyone.allows("2001:db8::9") && everyone.allows("::ffff:203.0.113.9"))
        #expect(try !ClientAllowList([]).allows("127.0.0.1"))
    }

    @Test func defaultIsEveryoneOnLoopbackAndThePrivateNetworksBeyondIt() throws {
        var configuration = ProxyConfiguration()
        for loopback in ["127.0.0.1", "127.0.0.2", "::1", "localhost"] {
            configuration.listenHost = loopback
            #expect(try ClientAllowList.effective(configuration) == nil, "\(loopback)")
        }
        configuration.listenHost = "0.0.0.0"
        let defaults = try #require(try ClientAllowList.effective(configuration))
        for allowed in ["127.0.0.1", "127.9.9.9", "::1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.1.1",
                        "fc00::1", "fd12:3456::1", "fe80::1", "::ffff:192.168.1.1"] {
            #expect(defaults.allows(allowed), "\(allowed)")
        }
        for refused in ["8.8.8.8", "172.32.0.1", "172.15.255.255", "192.169.0.1", "100.64.0.1", "2001:db8::1", "::ffff:8.8.8.8", "::"] {
            #expect(!defaults.allows(refused), "\(refused)")
        }
        configuration.allowClients = ["203.0.113.0/24"]
        #expect(try ClientAllowList.effective(configuration)?.entries == ["203.0.113.0/24"])
        configuration.listenHost = "127.0.0.1"  // given ranges apply on loopback too
        #expect(try ClientAllowList.effective(configuration)?.allows("127.0.0.1") == false)
    }

    @Test func badEntriesAreRefusedWithTheirReason() {
        let cases = [
            ("10.1.0.0/8", "--allow-clients '10.1.0.0/8' has host bits set; did you mean 10.0.0.0/8?"),
            ("fd00::1/8", "--allow-clients 'fd00::1/8' has host bits set; did you mean fd00::/8?"),
            ("10.0.0.0/33", "--allow-clients '10.0.0.0/33': the prefix length must be 0 to 32"),
            ("::/129", "--allow-clients '::/129': the prefix length must be 0 to 128"),
            ("10.0.0.0/", "--allow-clients '10.0.0.0/': the prefix length must be 0 to 32"),
            ("corp.example", "--allow-clients takes CIDR ranges or addresses (10.0.0.0/8, fd00::/8, 192.0.2.7), got 'corp.example'"),
        ]
        for (entry, message) in cases {
            #expect(throws: ConfigurationError.self, "\(entry)") { try ClientAllowList([entry]) }
            #expect((try? ClientAllowList([entry])) == nil)
            do { _ = try ClientAllowList([entry]) } catch { #expect("\(error)" == message) }
        }
    }
}

/// `--proxy-auth` credentials and their constant-time check.
@Suite struct ProxyCredentialsTests {
    private func head(_ authorization: [String]) -> HTTPRequestHead {
        HTTPRequestHead(method: "CONNECT", target: "a.test:443", version: "HTTP/1.1",
                        headers: [("Host", "a.test:443")] + authorization.map { (name: "Proxy-Authorization", value: $0) })
    }

    @Test func verdicts() throws {
        let credentials = try ProxyCredentials(parsing: "ci:s3cr:et")  // the password may hold colons
        #expect(credentials.user == "ci" && credentials.password == "s3cr:et" && credentials.description == "ci:***")
        var dumped = ""
        dump(credentials, to: &dumped)
        var configuration = ProxyConfiguration()
        configuration.proxyAuth = credentials
        #expect(!dumped.contains("s3cr") && !"\(configuration)".contains("s3cr") && "\(configuration)".contains("ci:***"), "\(dumped)")
        let good = "Basic " + Data("ci:s3cr:et".utf8).base64EncodedString()
        #expect(credentials.verdict(for: head([good])) == .accepted)
        #expect(credentials.verdict(for: head(["basic " + Data("ci:s3cr:et".utf8).base64EncodedString()])) == .accepted)
        #expect(credentials.verdict(for: head([])) == .missing)
        #expect(credentials.verdict(for: head(["Basic " + Data("ci:s3cr:eT".utf8).base64EncodedString()])) == .wrong("wrong user or password"))
        #expect(credentials.verdict(for: head(["Basic " + Data("ci:s3cr:et!".utf8).base64EncodedString()])) == .wrong("wrong user or password"))
        #expect(credentials.verdict(for: head(["Basic " + Data("ci:s3cr".utf8).base64EncodedString()])) == .wrong("wrong user or password"))
        #expect(credentials.verdict(for: head(["Bearer abc"])) == .wrong("not the Basic scheme"))
        #expect(credentials.verdict(for: head(["Basic !!!"])) == .wrong("the Basic credentials are not valid base64"))
        #expect(credentials.verdict(for: head([good, good])) == .wrong("2 Proxy-Authorization fields"))
        for bad in ["nocolon", ":pass", "user:", "us\u{1}er:pass"] {
            #expect(throws: ConfigurationError.self, "\(bad)") { try ProxyCredentials(parsing: bad) }
        }
    }
}

/// Who may use the proxy: the allow-list at accept time, Basic credentials on proxy requests.
@Suite struct AccessControlTests {
    @Test func aClientOutsideTheAllowListGets403AndAnEvent() async throws {
        // Listening on 127.0.0.1 and ::1; only ::1 (and 10/8) allowed: 127.0.0.1 stands for a foreign network.
        try await withProxy(configure: { $0.listenHost = "localhost"; $0.allowClients = ["10.0.0.0/8", "::1"] }) { fixture in
            let tunnel = try fixture.curl(["--cacert", fixture.rootFile, "https://refused.example/"])
            #expect(tunnel.status == 56 && tunnel.stderr.contains("CONNECT tunnel failed, response 403"), "\(tunnel)")
            let event = try fixture.waitForEvent { $0.cause == .clientNotAllowed }
            #expect(event.type == .error && event.status == 403 && event.count == 1 && event.client?.hasPrefix("127.0.0.1:") == true, "\(event)")
            #expect(event.detail == "refused 1 connection with 403 from 127.0.0.1, outside --allow-clients", "\(event)")

            let plain = try fixture.curl(["-i", "http://refused.example/"])
            #expect(plain.stdout.hasPrefix("HTTP/1.1 403 Forbidden\r\n"), "\(plain)")
            #expect(plain.stdout.hasSuffix("\r\n\r\nintercept-proxy: clients from 127.0.0.1 may not use this proxy; allowed: 10.0.0.0/8, ::1. Allow them with --allow-clients CIDR (repeatable).\n"), "\(plain)")
            #expect(!fixture.proxy.recordedEvents.contains { $0.type == .tunnelOpened || $0.type == .request })

            // The allowed address is served, and nothing of the refused ones is left open.
            let served = try run("curl", ["-sS", "--http1.1", "--max-time", "20", "-x", "http://[::1]:\(fixture.port)", "--cacert", fixture.rootFile, "https://allowed.example/"])
            #expect(served.status == 0 && served.stdout.contains("request: GET https://allowed.example/"), "\(served)")
            fixture.waitUntilNoConnection(timeout: 5)
            #expect(fixture.proxy.openConnections == 0)
        }
    }

    @Test func listeningOnAllAddressesStillServesLoopbackByDefault() async throws {
        try await withProxy(configure: { $0.listenHost = "0.0.0.0" }) { fixture in
            let result = try fixture.curl(["--cacert", fixture.rootFile, "https://private.example/"])
            #expect(result.status == 0 && result.stdout.contains("request: GET https://private.example/"), "\(result)")
            #expect(!fixture.proxy.recordedEvents.contains { $0.cause == .clientNotAllowed })
        }
    }

    private static let user = "ci-user"
    private static let password = "pa:ss-w0rd-7Qx"

    @Test func proxyAuthChallengesRefusesAndAccepts() async throws {
        try await withProxy(configure: { $0.proxyAuth = try! ProxyCredentials(user: Self.user, password: Self.password) }) { fixture in

            let missing = try fixture.curl(["--cacert", fixture.rootFile, "https://auth.example/"])
            #expect(missing.status == 56 && missing.stderr.contains("CONNECT tunnel failed, response 407"), "\(missing)")
            let required = try fixture.waitForEvent { $0.cause == .proxyAuthRequired }
            #expect(required.status == 407 && required.url == "auth.example:443" && required.detail == "CONNECT without Proxy-Authorization; this proxy requires --proxy-auth credentials", "\(required)")

            let wrong = try fixture.curl(["--cacert", fixture.rootFile, "--proxy-user", "\(Self.user):guess", "https://auth.example/"])
            #expect(wrong.status == 56 && wrong.stderr.contains("CONNECT tunnel failed, response 407"), "\(wrong)")
            let failed = try fixture.waitForEvent { $0.cause == .proxyAuthFailed }
            #expect(failed.status == 407 && failed.detail == "CONNECT with Proxy-Authorization refused: wrong user or password", "\(failed)")

            // The challenge, as a client reads it (plain request, absolute form).
            let challenge = try fixture.curl(["-i", "http://auth.example/"])
            #expect(challenge.stdout.hasPrefix("HTTP/1.1 407 Proxy Authentication Required\r\n"), "\(challenge)")
            #expect(challenge.stdout.contains("\r\nProxy-Authenticate: Basic realm=\"intercept-proxy\"\r\n"), "\(challenge)")
            #expect(challenge.stdout.contains("\r\nConnection: close\r\n"), "\(challenge)")

            let good = try fixture.curl(["--cacert", fixture.rootFile, "--proxy-user", "\(Self.user):\(Self.password)", "https://auth.example/"])
            #expect(good.status == 0 && good.stdout.contains("request: GET https://auth.example/"), "\(good)")
            let anyAuth = try fixture.curl(["--cacert", fixture.rootFile, "--proxy-anyauth", "--proxy-user", "\(Self.user):\(Self.password)", "https://anyauth.example/"])
            #expect(anyAuth.status == 0 && anyAuth.stdout.contains("request: GET https://anyauth.example/"), "\(anyAuth)")
            // --proxy-anyauth asks without credentials first and answers the challenge: a fourth 407.
            #expect(fixture.proxy.recordedEvents.filter { $0.status == 407 }.count == 4)
            try expectNoCredentials(in: fixture.proxy.recordedEvents)
        }
    }

    @Test func pythonClientsWithCredentialsInTheProxyURL() async throws {
        try await withProxy(configure: { $0.proxyAuth = try! ProxyCredentials(user: Self.user, password: Self.password) }) { fixture in
            let script = """
                import os, ssl, sys, urllib.error, urllib.parse, urllib.request, requests
                port, ca, password = sys.argv[1], sys.argv[2], urllib.parse.quote(sys.argv[3], safe="")
                def urllib_get(proxy, url):
                    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"https": proxy, "http": proxy}),
                                                         urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=ca)))
                    try:
                        return opener.open(url, timeout=20).read().decode().splitlines()[-1]
                    except urllib.error.HTTPError as error:
                        return "HTTPError %d %s" % (error.code, error.headers.get("Proxy-Authenticate"))
                    except OSError as error:
                        return "OSError %s" % error
                good = "http://ci-user:%s@127.0.0.1:%s" % (password, port)
                print(urllib_get(good, "https://urllib.example/"))
                print(urllib_get(good, "http://urllib.example/plain"))
                print(urllib_get("http://127.0.0.1:%s" % port, "http://urllib.example/none"))
                print(requests.get("https://requests.example/", proxies={"https": good}, verify=ca, timeout=20).text.splitlines()[-1])
                try:
                    requests.get("https://requests.example/", proxies={"https": "http://ci-user:nope@127.0.0.1:%s" % port}, verify=ca, timeout=20)
                except requests.exceptions.ProxyError as error:
                    print("ProxyError", "407" in str(error))
                """
            let result = try run("python3", ["-c", script, String(fixture.port), fixture.rootFile, Self.password], environment: cleanEnvironment())
            #expect(result.stdout.split(separator: "\n") == [
                "request: GET https://urllib.example/",
                "request: GET http://urllib.example/plain",
                "HTTPError 407 Basic realm=\"intercept-proxy\"",
                "request: GET https://requests.example/",
                "ProxyError True",
            ], "\(result)")
            try expectNoCredentials(in: fixture.proxy.recordedEvents)
        }
    }

    @Test func theOriginNeverSeesProxyAuthorization() async throws {
        let origin = try OriginServer()
        defer { origin.stop() }
        try await withProxy(offline: false, configure: {
            $0.mapRemote = [MapRemoteRule(host: "plain.test", port: nil, address: "127.0.0.1", addressPort: origin.port)]
            $0.proxyAuth = try! ProxyCredentials(user: Self.user, password: Self.password)
        }) { fixture in
            let result = try fixture.curl(["--proxy-user", "\(Self.user):\(Self.password)", "-H", "X-Probe: 1", "http://plain.test/headers"])
            #expect(result.status == 0 && result.stdout.contains("request-line: GET /headers HTTP/1.1\n"), "\(result)")
            let names = result.stdout.split(separator: "\n").first { $0.hasPrefix("field-names: ") }.map(String.init)
            #expect(names == "field-names: host,user-agent,accept,x-probe", "\(result)")
            let request = try fixture.waitForEvent { $0.type == .request }
            let recorded = request.headers?.map { $0[0].lowercased() } ?? []
            #expect(recorded.contains("x-probe") && !recorded.contains("proxy-authorization"), "\(request)")
            try expectNoCredentials(in: fixture.proxy.recordedEvents)
        }
    }

    /// Neither the header field nor the password (plain or in base64) appears in any event.
    private func expectNoCredentials(in events: [FlowEvent], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let text = String(decoding: try JSONEncoder().encode(events), as: UTF8.self)
        let encoded = Data("\(Self.user):\(Self.password)".utf8).base64EncodedString()
        let fields = events.flatMap { $0.headers ?? [] }.map { $0[0].lowercased() }
        #expect(events.contains { $0.type == .request }, sourceLocation: sourceLocation)
        #expect(!fields.contains("proxy-authorization"), "\(fields)", sourceLocation: sourceLocation)
        #expect(!text.contains(Self.password) && !text.contains(encoded), "\(text)", sourceLocation: sourceLocation)
    }
}
