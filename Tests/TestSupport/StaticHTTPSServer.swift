import CertForge
import Foundation

/// Python's static file server over HTTPS, for a pip simple index or a git repository (dumb HTTP).
public final class StaticHTTPSServer: @unchecked Sendable {
    public let port: Int
    private let server: BackgroundProcess
    private let files: TemporaryDirectory

    public init(directory: String, chain: ForgedChain) throws {
        let scratch = try TemporaryDirectory()
        let script = """
            import functools, http.server, ssl, sys
            import os, threading, time
            _parent = os.getppid()
            def _exit_with_parent():  # the test runner exits without stopping shared servers: do not outlive it
                while os.getppid() == _parent:
                    time.sleep(1)
                os._exit(0)
            threading.Thread(target=_exit_with_parent, daemon=True).start()
            handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
            handler.log_message = lambda *args: None
            server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(sys.argv[2], sys.argv[3])
            server.socket = context.wrap_socket(server.socket, server_side=True)
            print("READY %d" % server.server_address[1], flush=True)
            server.serve_forever()
            """
        server = try BackgroundProcess("python3", ["-u", "-c", script, directory,
                                                   try scratch.write("chain.pem", chain.pem),
                                                   try scratch.write("key.pem", chain.leafKey.pemString)])
        files = scratch
        port = Int(try server.waitFor(#"READY (\d+)"#))!
    }

    public func stop() { server.stop() }
}
