import CertForge
import Foundation
import Testing
import TestSupport

/// The fix `snippet --client` prints, run verbatim in a shell, must hold in every world the user's
/// code meets: behind the gateway (pypi.example intercepted, files.bank.example not inspected) and
/// with no gateway at all. The form that replaces the client's store with the gateway root alone
/// must fail without the gateway, so each test can fail. Both hosts are a local origin (a pip index,
/// a git repository and an npm registry) reached with --map-remote.
@Suite(.serialized) struct WorldFixTests {
    struct Client: Sendable, CustomStringConvertible {
        /// The `snippet --client` name.
        let name: String
        /// Shell lines that fetch from `$HOST` (set before them), the client as it runs anywhere.
        let fetch: String
        /// The setting that replaces the client's store with the gateway root (`$ROOT`) alone.
        let replacing: String
        /// Whether the replacing form loses the public roots only where there is no hashed
        /// directory (Fedora, RHEL, macOS): on Debian /etc/ssl/certs still serves them.
        var withoutHashedDirectory = false
        /// Whether the client comes from the tools venv (uv, httpx): its bin goes first on PATH, as
        /// in an activated venv, so python3 is the venv's.
        var fromToolsVenv = false
        var description: String { name }
    }

    static let clients: [Client] = [
        Client(name: "curl", fetch: #"curl -sS -o /dev/null "https://$HOST/simple/demo/""#,
               replacing: #"export CURL_CA_BUNDLE="$ROOT""#, withoutHashedDirectory: true),
        Client(name: "wget", fetch: #"wget -q -O /dev/null "https://$HOST/simple/demo/""#,
               replacing: #"mkdir -p "$HOME/gw" && cp "$ROOT" "$HOME/gw/" && openssl rehash "$HOME/gw" && echo "ca_directory = $HOME/gw" >> ~/.wgetrc"#),
        // Debian's git (GnuTLS) reads every file in /etc/ssl/certs, the bundle too, beside
        // http.sslCAInfo: its CA file replaces nothing there, so the form also names the directory.
        Client(name: "git", fetch: #"git ls-remote -q "https://$HOST/repo.git" >/dev/null"#,
               replacing: #"export GIT_SSL_CAINFO="$ROOT" GIT_SSL_CAPATH="$(dirname "$ROOT")""#),
        Client(name: "openssl", fetch: #"printf 'GET /simple/demo/ HTTP/1.0\r\nHost: %s\r\n\r\n' "$HOST" | openssl s_client -quiet -proxy "${HTTPS_PROXY#http://}" -connect "$HOST:443" -servername "$HOST" -verify_return_error $OPENSSL_CA >/dev/null"#,
               replacing: #"OPENSSL_CA="-CAfile $ROOT""#),
        Client(name: "python", fetch: #"python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1]).read()' "https://$HOST/simple/demo/""#,
               replacing: #"export SSL_CERT_FILE="$ROOT""#, withoutHashedDirectory: true),
        Client(name: "requests", fetch: #"python3 -c 'import sys, requests; requests.get(sys.argv[1]).raise_for_status()' "https://$HOST/simple/demo/""#,
               replacing: #"export REQUESTS_CA_BUNDLE="$ROOT""#),
        Client(name: "httpx", fetch: #"python3 -c 'import sys, httpx; httpx.get(sys.argv[1]).raise_for_status()' "https://$HOST/simple/demo/""#,
               replacing: #"export SSL_CERT_FILE="$ROOT""#, fromToolsVenv: true),
        Client(name: "pip", fetch: #"python3 -m pip download -q --no-deps --retries 0 --disable-pip-version-check --no-cache-dir --index-url "https://$HOST/simple/" demo==1.0 -d "$HOME/pip-$HOST-$$""#,
               replacing: #"export PIP_CERT="$ROOT""#),
        Client(name: "uv", fetch: #"uv pip install -q --no-cache --python python3 --target "$HOME/uv-$HOST-$$" --index-url "https://$HOST/simple/" demo==1.0"#,
               replacing: #"export SSL_CERT_FILE="$ROOT""#, fromToolsVenv: true),
        Client(name: "node", fetch: #"node "$CLIENTS/fetch.js" "https://$HOST/simple/demo/""#,
               replacing: #"export FETCH_CA="$ROOT"   # code that passes ca: to tls.connect"#),
        Client(name: "npm", fetch: #"npm view ip-demo version --registry "https://$HOST/npm/" --cache "$HOME/npm-cache-$$" >/dev/null"#,
               replacing: #"export npm_config_cafile="$ROOT""#),
        Client(name: "go", fetch: #""$CLIENTS/fetch-go" "https://$HOST/simple/demo/" >/dev/null"#,
               replacing: #"export SSL_CERT_FILE="$ROOT" SSL_CERT_DIR="$(dirname "$ROOT")""#),
        Client(name: "java", fetch: #"java -cp "$CLIENTS" Fetch "https://$HOST/simple/demo/" >/dev/null"#,
               replacing: #"export JAVA_TOOL_OPTIONS="-Djavax.net.ssl.trustStore=$ROOT_P12 -Djavax.net.ssl.trustStorePassword=changeit""#),
        Client(name: "ruby", fetch: #"ruby -rnet/http -e 'Net::HTTP.get_response(URI(ARGV[0])).value' "https://$HOST/simple/demo/""#,
               replacing: #"export SSL_CERT_FILE="$ROOT""#, withoutHashedDirectory: true),
    ]

    static let intercepted = "pypi.example", bypassed = "files.bank.example"

    /// The origin both hosts map to, the CA directory, and the compiled clients.
    final class World: Sendable {
        let upstream: PackageOrigin
        let caDir: String
        let root: String
        let clients: String
        let tools: String

        init() throws {
            upstream = try PackageOrigin(host: "origin.test") { root in
                try PackageRepositories.writePipIndex(root: root)
                try PackageRepositories.writeNPMRegistry(root: root, base: "https://\(WorldFixTests.intercepted)")
                let work = root + "/../work"
                for step in [["init", "-q", work], ["-C", work, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "hello"],
                             ["clone", "-q", "--bare", work, "\(root)/repo.git"], ["-C", "\(root)/repo.git", "update-server-info"]] {
                    let result = try run("git", step)
                    guard result.status == 0 else { throw WorldClients.Failure("git \(step): \(result)") }
                }
            }
            caDir = upstream.files.path("ca")
            let created = try CLI.run(["ca", "init", "--ca-dir", caDir])
            guard created.status == 0 else { throw WorldClients.Failure("ca init: \(created)") }
            root = "\(caDir)/zscaler/root-ca.pem"
            _ = try CLI.run(["ca", "export", "--ca-dir", caDir, "--format", "p12", "--out", "\(caDir)/root.p12"])
            clients = try WorldClients.build(in: upstream.files.path("clients"))
            tools = try toolsVenv()
        }

        /// `verify` with both hosts mapped to the origin, around a shell script.
        func verify(_ options: [String], script: String, home: String, client: Client) throws -> ProcessResult {
            let maps = [WorldFixTests.intercepted, WorldFixTests.bypassed].flatMap { ["--map-remote", "\($0)=127.0.0.1:\(upstream.server.port)"] }
            let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
            return try CLI.run(["verify", "--ca-dir", caDir, "--upstream-insecure", "--json"] + maps + options + ["--", "sh", "-c", script],
                               environment: ["HOME": home, "ROOT": root, "ROOT_P12": "\(caDir)/root.p12", "CLIENTS": clients,
                                             "npm_config_update_notifier": "false", "PATH": client.fromToolsVenv ? "\(tools)/bin:\(path)" : path])
        }
    }

    static let world = Result { try World() }

    /// The script: the fix (or the replacing form), then the client against each host.
    private func script(setup: String, fetch: String, hosts: [String]) -> String {
        (["OPENSSL_CA=", setup] + hosts.map { "HOST=\($0)\n\(fetch) || echo \"client failed for $HOST\" >&2" }).joined(separator: "\n")
    }

    private func report(_ result: ProcessResult) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result)")
    }

    @Test(arguments: clients)
    func theSnippetHoldsInEveryWorldAndTheReplacingFormDoesNot(client: Client) throws {
        let world = try Self.world.get()
        let home = try TemporaryDirectory()
        var snippet = try CLI.run(["snippet", "--client", client.name, "--ca-dir", world.caDir]).stdout
        if client.name == "openssl" {
            // The s_client lines are templates (HOST): the client line takes the bundle -CAfile names.
            let line = try #require(snippet.split(separator: "\n").first { $0.hasPrefix("openssl s_client -CAfile") }, "\(snippet)")
            let bundle = try #require(line.split(separator: "\"").dropFirst().first)
            snippet = snippet.split(separator: "\n").filter { !$0.hasPrefix("openssl s_client") }.joined(separator: "\n")
                + "\nOPENSSL_CA=\"-CAfile \(bundle)\"\n"
        }

        let fixed = try world.verify(["--worlds", "gateway,direct", "--bypass", Self.bypassed], script: script(
            setup: snippet, fetch: client.fetch, hosts: [Self.intercepted, Self.bypassed]), home: home.url.path, client: client)
        #expect(fixed.status == 0, "\(client): the printed fix must hold in both worlds\n\(snippet)\n\(fixed.stdout)\n\(fixed.stderr.suffix(2500))")
        let worlds = try #require(try report(fixed)["worlds"] as? [[String: Any]])
        #expect(worlds.map { $0["world"] as? String } == ["gateway", "direct"])
        for result in worlds {
            #expect(result["commandStatus"] as? Int == 0, "\(client) in \(result["world"] ?? "?"): the client itself succeeded\n\(fixed.stderr.suffix(2500))")
            let hosts = (result["hosts"] as? [[String: Any]] ?? []).map { "\($0["host"] ?? "?") \($0["interception"] ?? "?") \($0["outcome"] ?? "?")" }
            let expected = result["world"] as? String == "gateway"
                ? ["\(Self.intercepted) intercepted trusted", "\(Self.bypassed) bypassed trusted"]
                : ["\(Self.intercepted) direct trusted", "\(Self.bypassed) direct trusted"]
            #expect(hosts == expected, "\(client): \(fixed.stdout)")
        }

        let replaced = try world.verify(["--worlds", "direct"] + (client.withoutHashedDirectory ? ["--without-hashed-dir"] : []),
                                        script: script(setup: client.replacing, fetch: client.fetch, hosts: [Self.intercepted]), home: home.url.path, client: client)
        #expect(replaced.status == 1, "\(client): \(client.replacing) must fail without the gateway\n\(replaced.stdout)\n\(replaced.stderr.suffix(1500))")
        let direct = try #require((try report(replaced)["worlds"] as? [[String: Any]])?.first)
        let host = try #require((direct["hosts"] as? [[String: Any]])?.first, "\(replaced)")
        #expect(host["outcome"] as? String == "rejected", "\(client): \(replaced.stdout)")
    }
}

/// The clients that are programs of ours (node, Go and Java do not read HTTPS_PROXY the same way),
/// built once into a directory, and the venv with uv and httpx.
enum WorldClients {
    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    static func build(in directory: String) throws -> String {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try fetchGo.write(toFile: "\(directory)/fetch.go", atomically: true, encoding: .utf8)
        try fetchJava.write(toFile: "\(directory)/Fetch.java", atomically: true, encoding: .utf8)
        try fetchJS.write(toFile: "\(directory)/fetch.js", atomically: true, encoding: .utf8)
        let go = try run(try requireTool("go"), ["build", "-o", "\(directory)/fetch-go", "\(directory)/fetch.go"],
                         environment: cleanEnvironment(["GO111MODULE": "off", "GOCACHE": "\(directory)/gocache", "GOFLAGS": ""]), timeout: 300)
        guard go.status == 0 else { throw Failure("go build: \(go)") }
        let java = try run(try requireTool("javac"), ["-d", directory, "\(directory)/Fetch.java"], timeout: 120)
        guard java.status == 0 else { throw Failure("javac: \(java)") }
        return directory
    }

    static let fetchGo = """
        package main

        import (
        \t"fmt"
        \t"net/http"
        \t"os"
        )

        // Fetches each URL through HTTPS_PROXY (net/http's default transport reads it).
        func main() {
        \tfor _, url := range os.Args[1:] {
        \t\tresponse, err := http.Get(url)
        \t\tif err != nil {
        \t\t\tfmt.Fprintln(os.Stderr, "go error:", err)
        \t\t\tos.Exit(1)
        \t\t}
        \t\tresponse.Body.Close()
        \t\tfmt.Println(url, response.StatusCode)
        \t}
        }

        """

    static let fetchJava = """
        import java.net.InetSocketAddress;
        import java.net.Proxy;
        import java.net.URI;
        import java.net.URL;
        import javax.net.ssl.HttpsURLConnection;

        // Fetches each URL through the proxy HTTPS_PROXY names (Java does not read the variable).
        public class Fetch {
            public static void main(String[] args) throws Exception {
                URI proxy = URI.create(System.getenv("HTTPS_PROXY"));
                Proxy through = new Proxy(Proxy.Type.HTTP, new InetSocketAddress(proxy.getHost(), proxy.getPort()));
                for (String url : args) {
                    HttpsURLConnection connection = (HttpsURLConnection) new URL(url).openConnection(through);
                    System.out.println(url + " " + connection.getResponseCode());
                    connection.getInputStream().close();
                }
            }
        }

        """

    /// A shell command that fetches `url` with node through HTTPS_PROXY (fetchJS, inline).
    static func nodeFetch(_ url: String) -> String {
        let script = fetchJS.replacingOccurrences(of: "process.argv[2]", with: "'\(url)'")
        return "node -e '\(script.replacingOccurrences(of: "'", with: "'\\''"))'"
    }

    /// node's https does not read HTTPS_PROXY: a CONNECT tunnel by hand. FETCH_CA, when set, is
    /// passed as tls.connect's `ca`, which replaces node's roots (code that does this is common).
    static let fetchJS = """
        const http = require('http'), tls = require('tls'), fs = require('fs');
        const proxy = new URL(process.env.HTTPS_PROXY), url = new URL(process.argv[2]);
        const ca = process.env.FETCH_CA ? {ca: fs.readFileSync(process.env.FETCH_CA)} : {};
        http.request({host: proxy.hostname, port: proxy.port, method: 'CONNECT', path: url.hostname + ':443'}).on('connect', (res, socket) => {
          const s = tls.connect({socket, servername: url.hostname, ...ca}, () =>
            s.write('GET ' + url.pathname + ' HTTP/1.1\\r\\nHost: ' + url.hostname + '\\r\\nConnection: close\\r\\n\\r\\n'));
          let data = '';
          s.on('data', d => data += d);
          s.on('end', () => { const status = data.split('\\r\\n')[0]; console.log(status); process.exit(status.includes(' 200 ') ? 0 : 1); });
          s.on('error', e => { console.error('node error: ' + e.code); process.exit(1); });
        }).end();

        """
}
