import CertForge
import Foundation

/// The Python that has the `h2` package: the benchmark's virtual environment (mitmproxy depends on
/// h2), which `make test` creates. Set by the Makefile; `.build/bench-venv` for a bare `swift test`.
public var h2Python: String {
    let venv = ProcessInfo.processInfo.environment["INTERCEPT_PROXY_BENCH_VENV"] ?? FileManager.default.currentDirectoryPath + "/.build/bench-venv"
    return venv + "/bin/python3"
}

/// An HTTPS origin that speaks only h2 (Python's `h2` package) and misbehaves on request, for what
/// nginx will not do on cue. Endpoints:
/// `/bytes/N` (N bytes), `/reset/N` (N bytes, then RST_STREAM INTERNAL_ERROR),
/// `/hold/N` (N bytes, then nothing until the connection ends), `/goaway/N` (N bytes, then GOAWAY
/// INTERNAL_ERROR naming the newest stream, and the connection closes), `/trailers` (a gRPC-style
/// response), `POST /echo` (the body's size). Every response names the connection (`x-connection`).
public final class H2OriginServer: @unchecked Sendable {
    private let server: PythonServer
    public var port: Int { server.port }

    public init(chain: ForgedChain) throws {
        server = try PythonServer(python: h2Python, script: Self.script) { try $0.writeChain(chain) }
    }

    public var output: String { server.output }

    /// Waits until the output matches `pattern` (e.g. "RESET BY PROXY 1 8") and returns its first capture.
    @discardableResult
    public func waitFor(_ pattern: String, timeout: TimeInterval = 10) throws -> String {
        try server.waitFor(pattern, timeout: timeout)
    }

    public func stop() { server.stop() }

    static let script = #"""
import itertools, socket, ssl, sys, threading
import h2.config, h2.connection, h2.events

connections = itertools.count(1)

def serve(tls, number):
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
    conn.initiate_connection()
    tls.sendall(conn.data_to_send())
    paths, received, outgoing = {}, {}, {}  # outgoing: stream -> [bytes left, then what]

    def respond(stream, status, headers=()):
        conn.send_headers(stream, [(":status", str(status)), ("x-connection", str(number))] + list(headers))

    def pump():
        for stream, (data, then) in list(outgoing.items()):
            while data:
                size = min(len(data), conn.local_flow_control_window(stream), conn.max_outbound_frame_size)
                if size <= 0:
                    break
                conn.send_data(stream, data[:size])
                data = data[size:]
            outgoing[stream][0] = data
            if data:
                continue
            del outgoing[stream]
            if then == "end":
                conn.end_stream(stream)
            elif then == "reset":
                conn.reset_stream(stream, error_code=2)
            elif then == "goaway":
                conn.close_connection(error_code=2, last_stream_id=max(paths))
                tls.sendall(conn.data_to_send())
                # Hang up the way servers do: stop writing, read what the peer still sends (so
                # the kernel answers with FIN, not RST, which could discard the GOAWAY), close.
                tls.settimeout(2)
                tls.shutdown(socket.SHUT_WR)
                try:
                    while tls.recv(65536):
                        pass
                except (OSError, ssl.SSLError):
                    pass
                raise EOFError

    def handle(stream):
        path = paths[stream]
        kind, _, count = path.strip("/").partition("/")
        size = int(count) if count.isdigit() else 0
        if kind == "echo":
            body = str(received.get(stream, 0)).encode()
            respond(stream, 200, [("content-length", str(len(body)))])
            outgoing[stream] = [body, "end"]
        elif kind == "trailers":
            respond(stream, 200, [("content-type", "application/grpc")])
            conn.send_data(stream, b"hello")
            conn.send_headers(stream, [("grpc-status", "0"), ("grpc-message", "all good")], end_stream=True)
        elif kind in ("bytes", "reset", "hold", "goaway"):
            respond(stream, 200, [("content-length", str(size + (1 if kind != "bytes" else 0)))])
            outgoing[stream] = [b"x" * size, {"bytes": "end", "reset": "reset", "hold": "hold", "goaway": "goaway"}[kind]]
        else:
            respond(stream, 404, [("content-length", "0")])
            conn.end_stream(stream)

    try:
        while True:
            data = tls.recv(65536)
            if not data:
                break
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.RequestReceived):
                    paths[event.stream_id] = dict(event.headers)[":path"]
                elif isinstance(event, h2.events.DataReceived):
                    received[event.stream_id] = received.get(event.stream_id, 0) + len(event.data)
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    handle(event.stream_id)
                elif isinstance(event, h2.events.StreamReset):
                    outgoing.pop(event.stream_id, None)
                    print("RESET BY PROXY %d %d" % (event.stream_id, event.error_code), flush=True)
            pump()
            tls.sendall(conn.data_to_send())
    except (EOFError, OSError):
        pass
    finally:
        tls.close()

context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[1], sys.argv[2])
context.set_alpn_protocols(["h2"])
listener = socket.create_server(("127.0.0.1", 0))
print("READY %d" % listener.getsockname()[1], flush=True)
while True:
    raw, _ = listener.accept()
    try:
        tls = context.wrap_socket(raw, server_side=True)
    except (ssl.SSLError, OSError):
        continue
    print("CONNECTION alpn=%s" % tls.selected_alpn_protocol(), flush=True)
    threading.Thread(target=serve, args=(tls, next(connections)), daemon=True).start()
"""#
}
