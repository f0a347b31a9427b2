import CertForge
import Foundation

/// A Python script serving on an ephemeral loopback port, the shape every Python test server
/// shares: it prints `READY <port>` once listening, and it exits with its parent (the test runner
/// exits without stopping servers held by statics, and children do not see its end otherwise).
public final class PythonServer: @unchecked Sendable {
    public let port: Int
    private let process: RunningProcess
    /// Files the script reads (certificates, keys); kept as long as the server runs.
    public let scratch: TemporaryDirectory

    /// `arguments` builds the script's arguments, writing any files they name into `scratch`.
    public init(python: String = "python3", script: String, arguments: (TemporaryDirectory) throws -> [String] = { _ in [] }) throws {
        scratch = try TemporaryDirectory()
        process = try startServer(python, ["-u", "-c", Self.exitWithParent + script] + arguments(scratch))
        port = Int(try process.waitFor(#"READY (\d+)"#))!
    }

    /// What the script printed so far (stdout and stderr interleaved).
    public var output: String { process.output }

    /// Waits until the output matches `pattern` and returns its first capture group.
    @discardableResult
    public func waitFor(_ pattern: String, timeout: TimeInterval = 10) throws -> String {
        try process.waitFor(pattern, timeout: timeout)
    }

    /// SIGKILL.
    public func stop() { process.stop() }

    /// The shape the raw HTTPS/1.1 test origins share: `context` (the chain from argv[1] and
    /// argv[2]), `request_paths(conn)` (wraps `conn` in TLS and yields the path of each request
    /// head it reads, bodies ignored, until the client closes) and `serve_forever(serve, on_accept)`
    /// (prints READY, then one thread per connection running `serve(conn)`).
    public static let httpsRequestLoop = """
        import socket, ssl, sys, threading
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(sys.argv[1], sys.argv[2])

        def request_paths(tls):
            pending = b""
            while True:
                while b"\\r\\n\\r\\n" not in pending:
                    data = tls.recv(65536)
                    if not data:
                        return
                    pending += data
                head, pending = pending.split(b"\\r\\n\\r\\n", 1)
                yield head.split(b" ")[1].decode()

        def serve_forever(serve, on_accept=lambda: None):
            listener = socket.create_server(("127.0.0.1", 0))
            print("READY %d" % listener.getsockname()[1], flush=True)
            while True:
                conn, _ = listener.accept()
                on_accept()
                threading.Thread(target=serve, args=(conn,), daemon=True).start()

        """

    private static let exitWithParent = """
        import os as _os, threading as _threading, time as _time
        _parent = _os.getppid()
        def _exit_with_parent():
            while _os.getppid() == _parent:
                _time.sleep(1)
            _os._exit(0)
        _threading.Thread(target=_exit_with_parent, daemon=True).start()

        """
}

extension TemporaryDirectory {
    /// The chain (leaf first) and its key as PEM files, the two paths a Python `load_cert_chain` takes.
    public func writeChain(_ chain: ForgedChain) throws -> [String] {
        [try write("chain.pem", chain.pem), try write("key.pem", chain.leafKey.pemString)]
    }
}
