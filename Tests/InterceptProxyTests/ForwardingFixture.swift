import CertForge
import Foundation
import InterceptProxy
import TestSupport

/// A local HTTPS origin for `origin.test` with its own CA, and a proxy mapping the name to it.
final class ForwardingFixture: @unchecked Sendable {
    static let originHost = "origin.test"
    let originAuthority: CertificateAuthority
    let origin: OriginServer
    let proxy: ProxyFixture
    let originCAFile: String

    init(trustOrigin: Bool = true, clientCA: Certificate? = nil,
         configure: (inout ProxyConfiguration) -> Void = { _ in }) throws {
        originAuthority = try CertificateAuthority.generate(profile: .plain.with(keyAlgorithm: .ecdsaP256))
        let chain = try LeafForge(authority: originAuthority).chain(for: Self.originHost)
        origin = try OriginServer(chain: chain, clientCA: clientCA)
        let scratch = try TemporaryDirectory()
        originCAFile = try scratch.write("origin-ca.pem", originAuthority.rootCertificate.pemString)
        let port = origin.port, caFile = originCAFile
        proxy = try ProxyFixture(offline: false) { configuration in
            configuration.mapRemote = [MapRemoteRule(host: Self.originHost, port: 443, address: "127.0.0.1", addressPort: port)]
            if trustOrigin { configuration.upstreamCAFile = caFile }
            configure(&configuration)
        }
        keepAlive = scratch
    }
    private let keepAlive: TemporaryDirectory

    /// curl through the proxy to the origin, trusting the proxy's root.
    func curl(_ paths: [String], _ extra: [String] = []) throws -> ProcessResult {
        try proxy.curl(["--cacert", proxy.rootFile] + extra + paths.map { "https://\(Self.originHost)\($0)" })
    }

    func stop() async {
        await proxy.proxy.stop()
        origin.stop()
    }
}

/// Python's ssl through a CONNECT tunnel, for exchanges curl cannot express (pipelining, WebSocket).
func pythonThroughTunnel(proxyPort: Int, rootFile: String, host: String, script body: String) throws -> ProcessResult {
    let script = """
        import socket, ssl, sys
        raw = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
        raw.sendall(b"CONNECT %s:443 HTTP/1.1\\r\\nHost: %s:443\\r\\n\\r\\n" % (sys.argv[3].encode(), sys.argv[3].encode()))
        assert raw.recv(1024).startswith(b"HTTP/1.1 200"), "CONNECT refused"
        tls = ssl.create_default_context(cafile=sys.argv[2]).wrap_socket(raw, server_hostname=sys.argv[3])
        def read_all():
            data = b""
            while True:
                chunk = tls.recv(65536)
                if not chunk:
                    return data
                data += chunk
        \(body.split(separator: "\n").joined(separator: "\n"))
        """
    return try run("python3", ["-c", script, String(proxyPort), rootFile, host])
}
