import CertForge
import Foundation

/// A local origin server (Python's http.server, threaded) for forwarding tests. Endpoints:
/// `/hello` (names the client port it saw), `/headers` (the request line, Host fields and all field names it read), `/chunked` (chunked body), `/grpc-like` (chunked with trailers), `POST /echo` (size and
/// sha256 of the body), `/status/N`, `/bytes/N` (N bytes, streamed), `/close-early`, `/slow`,
/// `/ws` (a minimal WebSocket echo). HTTPS when given a certificate; mTLS when given a client CA.
public final class OriginServer: @unchecked Sendable {
    private let server: PythonServer
    public var port: Int { server.port }

    public init(chain: ForgedChain? = nil, clientCA: Certificate? = nil) throws {
        server = try PythonServer(script: Self.script) { scratch in
            guard let chain else { return [] }
            return try scratch.writeChain(chain) + [try clientCA.map { try scratch.write("client-ca.pem", $0.pemString) } ?? ""]
        }
    }

    public var output: String { server.output }

    public func stop() { server.stop() }

    static let script = #"""
import base64, hashlib, http.server, socket, socketserver, ssl, sys, time

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass

    def send_text(self, status, text, extra=()):
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        path = self.path
        if path == "/hello":
            self.send_text(200, "hello from origin\n", [("X-Client-Port", str(self.client_address[1]))])
        elif path == "/headers":
            hosts = self.headers.get_all("Host") or []
            names = ",".join(name.lower() for name in self.headers.keys())
            self.send_text(200, "request-line: %s\nhost-fields: %d\nhost: %s\nfield-names: %s\n" % (self.requestline, len(hosts), ",".join(hosts), names))
        elif path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(5):
                data = ("part %d\n" % i).encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.write(b"0\r\n\r\n")
        elif path == "/grpc-like":
            self.send_response(200)
            self.send_header("Content-Type", "application/grpc")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Trailer", "grpc-status, grpc-message")
            self.end_headers()
            self.wfile.write(b"5\r\nhello\r\n0\r\ngrpc-status: 0\r\ngrpc-message: all good\r\n\r\n")
        elif path.startswith("/status/"):
            code = int(path.split("/")[2])
            self.send_response(code)
            if code not in (204, 304):
                self.send_header("Content-Length", "0")
            self.end_headers()
        elif path.startswith("/bytes/"):
            total = int(path.split("/")[2])
            self.send_response(200)
            self.send_header("Content-Length", str(total))
            self.end_headers()
            block = b"x" * 65536
            sent = 0
            while sent < total:
                n = min(len(block), total - sent)
                self.wfile.write(block[:n])
                sent += n
        elif path == "/close-early":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        elif path == "/slow":
            time.sleep(30)
        elif path == "/ws":
            key = self.headers["Sec-WebSocket-Key"]
            accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
            self.send_response(101)
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.send_header("Sec-WebSocket-Accept", accept)
            self.end_headers()
            self.wfile.flush()
            head = self.rfile.read(2)
            length = head[1] & 0x7F
            mask = self.rfile.read(4)
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(self.rfile.read(length)))
            self.wfile.write(bytes([0x81, len(payload)]) + payload)
            self.wfile.flush()
            self.close_connection = True
        else:
            self.send_text(404, "no such path\n")

    def do_POST(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    break
                body += self.rfile.read(size)
                self.rfile.readline()
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_text(200, "%d %s\n" % (len(body), hashlib.sha256(body).hexdigest()))

class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

server = Server(("127.0.0.1", 0), Handler)
if len(sys.argv) > 2:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[1], sys.argv[2])
    if len(sys.argv) > 3 and sys.argv[3]:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(sys.argv[3])
    server.socket = context.wrap_socket(server.socket, server_side=True)
print("READY %d" % server.server_address[1], flush=True)
server.serve_forever()
"""#
}
