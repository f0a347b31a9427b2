import CertForge
import Foundation
import InterceptProxy
import Testing
import TestSupport

/// `--untrusted-upstream`: what a client meets when the real site's own certificate is bad (here:
/// an origin whose CA the proxy does not trust), as each gateway does it. A client with a good fix
/// (the gateway root trusted) and one with verification off see what they would see at work.
@Suite struct UntrustedUpstreamTests {
    @Test func policiesParseAndDefaultAsTheProfilesVendorDoes() throws {
        #expect(try UntrustedUpstreamPolicy(parsing: "resign-untrusted") == .resignUntrusted)
        #expect(try UntrustedUpstreamPolicy(parsing: "BLOCK=umbrella") == .block(.umbrella))
        #expect(try UntrustedUpstreamPolicy(parsing: "pass").name == "pass")
        #expect(throws: ConfigurationError.self) { try UntrustedUpstreamPolicy(parsing: "block=nobody") }
        #expect(throws: ConfigurationError.self) { try UntrustedUpstreamPolicy(parsing: "allow") }
        #expect(UntrustedUpstreamPolicy.vendorDefault(forProfile: "zscaler") == .block(nil))
        #expect(UntrustedUpstreamPolicy.vendorDefault(forProfile: "netskope") == .block(nil))
        #expect(UntrustedUpstreamPolicy.vendorDefault(forProfile: "fortinet") == .resignUntrusted)
        #expect(UntrustedUpstreamPolicy.vendorDefault(forProfile: "plain") == .reject)
    }

    @Test func blockAnswersWithTheVendorsCertificateErrorPageByDefault() async throws {
        try await withForwardingOrigin(trustOrigin: false) { zscaler in  // the default profile: Zscaler blocks
            let page = try zscaler.curl(["/hello"], ["-i"])
            #expect(page.stdout.hasPrefix("HTTP/1.1 403 Forbidden"), "\(page)")
            #expect(page.stdout.contains("<title>Untrusted server certificate</title>"), "\(page)")
            #expect(page.stdout.contains("Reason: unable to get local issuer certificate"), "\(page)")
            #expect(!page.stdout.contains("hello from origin"), "\(page)")
            try zscaler.proxy.waitForEvent { $0.type == .error && $0.cause == .upstreamTLS && $0.status == 403 }
        }
        try await withForwardingOrigin(trustOrigin: false, configure: { $0.untrustedUpstream = .block(.umbrella) }) { umbrella in
            let page = try umbrella.curl(["/hello"], ["-i"])
            #expect(page.stdout.hasPrefix("HTTP/1.1 403 Forbidden") && page.stdout.contains("<h1>Upstream certificate error</h1>"), "\(page)")
        }
    }

    @Test func resignUntrustedFailsAGoodFixAndServesVerificationOff() async throws {
        try await withForwardingOrigin(trustOrigin: false, configure: { $0.untrustedUpstream = .resignUntrusted }) { forwarding in
            let fixed = try forwarding.curl(["/hello"])  // trusts the gateway root, as a good fix does
            #expect(fixed.status == 60 && fixed.stderr.contains("SSL certificate problem: self-signed certificate in certificate chain"), "\(fixed)")
            let python = try run("python3", ["-c", """
                import ssl, socket, sys
                context = ssl.create_default_context(cafile=sys.argv[1])
                raw = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
                raw.sendall(b"CONNECT origin.test:443 HTTP/1.1\\r\\nHost: origin.test:443\\r\\n\\r\\n")
                assert raw.recv(4096).startswith(b"HTTP/1.1 200")
                try:
                    context.wrap_socket(raw, server_hostname="origin.test")
                except ssl.SSLCertVerificationError as error:
                    print(error)
                """, forwarding.proxy.rootFile, String(forwarding.proxy.port)], environment: cleanEnvironment())
            #expect(python.stdout.contains("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate in certificate chain"), "\(python)")
            let off = try forwarding.curl(["/hello"], ["-k"])
            #expect(off.status == 0 && off.stdout == "hello from origin\n", "\(off)")
            let event = try forwarding.proxy.waitForEvent { $0.type == .error && $0.cause == .upstreamUntrusted }
            #expect(event.detail?.contains("re-signed with the untrusted CA") == true, "\(event)")
            let shown = try run("openssl", ["s_client", "-proxy", "127.0.0.1:\(forwarding.proxy.port)", "-connect", "origin.test:443",
                                            "-servername", "origin.test"], input: "")
            #expect(shown.output.contains("i:O = intercept-proxy, OU = \"untrusted upstream, never trust this CA\", CN = zscaler untrusted-upstream CA (intercept-proxy test)"), "\(shown)")
        }
    }

    @Test func fortinetReSignsWithItsUntrustedCAByDefaultAndVerifiedSitesStayIntercepted() async throws {
        let origin = try MappedOrigin()
        let server = try OriginServer(chain: origin.chain)
        defer { server.stop() }
        let fortinet = try ProxyFixture(profile: .fortinet, offline: false) {
            $0.mapRemote = [MapRemoteRule(host: MappedOrigin.host, port: 443, address: "127.0.0.1", addressPort: server.port)]
        }
        try await stopping({ await fortinet.stop() }) {
            let shown = try run("openssl", ["s_client", "-proxy", "127.0.0.1:\(fortinet.port)", "-connect", "origin.test:443",
                                            "-servername", "origin.test"], input: "")
            #expect(shown.output.contains("CN = Fortinet_CA_Untrusted (intercept-proxy test)"), "\(shown)")
        }
        let trusting = try origin.proxy(port: server.port) { $0.profile = .fortinet }
        try await stopping({ await trusting.stop() }) {
            let good = try trusting.curl(["--cacert", trusting.rootFile, "https://origin.test/hello"])
            #expect(good.status == 0 && good.stdout == "hello from origin\n", "\(good)")
            #expect(!trusting.proxy.recordedEvents.contains { $0.cause == .upstreamUntrusted })
        }
    }

    @Test func passShowsTheClientTheSitesOwnCertificate() async throws {
        try await withForwardingOrigin(trustOrigin: false, configure: { $0.untrustedUpstream = .pass }) { forwarding in
            let fixed = try forwarding.curl(["/hello"])  // the gateway root does not help: the site's own CA signed this
            #expect(fixed.status == 60 && fixed.stderr.contains("SSL certificate problem: unable to get local issuer certificate"), "\(fixed)")
            let site = try forwarding.proxy.curl(["--cacert", forwarding.originCAFile, "https://origin.test/hello"])
            #expect(site.status == 0 && site.stdout == "hello from origin\n", "\(site)")
            let event = try forwarding.proxy.waitForEvent { $0.type == .error && $0.cause == .upstreamUntrusted }
            #expect(event.detail?.contains("passed through") == true, "\(event)")
        }
    }
}
