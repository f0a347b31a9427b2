import CertForge
import COpenSSL
import Foundation
@testable import InterceptProxy
import Testing
import TestSupport

/// The upstream leg offers AES-128-GCM first (as Chrome and Go do), in TLS 1.3 and 1.2, so an
/// origin that follows the client's order, like nginx by default, encrypts with it: ~10% less AES
/// for the origin and for the proxy.
@Suite struct UpstreamCipherTests {
    /// An HTTPS origin (Python's ssl) that takes the client's order and answers every request with
    /// the version and cipher its connection negotiated; `maximum` caps its TLS version.
    static func script(maximum: String) -> String {
        PythonServer.httpsRequestLoop + """
            context.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
            context.maximum_version = ssl.TLSVersion.\(maximum)
            def serve(conn):
                with context.wrap_socket(conn, server_side=True) as tls:
                    for _ in request_paths(tls):
                        body = ("%s %s\\n" % (tls.version(), tls.cipher()[0])).encode()
                        tls.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: %d\\r\\nConnection: close\\r\\n\\r\\n%s" % (len(body), body))
                        return
            serve_forever(serve)
            """
    }

    @Test(arguments: [("TLSv1_3", "TLSv1.3 TLS_AES_128_GCM_SHA256\n"), ("TLSv1_2", "TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256\n")])
    func anOriginFollowingTheClientsOrderNegotiatesAES128(maximum: String, expected: String) async throws {
        try await withPythonOrigin(script: Self.script(maximum: maximum)) { fixture in
            let result = try fixture.get()
            #expect(result.stdout == expected, "\(result.stdout) \(result.stderr)")
        }
    }

    /// Only the order changed: every suite and cipher OpenSSL offers by default is still offered.
    @Test func theOfferKeepsEveryDefaultCipher() throws {
        #expect(Set(TLSClientContext.upstreamSuites.split(separator: ":")) ==
                ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"])
        let plain = try #require(SSL_CTX_new(TLS_client_method()))
        defer { SSL_CTX_free(plain) }
        let context = try TLSClientContext(extraCAFile: nil, insecure: true, clientCertificateFile: nil)
        let ours = names(SSL_CTX_get_ciphers(context.pointer))
        let defaults = names(SSL_CTX_get_ciphers(plain))
        #expect(Set(ours) == Set(defaults) && ours.count == defaults.count, "\(ours) vs \(defaults)")
        #expect(ours.firstIndex(of: "ECDHE-RSA-AES128-GCM-SHA256")! < ours.firstIndex(of: "ECDHE-RSA-AES256-GCM-SHA384")!)
        #expect(Array(ours.prefix(3)) == ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"])
    }

    private func names(_ stack: OpaquePointer?) -> [String] {
        (0..<OPENSSL_sk_num(stack)).compactMap { index in
            OPENSSL_sk_value(stack, index).map { String(cString: SSL_CIPHER_get_name(OpaquePointer($0))) }
        }
    }
}
