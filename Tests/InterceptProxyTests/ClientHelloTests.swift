@testable import InterceptProxy
import Testing

/// The ClientHello reader `--transparent` relies on for the name a redirected client wants: real
/// ClientHellos from OpenSSL's client, split over records as a client may send them, and strict
/// refusals of lengths that do not add up.
@Suite struct ClientHelloTests {
    /// What OpenSSL's client sends first, asking for `name` with these ALPN protocols.
    static func realClientHello(name: String, alpn: [String]) throws -> [UInt8] {
        let context = try TLSClientContext(extraCAFile: nil, insecure: true, clientCertificateFile: nil)
        let session = try TLSClientSession(context: context, serverName: name, alpn: alpn)
        _ = session.engine.handshake()
        return session.engine.takeOutput()
    }

    @Test func readsTheServerNameALPNAndVersionsOfARealClientHello() throws {
        let bytes = try Self.realClientHello(name: "pypi.org", alpn: ["h2", "http/1.1"])
        guard case let .parsed(hello) = ClientHello.parse(bytes) else { Issue.record("\(ClientHello.parse(bytes))"); return }
        #expect(hello.serverName == "pypi.org")
        #expect(hello.alpn == ["h2", "http/1.1"])
        #expect(hello.supportedVersions.contains(0x0304) && hello.legacyVersion == 0x0303)
        #expect(hello.extensions.first == 0 || hello.extensions.contains(0))
        #expect(!hello.cipherSuites.isEmpty && !hello.signatureAlgorithms.isEmpty)
        // Every prefix is the start of one: the proxy waits for more, never misreads.
        for cut in [0, 1, 4, 5, 6, 40, bytes.count - 1] {
            #expect(ClientHello.parse(Array(bytes.prefix(cut))) == .needsMore, "prefix \(cut)")
        }
    }

    @Test func aClientHelloSplitOverTwoRecordsIsReadWhole() throws {
        let bytes = try Self.realClientHello(name: "files.pythonhosted.org", alpn: ["http/1.1"])
        let message = Array(bytes.dropFirst(5))
        let half = message.count / 2
        func record(_ part: ArraySlice<UInt8>) -> [UInt8] { [22, 3, 1, UInt8(part.count >> 8), UInt8(part.count & 0xff)] + part }
        let split = record(message[..<half]) + record(message[half...])
        guard case let .parsed(hello) = ClientHello.parse(split) else { Issue.record("\(ClientHello.parse(split))"); return }
        #expect(hello.serverName == "files.pythonhosted.org" && hello.alpn == ["http/1.1"])
        #expect(ClientHello.parse(Array(split.prefix(half + 5))) == .needsMore)
    }

    @Test func whatIsNotAClientHelloIsToldApart() throws {
        #expect(ClientHello.parse(Array("GET / HTTP/1.1\r\n".utf8)) == .notTLS)
        #expect(ClientHello.parse([22, 3, 1, 0, 0]) == .invalid("a malformed TLS record header"))
        #expect(ClientHello.parse([22, 3, 1, 0, 4, 2, 0, 0, 0]) == .invalid("the first handshake message is not a ClientHello"))
        var bytes = try Self.realClientHello(name: "pypi.org", alpn: ["h2"])
        bytes[5 + 4 + 34] = 33  // a session id longer than 32 bytes
        #expect(ClientHello.parse(bytes) == .invalid("a truncated ClientHello"))
    }
}
