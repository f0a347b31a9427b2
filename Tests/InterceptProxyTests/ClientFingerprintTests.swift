@testable import InterceptProxy
import Testing
import TestSupport

/// JA4 as FoxIO specifies it (GREASE ignored, SNI and ALPN counted but not hashed, signature
/// algorithms in their order), with the hashes checked against sha256sum; the stack names are
/// checked on real clients in VerifyTransparentTests.
@Suite struct ClientFingerprintTests {
    static func sha256Prefix(_ text: String) throws -> String {
        let result = try run("sh", ["-c", "printf %s \"$0\" | sha256sum", text])
        return String(result.stdout.prefix(12))
    }

    @Test func ja4FollowsTheSpecification() throws {
        let hello = ClientHello(legacyVersion: 0x0303, cipherSuites: [0x0a0a, 0xc02b, 0x1302, 0x1301],
                                extensions: [0x1a1a, 0, 16, 43, 13, 10], serverName: "pypi.org", alpn: ["h2", "http/1.1"],
                                supportedVersions: [0x2a2a, 0x0304, 0x0303], signatureAlgorithms: [0x0804, 0x0403])
        let expected = "t13d0305h2_\(try Self.sha256Prefix("1301,1302,c02b"))_\(try Self.sha256Prefix("000a,000d,002b_0804,0403"))"
        #expect(ClientFingerprint(hello).ja4 == expected)
        var bare = hello
        (bare.extensions, bare.alpn, bare.supportedVersions, bare.signatureAlgorithms) = ([10], [], [], [])
        #expect(ClientFingerprint(bare).ja4 == "t12i030100_\(try Self.sha256Prefix("1301,1302,c02b"))_\(try Self.sha256Prefix("000a"))")
    }

    @Test func theProxysOwnOpenSSLClientIsNamedOpenSSL() throws {
        let bytes = try ClientHelloTests.realClientHello(name: "pypi.org", alpn: ["h2"])
        guard case let .parsed(hello) = ClientHello.parse(bytes) else { Issue.record("not parsed"); return }
        let fingerprint = ClientFingerprint(hello)
        #expect(fingerprint.stack == "OpenSSL" && fingerprint.ja4.hasPrefix("t13d"), "\(fingerprint)")
    }
}
