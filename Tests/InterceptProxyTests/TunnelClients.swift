import Foundation
import InterceptProxy
import TestSupport

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
