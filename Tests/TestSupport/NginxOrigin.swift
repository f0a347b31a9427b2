import CertForge
import Foundation

/// nginx (nginx-light, which `make test` installs for the benchmark) as an HTTPS origin serving
/// `files`, with h2 on or off. `keepaliveRequests` caps the requests per connection: on h2, nginx
/// then sends GOAWAY (NO_ERROR) and refuses streams beyond the last one it takes.
public final class NginxOrigin: @unchecked Sendable {
    public let port: Int
    private let server: RunningProcess
    private let directory: TemporaryDirectory

    /// One line per finished request: "<uri> <status> <bytes sent>" (nginx writes it when the
    /// request ends, a reset stream included).
    public var accessLog: String {
        server.output.split(separator: "\n").filter { $0.hasPrefix("ACCESS ") }.map { $0.dropFirst(7) + "\n" }.joined()
    }

    /// Waits until the access log has a line starting with `prefix` (nginx writes it to its stderr, read as it comes).
    public func waitForAccessLog(_ prefix: String, timeout: TimeInterval = 10) throws {
        try server.waitFor("(?m)^ACCESS " + NSRegularExpression.escapedPattern(for: prefix), timeout: timeout)
    }

    /// `sparse` files are that many zero bytes, without taking the memory or the disk.
    public init(chain: ForgedChain, files: [String: [UInt8]], sparse: [String: Int] = [:], http2: Bool = true, keepaliveRequests: Int = 1000) throws {
        let scratch = try TemporaryDirectory()
        directory = scratch
        let www = scratch.path("www")
        try FileManager.default.createDirectory(atPath: www, withIntermediateDirectories: true)
        for (name, bytes) in files {
            FileManager.default.createFile(atPath: "\(www)/\(name)", contents: Data(bytes), attributes: [.posixPermissions: 0o644])
        }
        for (name, size) in sparse {
            FileManager.default.createFile(atPath: "\(www)/\(name)", contents: nil, attributes: [.posixPermissions: 0o644])
            guard truncate("\(www)/\(name)", off_t(size)) == 0 else { throw POSIXError(.EIO) }
        }
        let certificate = try scratch.write("origin.pem", chain.pem)
        let key = try scratch.write("origin.key", chain.leafKey.pemString)
        // Workers run as nobody unless the tests run as root; the scratch files are throwaway.
        for path in [scratch.url.path, www, certificate, key] {
            try FileManager.default.setAttributes([.posixPermissions: path.hasSuffix(".pem") || path.hasSuffix(".key") ? 0o644 : 0o755], ofItemAtPath: path)
        }
        func configuration(port: Int) -> String {
            """
                \(getuid() == 0 ? "user root;" : "")
                worker_processes 1;
                daemon off;
                error_log stderr notice;
                pid \(scratch.path("nginx.pid"));
                events { worker_connections 1024; }
                http {
                    log_format sent 'ACCESS $request_uri $status $bytes_sent';
                    access_log /dev/stderr sent;
                    client_body_temp_path \(scratch.path("tmp-body"));
                    proxy_temp_path \(scratch.path("tmp-proxy"));
                    fastcgi_temp_path \(scratch.path("tmp-fastcgi"));
                    uwsgi_temp_path \(scratch.path("tmp-uwsgi"));
                    scgi_temp_path \(scratch.path("tmp-scgi"));
                    keepalive_requests \(keepaliveRequests);
                    server {
                        listen 127.0.0.1:\(port) ssl\(http2 ? " http2" : "");
                        ssl_certificate \(certificate);
                        ssl_certificate_key \(key);
                        root \(www);
                        default_type application/octet-stream;
                        add_header x-origin-protocol $server_protocol always;
                    }
                }
                """
        }
        // The port is picked free, then bound by nginx: another test may take it in between, so
        // nginx's "Address already in use" means a new port, not a failure.
        var attempt = 0
        while true {
            attempt += 1
            let candidate = try freeLoopbackPort()
            let configFile = try scratch.write("nginx.conf", configuration(port: candidate))
            let started = try startServer("nginx", ["-c", configFile, "-p", scratch.url.path, "-e", scratch.path("error.log")])
            do {
                // The master listens before it starts its worker, and says so (error_log at notice, above).
                try started.waitFor("start worker process")
                port = candidate
                server = started
                return
            } catch where attempt < 5 && started.output.contains("Address already in use") {
                started.stop(signal: SIGTERM)
            }
        }
    }

    /// SIGTERM: nginx's master takes its workers down too (SIGKILL would orphan them).
    public func stop() { server.stop(signal: SIGTERM) }

    /// What nginx wrote (its error log, from the configuration on).
    public var output: String { server.output }

    deinit { stop() }
}

/// A loopback port nothing listens on right now.
public func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw POSIXError(.EADDRNOTAVAIL) }
    return Int(UInt16(bigEndian: address.sin_port))
}
