import CertForge
import Foundation
import Testing
import TestSupport

/// A normal h2 request through the proxy still gets its answer; then the proxy holds no client
/// connection on its port and no connection to `originPort` (within the 5 s grace period a
/// closing connection may take).
func expectServesAndCleansUp(_ fixture: ProxyFixture, host: String = HTTP2HostileTests.host, path: String = "/after",
                             originPort: Int? = nil, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let after = try fixture.curl(["--http2", "--cacert", fixture.rootFile, "-w", "|%{http_code} %{http_version}", "https://\(host)\(path)"])
    #expect(after.status == 0 && after.stdout.hasSuffix("|200 2"), "\(after)", sourceLocation: sourceLocation)
    // Nothing announces a socket's close: /proc is polled.
    var held = (client: 0, upstream: 0)
    let released = eventually(timeout: 8, interval: 0.05) {
        held = (ProxySockets.count(localPort: fixture.port), originPort.map { ProxySockets.count(remotePort: $0) } ?? 0)
        return held == (0, 0)
    }
    if released { return }
    Issue.record("the proxy still holds \(held.client) client and \(held.upstream) upstream sockets", sourceLocation: sourceLocation)
}

/// Sockets this process holds open (an fd points at them), from /proc: the in-process proxy's
/// accepted connections are those on its port, its upstream ones those to the origin's.
enum ProxySockets {
    static func count(localPort: Int) -> Int { held().filter { $0.local == localPort && !$0.listening }.count }
    static func count(remotePort: Int) -> Int { held().filter { $0.remote == remotePort }.count }

    private static func held() -> [(local: Int, remote: Int, listening: Bool)] {
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        let inodes = Set(fds.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)") }
            .compactMap { $0.firstMatch(of: /^socket:\[(\d+)\]$/).map { String($0.1) } })
        let table = ["/proc/self/net/tcp", "/proc/self/net/tcp6"].compactMap { try? String(contentsOfFile: $0, encoding: .utf8) }.joined(separator: "\n")
        return table.split(separator: "\n").dropFirst().compactMap { line in
            let columns = line.split(separator: " ")
            guard columns.count > 9, inodes.contains(String(columns[9])) else { return nil }
            func port(_ address: Substring) -> Int { Int(address.split(separator: ":").last ?? "", radix: 16) ?? -1 }
            return (port(columns[1]), port(columns[2]), columns[3] == "0A")
        }
    }
}

/// An HTTPS origin speaking HTTP/1.1 that counts the TCP connections it accepts ("CONNECTION n")
/// and, when a connection ends, the body bytes it sent on it ("SENT n"). `/bytes/N`: N bytes.
final class CountingOrigin: @unchecked Sendable {
    private let server: PythonServer
    var port: Int { server.port }
    var connections: Int { server.output.components(separatedBy: "CONNECTION ").count - 1 }

    init(chain: ForgedChain) throws {
        server = try PythonServer(script: Self.script) { try $0.writeChain(chain) }
    }

    @discardableResult
    func waitFor(_ pattern: String, timeout: TimeInterval = 15) throws -> String { try server.waitFor(pattern, timeout: timeout) }

    func stop() { server.stop() }

    static let script = PythonServer.httpsRequestLoop + #"""
import itertools
context.set_alpn_protocols(["http/1.1"])
numbers = itertools.count(1)

def serve(raw):
    sent = 0
    try:
        tls = context.wrap_socket(raw, server_side=True)
        for path in request_paths(tls):
            size = int(path.rsplit("/", 1)[1]) if path.startswith("/bytes/") else 0
            tls.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % size)
            block = b"x" * 65536
            while size:
                chunk = block[:min(size, len(block))]
                tls.sendall(chunk)
                sent += len(chunk)
                size -= len(chunk)
    except (OSError, ssl.SSLError):
        pass
    finally:
        print("SENT %d" % sent, flush=True)
        raw.close()

serve_forever(serve, on_accept=lambda: print("CONNECTION %d" % next(numbers), flush=True))
"""#
}

/// A raw h2 client (frames by hand, HPACK from the `hpack` package) through a CONNECT tunnel and
/// TLS with ALPN h2; the preface and an empty SETTINGS are sent first. The script has `frame`,
/// `headers`, `request` (an HPACK block), `rst`, `send`, `read_all(timeout, stop, until)` (reads
/// until EOF, the timeout, `stop(frame)` after a frame or `until()` before the next; acknowledges
/// SETTINGS, notes GOAWAY, RST_STREAM codes, response statuses, ended streams and the connection's
/// send window in `summary`)
/// and `report()`, which prints "goaway <code> last=<id> debug=<text>" (or "goaway None"),
/// "resets [(code, count)]", "status <stream> <status>" per response and "eof <bool>".
/// `receiveBuffer` shrinks the client's socket receive buffer (a client that does not read).
func hostileH2Client(_ fixture: ProxyFixture, host: String = HTTP2HostileTests.host, receiveBuffer: Int? = nil, script body: String) throws -> ProcessResult {
    let script = """
        import socket, ssl, struct, sys, time
        from hpack import Decoder, Encoder
        port, cafile, host, rcvbuf = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        raw.settimeout(20)
        raw.connect(("127.0.0.1", port))
        raw.sendall(b"CONNECT %s:443 HTTP/1.1\\r\\nHost: %s:443\\r\\n\\r\\n" % (host.encode(), host.encode()))
        assert raw.recv(1024).startswith(b"HTTP/1.1 200"), "CONNECT refused"
        context = ssl.create_default_context(cafile=cafile)
        context.set_alpn_protocols(["h2"])
        tls = context.wrap_socket(raw, server_hostname=host)
        assert tls.selected_alpn_protocol() == "h2"
        ERRORS = ["NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT", "STREAM_CLOSED",
                  "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM"]
        encoder, decoder = Encoder(), Decoder()
        def frame(kind, flags, stream, payload=b""):
            return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload
        def request(path, extra=()):
            return encoder.encode([(":method", "GET"), (":scheme", "https"), (":authority", host), (":path", path)] + list(extra))
        def headers(stream, path, end_stream=True, extra=()):
            return frame(1, 0x4 | (0x1 if end_stream else 0), stream, request(path, extra))
        def rst(stream, code=8):
            return frame(3, 0, stream, struct.pack(">I", code))
        def send(data):
            try:
                tls.sendall(data)
            except (ssl.SSLError, OSError):
                pass  # the proxy hung up: what it sent before is still read
        send(b"PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n" + frame(4, 0, 0))
        pending = b""
        def next_frame(deadline):
            global pending
            while True:
                if len(pending) >= 9:
                    length = int.from_bytes(pending[:3], "big")
                    if len(pending) >= 9 + length:
                        head, pending = pending[:9 + length], pending[9 + length:]
                        return head[3], head[4], int.from_bytes(head[5:9], "big") & 0x7FFFFFFF, head[9:]
                tls.settimeout(max(0.01, deadline - time.time()))
                try:
                    data = tls.recv(1 << 20)
                except (socket.timeout, TimeoutError):
                    return None
                except (ssl.SSLError, OSError):
                    data = b""
                if not data:
                    summary["eof"] = True
                    return None
                pending += data
        summary = {"resets": {}, "goaway": None, "eof": False, "status": {}, "ended": set(), "window": 65535}
        def read_all(timeout=10, stop=lambda f: False, until=lambda: False):
            deadline = time.time() + timeout
            while time.time() < deadline and not summary["eof"] and not until():
                f = next_frame(deadline)
                if f is None:
                    return
                kind, flags, stream, payload = f
                if kind == 4 and not flags & 1:
                    send(frame(4, 1, 0))
                elif kind == 3:
                    code = ERRORS[int.from_bytes(payload, "big")]
                    summary["resets"][code] = summary["resets"].get(code, 0) + 1
                elif kind == 8 and stream == 0:
                    summary["window"] += int.from_bytes(payload, "big") & 0x7FFFFFFF
                elif kind == 7:
                    last, code = struct.unpack(">II", payload[:8])
                    summary["goaway"] = "%s last=%d debug=%r" % (ERRORS[code] if code < len(ERRORS) else code, last, payload[8:].decode(errors="replace"))
                elif kind == 1:
                    fields = dict(decoder.decode(payload))
                    if ":status" in fields:
                        summary["status"][stream] = fields[":status"]
                if kind in (0, 1) and flags & 1:
                    summary["ended"].add(stream)
                if stop(f):
                    return
        def report():
            print("goaway", summary["goaway"])
            print("resets", sorted(summary["resets"].items()))
            for stream, status in sorted(summary["status"].items()):
                print("status", stream, status)
            print("eof", summary["eof"])
        \(body.split(separator: "\n").joined(separator: "\n"))
        """
    return try run(h2Python, ["-c", script, String(fixture.port), fixture.rootFile, host, String(receiveBuffer ?? 0)])
}
