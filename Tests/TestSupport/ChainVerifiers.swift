import CertForge
import Foundation

/// The real verifiers this machine has, each given a forged chain with its root trusted the right
/// way; the verdict is nil when it accepts, else the words it refuses with (the texts users paste).
public enum ChainVerifier: String, CaseIterable, Sendable {
    case openssl = "OpenSSL 3"
    case opensslStrict = "OpenSSL -x509_strict"
    case python = "Python ssl"
    case pythonStrict = "Python VERIFY_X509_STRICT"
    case curl
    case node = "node 20"
    case go = "Go 1.19"
    case java = "Java 17 PKIX"
    case uv = "uv (rustls)"

    /// What the verdict comes from, for the table's legend.
    public var method: String {
        switch self {
        case .openssl: return "`openssl verify -purpose sslserver -auth_level 2` (Debian's client level)"
        case .opensslStrict: return "the same with `-x509_strict`"
        case .python: return "a TLS handshake with `ssl.create_default_context(cafile=root)`"
        case .pythonStrict: return "the same with `VERIFY_X509_STRICT`, Python 3.13's default (set by hand on this 3.11)"
        case .curl: return "`curl --cacert root` against an HTTPS server presenting the chain"
        case .node: return "`tls.connect({ca: root})` against a node TLS server presenting the chain"
        case .go: return "`tls.Dial` with the root alone in `RootCAs`"
        case .java: return "the default `X509TrustManager` over a KeyStore holding the root (`checkServerTrusted`)"
        case .uv: return "`uv pip install` with `SSL_CERT_FILE=root` against an index presenting the chain"
        }
    }

    /// Runs this verifier against `chain` (forged for `localhost`), trusting `chain.trustAnchor`.
    public func verdict(_ chain: ForgedChain) throws -> String? {
        switch self {
        case .openssl, .opensslStrict:
            let outcome = try opensslVerify(chain, policy: .client(for: chain.serverName.text, strict: self == .opensslStrict))
            guard !outcome.isOK else { return nil }
            return outcome.output.split(separator: "\n").first { $0.contains("depth lookup: ") }
                .map { String($0[$0.range(of: "depth lookup: ")!.upperBound...]) } ?? outcome.output
        case .python, .pythonStrict:
            let result = try pythonHandshake(chain, strict: self == .pythonStrict)
            guard result.status != 0 else { return nil }
            return Self.lastLine(result.output).replacingOccurrences(of: #" \(_ssl\.c:\d+\)"#, with: "", options: .regularExpression)
        case .node:
            return try Self.node(chain)
        case .go:
            return try Self.go(chain)
        case .java:
            return try Self.java(chain)
        case .curl, .uv:
            return try Self.againstServer(chain, client: self)
        }
    }

    static func lastLine(_ text: String) -> String {
        text.split(separator: "\n").last.map(String.init) ?? text
    }

    private static func node(_ chain: ForgedChain) throws -> String? {
        let files = try TemporaryDirectory()
        let script = """
            const tls = require('tls'), fs = require('fs');
            const [chain, key, ca, host] = process.argv.slice(1);
            // Security level 0 on the server side: it must send what it is given (SHA-1 included).
            const server = tls.createServer({ cert: fs.readFileSync(chain), key: fs.readFileSync(key), ciphers: 'DEFAULT:@SECLEVEL=0' }, s => s.end());
            server.listen(0, '127.0.0.1', () => {
              const c = tls.connect({ port: server.address().port, host: '127.0.0.1', servername: host, ca: fs.readFileSync(ca) }, () => {
                console.log('OK'); process.exit(0);
              });
              c.on('error', e => { console.log(`${e.code}: ${e.message}`); process.exit(1); });
            });
            """
        let result = try run("node", ["-e", script, try files.write("chain.pem", chain.pem),
                                      try files.write("key.pem", chain.leafKey.pemString),
                                      try files.write("anchor.pem", chain.trustAnchor.pemString), chain.serverName.text],
                             environment: cleanEnvironment(), timeout: 30)
        return result.status == 0 ? nil : lastLine(result.output)
    }

    private static let goSource = """
        package main

        import (
        \t"crypto/tls"
        \t"crypto/x509"
        \t"fmt"
        \t"net"
        \t"os"
        )

        func main() {
        \tcert, err := tls.LoadX509KeyPair(os.Args[1], os.Args[2])
        \tif err != nil {
        \t\tfmt.Println("server:", err)
        \t\tos.Exit(2)
        \t}
        \tln, err := net.Listen("tcp", "127.0.0.1:0")
        \tif err != nil {
        \t\tfmt.Println("listen:", err)
        \t\tos.Exit(2)
        \t}
        \tgo func() {
        \t\tc, err := ln.Accept()
        \t\tif err != nil {
        \t\t\treturn
        \t\t}
        \t\ts := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}})
        \t\ts.Handshake()
        \t\ts.Close()
        \t}()
        \tpool := x509.NewCertPool()
        \tpem, _ := os.ReadFile(os.Args[3])
        \tpool.AppendCertsFromPEM(pem)
        \tc, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: os.Args[4]})
        \tif err != nil {
        \t\tfmt.Println(err)
        \t\tos.Exit(1)
        \t}
        \tc.Close()
        \tfmt.Println("OK")
        }
        """

    /// The Go client, built once per test process.
    private static let goBinary: Result<String, any Error> = Result {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("intercept-proxy-go-verifier-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let source = directory.appendingPathComponent("main.go").path
        try Data(goSource.utf8).write(to: URL(fileURLWithPath: source))
        let binary = directory.appendingPathComponent("verifier").path
        let built = try run("go", ["build", "-o", binary, source], environment: cleanEnvironment(["GO111MODULE": "off"]), timeout: 300)
        guard built.status == 0 else { throw VerifierFailure("go build failed: \(built)") }
        return binary
    }

    private static func go(_ chain: ForgedChain) throws -> String? {
        let files = try TemporaryDirectory()
        let result = try run(try goBinary.get(), [try files.write("chain.pem", chain.pem), try files.write("key.pem", chain.leafKey.pemString),
                                                  try files.write("anchor.pem", chain.trustAnchor.pemString), chain.serverName.text],
                             environment: cleanEnvironment(), timeout: 30)
        guard result.status != 2 else { throw VerifierFailure("the Go server could not start: \(result)") }
        return result.status == 0 ? nil : lastLine(result.output)
    }

    private static let javaSource = """
        import java.io.*;
        import java.security.KeyStore;
        import java.security.cert.*;
        import java.util.*;
        import javax.net.ssl.*;

        public class ChainCheck {
            public static void main(String[] args) throws Exception {
                CertificateFactory factory = CertificateFactory.getInstance("X.509");
                List<X509Certificate> chain = new ArrayList<>();
                try (InputStream in = new FileInputStream(args[0])) {
                    for (Certificate c : factory.generateCertificates(in)) chain.add((X509Certificate) c);
                }
                KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
                store.load(null, null);
                try (InputStream in = new FileInputStream(args[1])) {
                    store.setCertificateEntry("anchor", factory.generateCertificate(in));
                }
                TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
                tmf.init(store);
                X509TrustManager tm = (X509TrustManager) tmf.getTrustManagers()[0];
                try {
                    tm.checkServerTrusted(chain.toArray(new X509Certificate[0]), args[2]);
                    System.out.println("OK");
                } catch (CertificateException e) {
                    System.out.println(e.getClass().getName() + ": " + e.getMessage());
                    System.exit(1);
                }
            }
        }
        """

    private static func java(_ chain: ForgedChain) throws -> String? {
        let files = try TemporaryDirectory()
        let source = try files.write("ChainCheck.java", javaSource)
        let authType: String
        if case .rsa = chain.leafKey.algorithm { authType = "ECDHE_RSA" } else { authType = "ECDHE_ECDSA" }
        let result = try run("java", [source, try files.write("chain.pem", chain.pem), try files.write("anchor.pem", chain.trustAnchor.pemString), authType],
                             environment: cleanEnvironment(), timeout: 60)
        return result.status == 0 ? nil : lastLine(result.output)
    }

    /// curl and uv fetch from a local HTTPS server presenting the chain as `localhost`.
    private static func againstServer(_ chain: ForgedChain, client: ChainVerifier) throws -> String? {
        let files = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: files.path("www"), withIntermediateDirectories: true)
        let anchor = try files.write("anchor.pem", chain.trustAnchor.pemString)
        let server = try StaticHTTPSServer(directory: files.path("www"), chain: chain)
        defer { server.stop() }
        let url = "https://\(chain.serverName.text):\(server.port)/"
        if client == .curl {
            let result = try run("curl", ["-sS", "-o", "/dev/null", "--cacert", anchor, url], environment: cleanEnvironment(), timeout: 30)
            // curl's first line names the problem; the rest points at its web page.
            return result.status == 0 ? nil : result.output.split(separator: "\n").first.map(String.init) ?? result.output
        }
        let venv = try toolsVenv()
        // An empty index: a working handshake ends in "not found in the package registry".
        let result = try run("\(venv)/bin/uv", ["pip", "install", "--no-cache", "--dry-run", "--python", "\(venv)/bin/python",
                                                "--index-url", url + "simple/", "nothing-here"],
                             environment: cleanEnvironment(["SSL_CERT_FILE": anchor, "UV_NO_CONFIG": "1"]), directory: files.url, timeout: 60)
        if result.output.contains("not found in the package registry") { return nil }
        if let range = result.output.range(of: #"invalid peer certificate: [^\s]+"#, options: .regularExpression) {
            return String(result.output[range])
        }
        throw VerifierFailure("uv neither reached the index nor refused the certificate: \(result)")
    }
}

public struct VerifierFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
