import CertForge
import Foundation
import Testing
import TestSupport

/// The loop the product exists for, per client: through `verify`, each client fails without the CA
/// with its own words (Zscaler shape and a root-sending shape), then passes after applying what
/// `snippet --client` prints for it. Upstreams are local: a pip simple index and a git repository
/// served over HTTPS by Python, reached with --map-remote.
@Suite(.serialized) struct ClientFixTests {
    struct Client: Sendable, CustomStringConvertible {
        let name: String
        let snippet: String
        /// The texts the client prints without the CA: (zscaler shape, root-sending shape).
        let rejected: (String, String)
        let command: @Sendable (_ scratch: String) -> [String]
        var description: String { name }
    }

    static let nodeScript = """
        const http = require('http'), tls = require('tls');
        const proxy = new URL(process.env.HTTPS_PROXY), host = 'pypi.example';
        http.request({host: proxy.hostname, port: proxy.port, method: 'CONNECT', path: host + ':443'})
          .on('connect', (res, socket) => {
            const s = tls.connect({socket, servername: host}, () => s.write('GET /simple/demo/ HTTP/1.1\\r\\nHost: ' + host + '\\r\\nConnection: close\\r\\n\\r\\n'));
            let data = '';
            s.on('data', d => data += d);
            s.on('end', () => console.log(data.split('\\r\\n')[0]));
            s.on('error', e => { console.error('node error: ' + e.code); process.exit(1); });
          }).end();
        """

    static let clients: [Client] = [
        Client(name: "curl", snippet: "curl",
               rejected: ("curl: (60) SSL certificate problem: unable to get local issuer certificate",
                          "curl: (60) SSL certificate problem: self-signed certificate in certificate chain"),
               command: { _ in ["curl", "-sS", "-o", "/dev/null", "https://pypi.example/simple/demo/"] }),
        Client(name: "python urllib", snippet: "python",
               rejected: ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate",
                          "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate in certificate chain"),
               command: { _ in ["python3", "-c", "import urllib.request; print(urllib.request.urlopen('https://pypi.example/simple/demo/').status)"] }),
        Client(name: "pip", snippet: "pip",
               rejected: ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate",
                          "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate in certificate chain"),
               command: { scratch in ["python3", "-m", "pip", "download", "--no-deps", "--retries", "0", "--disable-pip-version-check",
                                      "--no-cache-dir", "--index-url", "https://pypi.example/simple/", "demo==1.0",
                                      "-d", "\(scratch)/pip-\(UUID().uuidString)"] }),
        Client(name: "node", snippet: "node",
               rejected: ("node error: UNABLE_TO_GET_ISSUER_CERT_LOCALLY", "node error: SELF_SIGNED_CERT_IN_CHAIN"),
               command: { _ in ["node", "-e", nodeScript] }),
        Client(name: "git", snippet: "git",
               rejected: ("server certificate verification failed. CAfile: none CRLfile: none",
                          "server certificate verification failed. CAfile: none CRLfile: none"),
               command: { scratch in ["git", "clone", "-q", "https://git.example/repo.git", "\(scratch)/clone-\(UUID().uuidString)"] }),
    ]

    /// The local upstream: /simple/demo/ with a real wheel, and /repo.git for a dumb-HTTP clone.
    static let upstream = Result {
        try PackageOrigin(host: "origin.test") { root in
            try PackageRepositories.writePipIndex(root: root)
            let work = root + "/../work"
            for step in [["init", "-q", work], ["-C", work, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "hello"],
                         ["clone", "-q", "--bare", work, "\(root)/repo.git"], ["-C", "\(root)/repo.git", "update-server-info"]] {
                let result = try run("git", step)
                #expect(result.status == 0, "git \(step): \(result)")
            }
        }
    }

    @Test(arguments: clients, ["zscaler", "netskope"])
    func rejectedWithoutTheCATrustedWithTheSnippet(client: Client, profile: String) throws {
        let upstream = try Self.upstream.get()
        let caDir = upstream.files.path("ca")
        let home = try TemporaryDirectory()
        let verify = ["verify", "--ca-dir", caDir, "--profile", profile, "--upstream-insecure",
                      "--map-remote", "pypi.example=127.0.0.1:\(upstream.server.port)",
                      "--map-remote", "git.example=127.0.0.1:\(upstream.server.port)"]
        let command = client.command(upstream.files.url.path)

        let rejected = try CLI.run(verify + ["--expect", "rejected", "--"] + command)
        #expect(rejected.status == 0, "\(client) \(profile): \(rejected)")
        let text = profile == "zscaler" ? client.rejected.0 : client.rejected.1
        #expect(rejected.stderr.contains(text), "\(client) \(profile) should print: \(text)\n\(rejected.stderr.suffix(1500))")

        // The snippet as printed, pasted into a shell before the client (WorldFixTests runs it in both worlds).
        let snippet = try CLI.run(["snippet", "--client", client.snippet, "--ca-dir", caDir, "--profile", profile])
        #expect(snippet.status == 0 && snippet.stdout.contains("\(caDir)/\(profile)/root-ca.pem"), "\(snippet)")
        let script = snippet.stdout + "\nexec \"$@\"\n"
        let trusted = try CLI.run(verify + ["--expect", "trusted", "--", "sh", "-c", script, "snippet"] + command, environment: ["HOME": home.url.path])
        #expect(trusted.status == 0, "\(client) \(profile) with\n\(snippet.stdout)\n\(trusted)")
        #expect(trusted.stdout.contains("OK: every host was trusted"), "\(trusted)")
    }
}

/// npm against the offline proxy: its registry ping is answered locally, so no registry is needed.
@Suite struct NPMFixTests {
    @Test(arguments: [("zscaler", "npm error code UNABLE_TO_GET_ISSUER_CERT_LOCALLY"), ("netskope", "npm error code SELF_SIGNED_CERT_IN_CHAIN")])
    func npmRejectedThenTrustedWithTheSnippet(profile: String, text: String) throws {
        let scratch = try TemporaryDirectory()
        let verify = ["verify", "--offline", "--ca-dir", scratch.path("ca"), "--profile", profile]
        let command = ["--", "npm", "ping", "--no-update-notifier"]
        let rejected = try CLI.run(verify + ["--expect", "rejected"] + command, environment: ["npm_config_cache": scratch.path("npm-cache")])
        #expect(rejected.status == 0, "\(rejected)")
        #expect(rejected.stderr.contains(text), "\(rejected.stderr.suffix(800))")
        let snippet = try CLI.run(["snippet", "--client", "npm", "--ca-dir", scratch.path("ca"), "--profile", profile]).stdout
        let caFile = "\(scratch.path("ca"))/\(profile)/root-ca.pem"
        #expect(snippet.contains("export NODE_EXTRA_CA_CERTS=\(caFile)"), "\(snippet)")
        let trusted = try CLI.run(verify + ["--expect", "trusted"] + command,
                                  environment: ["NODE_EXTRA_CA_CERTS": caFile, "npm_config_cache": scratch.path("npm-cache")])
        #expect(trusted.status == 0, "\(trusted)")
        #expect(trusted.stderr.contains("npm notice PONG"), "\(trusted.stderr.suffix(800))")
    }
}
