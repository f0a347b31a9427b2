import CertForge
import Foundation
import InterceptProxy
import Testing
import TestSupport

/// The offline badssl catalogue: each host makes curl and s_client fail with its intended error.
@Suite struct CatalogueTests {
    static let expectations: [(FailureMode, curl: String, sClientCode: Int)] = [
        (.expired, "SSL certificate problem: certificate has expired", 10),
        (.notYetValid, "SSL certificate problem: certificate is not yet valid", 9),
        (.wrongHost, "SSL: no alternative certificate subject name matches target host name 'wrong-host.badssl.test'", 62),
        (.selfSigned, "SSL certificate problem: self-signed certificate", 18),
        (.incompleteChain, "SSL certificate problem: unable to get local issuer certificate", 20),
        (.sha1, "SSL certificate problem: CA signature digest algorithm too weak", 68),
        (.rsa1024, "SSL certificate problem: EE certificate key too weak", 66),
        (.caAsLeaf, "SSL certificate problem: unsuitable certificate purpose", 26),
    ]

    static let shared = Locked<ProxyFixture?>(nil)

    /// One catalogue proxy for the whole suite (it answers everything itself).
    private func fixture() throws -> ProxyFixture {
        try Self.shared.withLock { existing in
            if let existing { return existing }
            let made = try ProxyFixture(offline: false)
            existing = made
            return made
        }
    }

    @Test(arguments: expectations)
    func curlAndOpenSSLReportTheIntendedError(mode: FailureMode, curl expected: String, sClientCode: Int) throws {
        let proxy = try fixture()
        let host = "\(mode.rawValue).badssl.test"
        let curl = try proxy.curl(["--cacert", proxy.rootFile, "https://\(host)/"])
        #expect(curl.status == 60, "\(mode.rawValue): \(curl)")
        #expect(curl.stderr.contains("curl: (60) \(expected)"), "\(mode.rawValue): \(curl.stderr)")
        let sClient = try run("openssl", ["s_client", "-proxy", "127.0.0.1:\(proxy.port)", "-connect", "\(host):443",
                                          "-servername", host, "-verify_hostname", host, "-CAfile", proxy.rootFile])
        #expect(sClient.output.contains("Verify return code: \(sClientCode) ("), "\(mode.rawValue): \(sClient.output.suffix(400))")
        if mode == .wrongHost {
            // Both clients check the name after the handshake, so no alert reaches the proxy.
            let closed = try proxy.waitForEvent { $0.type == .tunnelClosed && $0.host == host }
            #expect(closed.detail?.contains("no request after the TLS handshake") == true, "\(closed)")
        } else {
            let failure = try proxy.waitForEvent { $0.type == .tlsFailed && $0.host == host }
            #expect(failure.cause != nil)
            if mode == .expired { #expect(failure.cause == .certificateExpired) }
        }
    }

    @Test func goodHostAndIndexPage() throws {
        let proxy = try fixture()
        let good = try proxy.curl(["--cacert", proxy.rootFile, "https://good.badssl.test/"])
        #expect(good.stdout.contains("good.badssl.test has a valid certificate"), "\(good)")
        let index = try proxy.curl(["http://badssl.test/"])
        for mode in FailureMode.allCases { #expect(index.stdout.contains("https://\(mode.rawValue).badssl.test"), "\(mode)") }
        let indexOverTLS = try proxy.curl(["--cacert", proxy.rootFile, "https://badssl.test/"])
        #expect(indexOverTLS.stdout.contains("intercept-proxy badssl catalogue"))
    }

    @Test func nonStrictFailsOnlyAStrictClient() throws {
        let proxy = try fixture()
        let curl = try proxy.curl(["--cacert", proxy.rootFile, "https://non-strict.badssl.test/"])
        #expect(curl.stdout.contains("accepted a certificate with the 'non-strict' defect"), "\(curl)")
        let script = """
            import ssl, sys, urllib.request
            context = ssl.create_default_context(cafile=sys.argv[1])
            context.verify_flags |= ssl.VERIFY_X509_STRICT
            try:
                urllib.request.urlopen("https://non-strict.badssl.test/", context=context, timeout=20)
            except Exception as error:
                print(error)
            """
        let python = try run("python3", ["-c", script, proxy.rootFile], environment: cleanEnvironment(["HTTPS_PROXY": proxy.proxyURL]))
        #expect(python.stdout.contains("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: Missing Authority Key Identifier"), "\(python)")
    }

    @Test func expiredRootFailsAClientThatTrustsTheExpiredCopy() throws {
        let proxy = try fixture()
        // The copy in the client's store is what has expired: same name and key as the root.
        let authority = try CADirectory(path: proxy.proxy.configuration.caDirectory).load(.zscaler)
        let expired = try LeafForge(authority: authority).chain(for: "x.example", failure: .expiredRoot).trustAnchor
        let file = try proxy.scratch.write("expired-root.pem", expired.pemString)
        let curl = try proxy.curl(["--cacert", file, "https://expired-root.badssl.test/"])
        #expect(curl.stderr.contains("curl: (60) SSL certificate problem: certificate has expired"), "\(curl)")
        let current = try proxy.curl(["--cacert", proxy.rootFile, "https://expired-root.badssl.test/"])
        #expect(current.status == 0, "with the current root the chain verifies: \(current)")
    }

    @Test func failureRulesApplyToAnyHost() async throws {
        try await withProxy(configure: { $0.failureRules = [try! FailureRule(parsing: "*.pypi.example=expired")] }) { proxy in
            let broken = try proxy.curl(["--cacert", proxy.rootFile, "https://files.pypi.example/"])
            #expect(broken.stderr.contains("certificate has expired"), "\(broken)")
            let fine = try proxy.curl(["--cacert", proxy.rootFile, "https://npm.example/"])
            #expect(fine.status == 0, "\(fine)")
            #expect(throws: ConfigurationError.self) { try FailureRule(parsing: "*.x=melted") }
            #expect(throws: ConfigurationError.self) { try FailureRule(parsing: "expired") }
        }
    }
}
