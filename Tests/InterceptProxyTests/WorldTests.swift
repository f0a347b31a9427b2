import CertForge
import Foundation
import InterceptProxy
import Testing
import TestSupport

/// The two worlds: behind the gateway, where bypassed hosts present the site's own certificate (a
/// leaf of the public stand-in root), and with no gateway at all. curl judges each handshake with
/// the gateway root or the public stand-in root as its only anchor.
@Suite struct WorldTests {
    /// curl's verdict on one host: 0 when it trusted the chain it was shown.
    private func status(_ fixture: ProxyFixture, trusting anchor: String, _ url: String) throws -> ProcessResult {
        try fixture.curl(["--cacert", anchor, "--capath", "/nonexistent", "-o", "/dev/null", url])
    }

    private func publicRoot(_ fixture: ProxyFixture) throws -> String {
        try #require(fixture.proxy.publicRootCertificateFile)
    }

    @Test func bypassedHostsPresentThePublicStandInAndTheRestTheGateway() async throws {
        try await withProxy(configure: { $0.bypassHosts = [BypassRule(pattern: "*.bank.test")] }) { fixture in
            let publicRoot = try publicRoot(fixture)
            #expect(try status(fixture, trusting: publicRoot, "https://www.bank.test/").status == 0)
            let gatewayOnly = try status(fixture, trusting: fixture.rootFile, "https://www.bank.test/")
            #expect(gatewayOnly.status == 60 && gatewayOnly.stderr.contains("unable to get local issuer certificate"), "\(gatewayOnly)")
            #expect(try status(fixture, trusting: fixture.rootFile, "https://pypi.test/").status == 0)
            #expect(try status(fixture, trusting: publicRoot, "https://pypi.test/").status == 60)

            let opened = fixture.proxy.recordedEvents.filter { $0.type == .tunnelOpened }
            #expect(opened.first { $0.host == "www.bank.test" }?.interception == .bypassed)
            #expect(opened.first { $0.host == "www.bank.test" }?.detail?.contains("--bypass *.bank.test") == true)
            #expect(opened.first { $0.host == "pypi.test" }?.interception == .intercepted)
            #expect(opened.allSatisfy { $0.world == .gateway })
            let verdicts = HostVerdict.summarise(fixture.proxy.recordedEvents)
            #expect(verdicts.map(\.interception.rawValue).sorted() == ["bypassed", "intercepted"], "\(verdicts)")
        }
    }

    @Test func thePublicStandInIsShapedLikeAPublicSiteChain() async throws {
        try await withProxy(configure: { $0.bypassHosts = [BypassRule(pattern: "www.bank.test")] }) { fixture in
            let script = "openssl s_client -proxy 127.0.0.1:\(fixture.port) -connect www.bank.test:443 -servername www.bank.test -showcerts </dev/null"
            let shown = try run("sh", ["-c", script])
            #expect(shown.stdout.contains("i:C = US, O = \"intercept-proxy public test PKI, not a real CA\", CN = Public Test Issuing CA (intercept-proxy test)"), "\(shown.stdout)")
            #expect(shown.stdout.components(separatedBy: "-----BEGIN CERTIFICATE-----").count == 3, "leaf and issuing CA, no root")
            let offline = try fixture.curl(["--cacert", try publicRoot(fixture), "https://www.bank.test/"])
            #expect(offline.stdout.contains("www.bank.test is not intercepted (--bypass www.bank.test)"), "\(offline)")
        }
    }

    @Test func theDirectWorldInterceptsNothing() async throws {
        try await withProxy(configure: { $0.world = .direct }) { fixture in
            #expect(try status(fixture, trusting: try publicRoot(fixture), "https://pypi.test/").status == 0)
            #expect(try status(fixture, trusting: fixture.rootFile, "https://pypi.test/").status == 60)
            let opened = try #require(fixture.proxy.recordedEvents.first { $0.type == .tunnelOpened })
            #expect(opened.interception == .direct && opened.world == .direct, "\(opened)")
            let rejected = try fixture.waitForEvent { $0.type == .tlsFailed }  // recorded when the alert is read
            #expect(rejected.cause == .unknownCA)
        }
    }

    @Test func theWorldAndTheBypassListChangeWhileRunning() async throws {
        try await withProxy(configure: { $0.adminAddress = "127.0.0.1:0" }) { fixture in
            let address = try #require(fixture.proxy.adminAddress)
            let publicRoot = try publicRoot(fixture)
            #expect(try status(fixture, trusting: fixture.rootFile, "https://a.bank.test/").status == 0)

            let put = try run("curl", ["-sS", "-X", "PUT", "-d", #"["*.bank.test"]"#, "http://\(address)/v1/bypass"])
            #expect(put.stdout == "{\"rules\":[\"*.bank.test\"]}\n", "\(put)")
            #expect(try status(fixture, trusting: publicRoot, "https://b.bank.test/").status == 0)
            let bad = try run("curl", ["-sS", "-X", "PUT", "-d", #"["a.test=expired"]"#, "http://\(address)/v1/bypass"])
            #expect(bad.stdout.contains(#""field":"rules[0]""#) && bad.stdout.contains("--bypass takes a host pattern"), "\(bad)")

            let world = try run("curl", ["-sS", "-X", "PUT", "-d", #"{"world": "direct"}"#, "http://\(address)/v1/world"])
            #expect(world.stdout == "{\"world\":\"direct\"}\n", "\(world)")
            #expect(fixture.proxy.world == .direct)
            #expect(try status(fixture, trusting: publicRoot, "https://pypi.test/").status == 0)
            let unknown = try run("curl", ["-sS", "-X", "PUT", "-d", #"{"world": "moon"}"#, "http://\(address)/v1/world"])
            #expect(unknown.stdout.contains("--world is gateway or direct"), "\(unknown)")

            let pem = try run("curl", ["-sS", "http://\(address)/v1/public-ca.pem"])
            #expect(pem.stdout == fixture.proxy.publicRootCertificatePEM, "\(pem)")
            let ready = try run("curl", ["-sS", "http://\(address)/v1/ready"])
            #expect(ready.stdout.contains("\"publicCACertificate\":\"\(publicRoot)\""), "\(ready)")

            fixture.proxy.reset()
            #expect(fixture.proxy.world == .gateway && fixture.proxy.bypassRules.isEmpty, "reset puts back the start's world and rules")
        }
    }

    /// Online, a bypassed host with no local stand-in is relayed untouched: the client meets the
    /// origin's own certificate. A mapped one is answered through the proxy with a public leaf.
    @Test func onlineBypassSplicesOrForwardsWithThePublicLeaf() async throws {
        let originAuthority = try CertificateAuthority.generate(profile: .plain.with(keyAlgorithm: .ecdsaP256))
        let origin = try OriginServer(chain: LeafForge(authority: originAuthority).chain(for: "127.0.0.1"), clientCA: nil)
        defer { origin.stop() }
        let scratch = try TemporaryDirectory()
        let originCA = try scratch.write("origin-ca.pem", originAuthority.rootCertificate.pemString)
        let port = origin.port
        try await withProxy(offline: false, configure: {
            $0.bypassHosts = [BypassRule(pattern: "127.0.0.1"), BypassRule(pattern: "mapped.bank.test")]
            $0.mapRemote = [MapRemoteRule(host: "mapped.bank.test", port: 443, address: "127.0.0.1", addressPort: port)]
            $0.upstreamCAFile = originCA
        }) { fixture in
            let spliced = try fixture.curl(["--cacert", originCA, "https://127.0.0.1:\(port)/"])
            #expect(spliced.status == 0, "the origin's own certificate reached the client: \(spliced)")
            let mapped = try fixture.curl(["--cacert", try publicRoot(fixture), "https://mapped.bank.test/"])
            #expect(mapped.status == 0, "\(mapped)")
            let opened = fixture.proxy.recordedEvents.filter { $0.type == .tunnelOpened }
            #expect(opened.map { $0.interception?.rawValue ?? "-" } == ["spliced", "bypassed"], "\(opened)")
            #expect(HostVerdict.splicedHosts(fixture.proxy.recordedEvents) == ["127.0.0.1"])
        }
    }

    @Test func aProxyWithAnAuthorityOfItsOwnKeepsThePublicStandInInMemory() async throws {
        var configuration = ProxyConfiguration()
        configuration.port = 0
        configuration.offline = true
        configuration.authority = try CertificateAuthority.generate(profile: .plain.with(keyAlgorithm: .ecdsaP256))
        let proxy = try InterceptProxy(configuration: configuration)
        #expect(proxy.publicRootCertificateFile == nil)
        #expect(proxy.publicRootCertificatePEM.contains("BEGIN CERTIFICATE"))
    }

    @Test func bypassPatternsAreParsedStrictly() throws {
        #expect(throws: ConfigurationError.self) { try BypassRule(parsing: "") }
        #expect(throws: ConfigurationError.self) { try BypassRule(parsing: "a.test=expired") }
        #expect(throws: ConfigurationError.self) { try BypassRule(parsing: "https://a.test/") }
        #expect(try BypassRule(parsing: "*.Bank.TEST").pattern == "*.bank.test")
        #expect(throws: ConfigurationError.self) { try World(parsing: "moon") }
    }
}
