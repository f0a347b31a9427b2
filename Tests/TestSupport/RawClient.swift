import Foundation

/// A scripted client for inputs no well-behaved tool sends: raw bytes, pauses, TLS with chosen
/// names and versions, driven by python3's socket and ssl modules. It reports everything it
/// received (plaintext and, after `tls`, decrypted), whether the proxy closed, and how long it took.
public struct RawClient {
    public enum Step {
        case send(String)
        case sendBytes([UInt8])
        /// Sends the bytes one at a time, `interval` seconds apart.
        case dribble(String, interval: Double)
        case sleep(Double)
        /// Reads until the first CRLFCRLF (a response head) or close.
        case readHead
        /// Reads until `text` has been received (or the peer closes).
        case readUntil(String)
        /// Starts TLS over the connection, trusting `caFile`; nil SNI sends none.
        /// `version` pins the TLS version (a name of Python's ssl.TLSVersion, e.g. "TLSv1").
        case tls(serverName: String?, caFile: String, alpn: [String] = [], version: String? = nil)
        /// Sends a real ClientHello whose SNI host name is rewritten to `length` bytes of "a"
        /// (a TLS library refuses to send one over 255 bytes).
        case clientHelloWithSNI(length: Int)
        /// Half-closes the TCP connection (a FIN, even under TLS): the client sends nothing more.
        case shutdownWrite
        /// Reads until the peer closes (or `timeout` seconds pass).
        case readToClose(timeout: Double)
    }

    public struct Outcome: CustomStringConvertible {
        public let received: String
        public let closedByPeer: Bool
        public let error: String?
        public let seconds: Double
        public var description: String { "received \(received.debugDescription.prefix(600)) closed=\(closedByPeer) error=\(error ?? "-") after \(seconds) s" }
    }

    /// Lowercase hex, fast enough for payloads of megabytes.
    private static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text = [UInt8]()
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes { text += [digits[Int(byte >> 4)], digits[Int(byte & 0x0f)]] }
        return String(decoding: text, as: UTF8.self)
    }

    public static func run(port: Int, _ steps: [Step]) throws -> Outcome {
        let program: [[Any]] = steps.map { step in
            switch step {
            case let .send(text): return ["send", hex(Array(text.utf8))]
            case let .sendBytes(bytes): return ["send", hex(bytes)]
            case let .dribble(text, interval): return ["dribble", hex(Array(text.utf8)), interval]
            case let .sleep(seconds): return ["sleep", seconds]
            case .readHead: return ["readuntil", "0d0a0d0a"]
            case let .readUntil(text): return ["readuntil", hex(Array(text.utf8))]
            case let .tls(name, caFile, alpn, version): return ["tls", name ?? NSNull(), caFile, alpn, version ?? NSNull()]
            case let .clientHelloWithSNI(length): return ["longsni", length]
            case .shutdownWrite: return ["shutwr"]
            case let .readToClose(timeout): return ["readclose", timeout]
            }
        }
        let json = String(decoding: try JSONSerialization.data(withJSONObject: program), as: UTF8.self)
        let result = try TestSupport.run("python3", ["-c", script, String(port)], input: json + "\n")
        guard let data = result.stdout.split(separator: "\n").last.map({ Data($0.utf8) }),
              let report = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw TimedOut(command: "raw client produced no report: \(result)", seconds: 0)
        }
        return Outcome(received: report["received"] as? String ?? "", closedByPeer: report["closed"] as? Bool ?? false,
                       error: report["error"] as? String, seconds: report["seconds"] as? Double ?? 0)
    }

    private static let script = #"""
import json, socket, ssl, struct, sys, time

def client_hello_with_sni(length):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    try:
        context.wrap_bio(incoming, outgoing, server_hostname="placeholder.example").do_handshake()
    except ssl.SSLWantReadError:
        pass
    body = outgoing.read()[9:]  # after the record and handshake headers
    i = 2 + 32
    i += 1 + body[i]
    i += 2 + struct.unpack(">H", body[i:i + 2])[0]
    i += 1 + body[i]
    extensions, j, rebuilt = body[i + 2:], 0, b""
    while j < len(extensions):
        kind, size = struct.unpack(">HH", extensions[j:j + 4])
        data = extensions[j + 4:j + 4 + size]
        if kind == 0:  # server_name: list length, name type 0, name length, name
            name = b"a" * length
            data = struct.pack(">HBH", len(name) + 3, 0, len(name)) + name
        rebuilt += struct.pack(">HH", kind, len(data)) + data
        j += 4 + size
    body = body[:i] + struct.pack(">H", len(rebuilt)) + rebuilt
    handshake = bytes([1]) + struct.pack(">I", len(body))[1:] + body
    return bytes([0x16, 3, 1]) + struct.pack(">H", len(handshake)) + handshake
port = int(sys.argv[1])
program = json.loads(sys.stdin.readline())
started = time.monotonic()
received = b""
closed = False
error = None
sock = socket.create_connection(("127.0.0.1", port), timeout=30)
try:
    for step in program:
        kind = step[0]
        if kind == "send":
            sock.sendall(bytes.fromhex(step[1]))
        elif kind == "dribble":
            try:
                for byte in bytes.fromhex(step[1]):
                    sock.sendall(bytes([byte]))
                    time.sleep(step[2])
            except OSError:
                pass  # the proxy gave up on us: read what it said
        elif kind == "readuntil":
            wanted = bytes.fromhex(step[1])
            while wanted not in received:
                chunk = sock.recv(65536)
                if not chunk:
                    closed = True
                    break
                received += chunk
        elif kind == "sleep":
            time.sleep(step[1])
        elif kind == "tls":
            context = ssl.create_default_context(cafile=step[2])
            if step[1] is None:
                context.check_hostname = False
            if step[3]:
                context.set_alpn_protocols(step[3])
            if step[4]:
                context.set_ciphers("DEFAULT:@SECLEVEL=0")
                context.minimum_version = context.maximum_version = getattr(ssl.TLSVersion, step[4])
            sock = context.wrap_socket(sock, server_hostname=step[1])
        elif kind == "longsni":
            sock.sendall(client_hello_with_sni(step[1]))
        elif kind == "shutwr":
            socket.socket.shutdown(sock, socket.SHUT_WR)  # SSLSocket.shutdown would end TLS reads too
        elif kind == "readclose":
            sock.settimeout(step[1])
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    closed = True
                    break
                received += chunk
except Exception as exc:
    error = "%s: %s" % (type(exc).__name__, exc)
    if isinstance(exc, (ConnectionResetError, BrokenPipeError)):
        closed = True
print(json.dumps({"received": received.decode("latin-1"), "closed": closed, "error": error,
                  "seconds": time.monotonic() - started}))
"""#
}
