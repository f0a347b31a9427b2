import CertForge
import Foundation
import InterceptProxy
import Testing
import TestSupport

/// Upstream trust, mTLS, chaining through another proxy, and every upstream failure's answer.
@Suite struct UpstreamTests {
    @Test func untrustedOriginGets502UntilTrustedOrInsecure() async throws {
        try await withForwardingOrigin(trustOrigin: false, configure: { $0.untrustedUpstream = .reject }) { strict in
            let rejected = try strict.curl(["/hello"], ["-i"])
            await strict.stop()
            #expect(rejected.stdout.hasPrefix("HTTP/1.1 502 Bad Gateway"), "\(rejected)")
            #expect(rejected.stdout.contains("upstream TLS verification failed for origin.test: unable to get local issuer certificate"), "\(rejected)")
            #expect(strict.proxy.proxy.recordedEvents.contains { $0.type == .error && $0.cause == .upstreamTLS && $0.status == 502 })
        }

        try await withForwardingOrigin(trustOrigin: false, configure: { $0.upstreamInsecure = true }) { insecure in
            let accepted = try insecure.curl(["/hello"])
            await insecure.stop()
            #expect(accepted.stdout == "hello from origin\n", "\(accepted)")
        }
    }

    @Test func clientCertificateForAnOriginThatRequiresOne() async throws {
        // A self-signed client certificate with clientAuth, which the origin also uses as its client CA.
        let scratch = try TemporaryDirectory()
        let cert = scratch.path("client.crt"), key = scratch.path("client.key")
        let made = try run("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-noenc",
                                       "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=proxy client",
                                       "-addext", "extendedKeyUsage=clientAuth"])
        #expect(made.status == 0, "\(made)")
        let clientCertificate = try Certificate.parsePEM(String(contentsOfFile: cert, encoding: .utf8))[0]
        let pem = try scratch.write("client.pem", String(contentsOfFile: cert, encoding: .utf8) + String(contentsOfFile: key, encoding: .utf8))

        try await withForwardingOrigin(clientCA: clientCertificate) { without in
            let refused = try without.curl(["/hello"], ["-i"])
            await without.stop()
            #expect(refused.stdout.hasPrefix("HTTP/1.1 502 Bad Gateway"), "\(refused)")
            #expect(refused.stdout.contains("origin.test rejected the proxy's TLS connection"), "\(refused)")
            #expect(refused.stdout.contains("certificate required"), "\(refused)")
        }

        try await withForwardingOrigin(clientCA: clientCertificate, configure: { $0.clientCertificateFile = pem }) { with in
            let accepted = try with.curl(["/hello"])
            await with.stop()
            #expect(accepted.stdout == "hello from origin\n", "\(accepted)")
        }
    }

    @Test func chainsThroughASecondInstanceAsUpstreamProxy() async throws {
        // curl -> first proxy -> CONNECT -> second proxy (intercepts again, maps origin.test) -> origin.
        try await withForwardingOrigin { origin in
            let second = origin.proxy
            try await withProxy(offline: false, configure: {
                $0.upstreamProxy = UpstreamProxy(host: "127.0.0.1", port: second.port)
                $0.upstreamCAFile = second.rootFile
            }) { first in
                let result = try first.curl(["--cacert", first.rootFile, "https://origin.test/hello"])
                #expect(result.stdout == "hello from origin\n", "\(result)")
                try second.waitForEvent { $0.type == .tunnelOpened && $0.host == "origin.test" }
            }
        }
    }

    @Test func refusedConnectionGets502() async throws {
        let closedPort = try freeLoopbackPort()
        try await withProxy(offline: false, configure: {
            $0.mapRemote = [try! MapRemoteRule(parsing: "gone.test=127.0.0.1:\(closedPort)")]
        }) { proxy in
            let result = try proxy.curl(["-i", "--cacert", proxy.rootFile, "https://gone.test/"])
            #expect(result.stdout.hasPrefix("HTTP/1.1 502 Bad Gateway"), "\(result)")
            #expect(result.stdout.contains("connecting to 127.0.0.1:\(closedPort) failed: Connection refused"), "\(result)")
            #expect(try proxy.waitForEvent { $0.type == .error }.cause == .upstreamRefused)
        }
    }

    @Test func silentOriginGets504() async throws {
        try await withForwardingOrigin(configure: { $0.responseTimeout = 1 }) { fixture in
            let result = try fixture.curl(["/slow"], ["-i"])
            #expect(result.stdout.hasPrefix("HTTP/1.1 504 Gateway Timeout"), "\(result)")
            #expect(result.stdout.contains("timed out waiting 1 s for a response from origin.test"))
            #expect(try fixture.proxy.waitForEvent { $0.type == .error }.cause == .upstreamTimeout)
        }
    }

    @Test func unansweredConnectGets504() async throws {
        let blackhole = try SaturatedListener()
        try await withProxy(offline: false, configure: {
            $0.mapRemote = [try! MapRemoteRule(parsing: "blackhole.test=127.0.0.1:\(blackhole.port)")]
            $0.connectTimeout = 1
        }) { proxy in
            let result = try proxy.curl(["-i", "--cacert", proxy.rootFile, "https://blackhole.test/"])
            #expect(result.stdout.hasPrefix("HTTP/1.1 504 Gateway Timeout"), "\(result)")
            #expect(result.stdout.contains("timed out connecting to 127.0.0.1:\(blackhole.port) after 1 s"), "\(result)")
            #expect(try proxy.waitForEvent { $0.type == .error }.cause == .upstreamTimeout)
        }
    }

    @Test func originThatClosesEarlyGets502() async throws {
        try await withForwardingOrigin { fixture in
            let result = try fixture.curl(["/close-early"], ["-i"])
            #expect(result.stdout.hasPrefix("HTTP/1.1 502 Bad Gateway"), "\(result)")
            #expect(result.stdout.contains("upstream closed early"), "\(result)")
            #expect(try fixture.proxy.waitForEvent { $0.type == .error }.cause == .upstreamClosed)
            let after = try fixture.curl(["/hello"])
            #expect(after.stdout == "hello from origin\n", "the proxy keeps serving: \(after)")
        }
    }

    @Test func upstreamIsContactedOnlyAfterTheClientHandshake() async throws {
        // No origin at all: the trust failure still reproduces, and nothing is dialled for it.
        try await withProxy(offline: false) { proxy in
            let result = try proxy.curl(["https://unreachable.test/"])
            #expect(result.stderr.contains("unable to get local issuer certificate"), "\(result)")
            #expect(try proxy.waitForEvent { $0.type == .tlsFailed }.cause == .unknownCA)
            #expect(!proxy.proxy.recordedEvents.contains { $0.type == .error })
        }
    }

    @Test func mapRemoteRulesParse() throws {
        #expect(try MapRemoteRule(parsing: "pypi.org=127.0.0.1:8443") == MapRemoteRule(host: "pypi.org", port: nil, address: "127.0.0.1", addressPort: 8443))
        #expect(try MapRemoteRule(parsing: "PyPI.org:443=[::1]:8443") == MapRemoteRule(host: "pypi.org", port: 443, address: "::1", addressPort: 8443))
        #expect(throws: ConfigurationError.self) { try MapRemoteRule(parsing: "pypi.org") }
        #expect(throws: ConfigurationError.self) { try MapRemoteRule(parsing: "pypi.org=127.0.0.1") }
        #expect(try UpstreamProxy(parsing: "http://127.0.0.1:3128/") == UpstreamProxy(host: "127.0.0.1", port: 3128))
    }

    @Test func mapRemoteHostsMayBeGlobs() throws {
        let rule = try MapRemoteRule(parsing: "*.Bench.test:443=127.0.0.1:8443")
        #expect(rule.matches(host: "h1.bench.test", port: 443))
        #expect(rule.matches(host: "A.B.BENCH.TEST", port: 443))
        #expect(!rule.matches(host: "h1.bench.test", port: 8443))
        #expect(!rule.matches(host: "bench.test", port: 443))
        #expect(!rule.matches(host: "h1.bench.test.evil", port: 443))
    }
}

/// A listener whose accept queue is full and never drained: the kernel drops further SYNs, so a
/// connect to it neither succeeds nor fails until the caller gives up.
final class SaturatedListener {
    let port: Int
    private var descriptors: [Int32] = []

    init() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        descriptors.append(listener)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) == 0 && listen(listener, 0) == 0 && getsockname(listener, $0, &length) == 0 }
        }
        guard bound else { throw POSIXError(.EADDRINUSE) }
        port = Int(UInt16(bigEndian: address.sin_port))
        // Fill the queue (backlog 0 admits one) with connections nobody accepts.
        for _ in 0..<2 {
            let filler = socket(AF_INET, Int32(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue), 0)
            descriptors.append(filler)
            _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(filler, $0, length) } }
        }
        // The first filler's handshake completes (it takes the one place in the queue); the second's never does.
        var connected = pollfd(fd: descriptors[1], events: Int16(POLLOUT), revents: 0)
        _ = poll(&connected, 1, 5_000)
    }

    deinit { descriptors.forEach { close($0) } }
}

@Suite struct ListenAndSpliceTests {
    @Test func ignoredHostsAreSplicedAndShowTheOriginsOwnCertificate() async throws {
        try await withForwardingOrigin(configure: { $0.ignoreHosts = [#"^origin\.test:443$"#] }) { fixture in
            let origin = try fixture.proxy.curl(["--cacert", fixture.originCAFile, "https://origin.test/hello"])
            #expect(origin.stdout == "hello from origin\n", "the origin's CA verifies: \(origin)")
            let proxied = try fixture.proxy.curl(["--cacert", fixture.proxy.rootFile, "https://origin.test/hello"])
            #expect(proxied.status == 60, "the proxy's root does not: \(proxied)")
            let opened = try fixture.proxy.waitForEvent { $0.type == .tunnelOpened }
            #expect(opened.detail?.contains("spliced") == true)
            #expect(!fixture.proxy.proxy.recordedEvents.contains { $0.type == .tlsEstablished })
        }
    }

    @Test func listensOnIPv4AndIPv6AndInterceptsIPLiterals() async throws {
        try await withProxy(configure: { $0.listenHost = "localhost" }) { fixture in
            #expect(Set(fixture.proxy.addresses.map(\.host)) == ["127.0.0.1", "::1"])
            #expect(Set(fixture.proxy.addresses.map(\.port)).count == 1)
            let viaV6 = try run("curl", ["-sS", "--max-time", "20", "-x", "http://[::1]:\(fixture.port)", "--cacert", fixture.rootFile, "https://[::1]/v6"])
            #expect(viaV6.stdout.contains("the TLS handshake for ::1 succeeded"), "\(viaV6)")
            let viaV4 = try fixture.curl(["--cacert", fixture.rootFile, "https://127.0.0.1:8443/v4"])
            #expect(viaV4.stdout.contains("request: GET https://127.0.0.1:8443/v4"), "\(viaV4)")
        }
    }
}

@Suite struct MimicUpstreamTests {
    @Test func leafCopiesSubjectSANAndValidityButKeepsTheProxysIssuer() async throws {
        // An origin certificate with a distinctive subject, extra SANs and its own validity period.
        let originKey = try PrivateKey.generate(.ecdsaP256)
        let originCA = try CertificateAuthority.generate(profile: .plain.with(keyAlgorithm: .ecdsaP256))
        let notBefore = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 / 86_400).rounded(.down) * 86_400 - 5 * 86_400)
        let notAfter = notBefore + 47 * 86_400
        let originLeaf = try CertificateBuilder(
            subject: DistinguishedName(["C": "US", "O": "Origin Corp", "CN": "origin.test"]), notBefore: notBefore, notAfter: notAfter,
            extensions: [.basicConstraints(isCA: false, critical: true), .keyUsage([.digitalSignature], critical: true),
                         .serverAuthExtendedKeyUsage, .subjectAlternativeNames([.dnsName("origin.test"), .dnsName("www.origin.test"), .ipAddress("192.0.2.10")]),
                         .subjectKeyIdentifier, .authorityKeyIdentifier]
        ).sign(publicKey: originKey, signer: .issuer(originCA.rootCertificate, originCA.root.key))
        let originChain = ForgedChain(serverName: .dns("origin.test"), failure: nil, leaf: originLeaf, leafKey: originKey,
                                      chain: [], trustAnchor: originCA.rootCertificate)
        let origin = try OriginServer(chain: originChain)
        defer { origin.stop() }
        try await withProxy(offline: false, configure: {
            $0.mimicUpstream = true
            $0.upstreamInsecure = true
            $0.mapRemote = [MapRemoteRule(host: "origin.test", port: 443, address: "127.0.0.1", addressPort: origin.port)]
        }) { proxy in

            // What the client is shown, read with s_client through the proxy.
            let shown = try run("openssl", ["s_client", "-proxy", "127.0.0.1:\(proxy.port)", "-connect", "origin.test:443",
                                            "-servername", "origin.test", "-showcerts"])
            let leaf = try #require(try Certificate.parsePEM(shown.stdout).first, "\(shown)")
            #expect(leaf.subject == originLeaf.subject)
            #expect(leaf.subjectAlternativeNames == originLeaf.subjectAlternativeNames)
            #expect(leaf.notBefore == originLeaf.notBefore && leaf.notAfter == originLeaf.notAfter)
            #expect(leaf.issuer == (try Fixtures.issuer(of: proxy)))
            #expect(leaf.publicKeyAlgorithm == KeyAlgorithm.rsa2048, "the proxy's own key, not the origin's")

            // And the tunnel still carries requests to that origin, over HTTP/1.1 and h2 alike (the h2
            // leg takes over the connection dialled for the certificate).
            let result = try proxy.curl(["--cacert", proxy.rootFile, "https://origin.test/hello"])
            #expect(result.stdout == "hello from origin\n", "\(result)")
            let overH2 = try proxy.curl(["--http2", "--cacert", proxy.rootFile, "-w", "|%{http_version}", "https://origin.test/hello", "https://origin.test/hello"])
            #expect(overH2.stdout == "hello from origin\n|2hello from origin\n|2", "\(overH2)")
        }
    }
}

enum Fixtures {
    /// The subject of the CA that issues the proxy's leaves.
    static func issuer(of proxy: ProxyFixture) throws -> DistinguishedName {
        try CADirectory(path: proxy.proxy.configuration.caDirectory).load(proxy.proxy.profile).issuing.certificate.subject
    }
}
