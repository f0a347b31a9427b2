import FoundationEssentials

/// How one runtime or tool is told to trust the proxy's CA, and what trips people up. Every fix
/// adds the root to what the client already trusts; where the client's setting replaces its roots,
/// it names a bundle of the usual roots plus the root (`CombinedBundle`), never the root alone.
public struct ClientSnippet: Sendable {
    public let client: String
    /// Which store the client reads by default.
    public let store: String
    /// Shell lines; `{CA}` stands for the PEM file's path, `{COMBINED}` for the combined bundle's.
    public let lines: [String]
    public let gotchas: [String]

    /// The snippet for a CA file, as shell lines with comments.
    public func render(caFile: String) -> String {
        var text = "# \(client): reads \(store)\n"
        text += lines.map { CombinedBundle.render($0).replacing("{CA}", with: caFile) }.joined(separator: "\n") + "\n"
        for gotcha in gotchas { text += "# gotcha: \(CombinedBundle.render(gotcha).replacing("{CA}", with: caFile))\n" }
        return text
    }

    /// The variable `name` set to the combined bundle, with a note.
    private static func export(_ name: String, _ note: String = "") -> String {
        "export \(name)=\"{COMBINED}\"" + (note.isEmpty ? "" : "   # \(note)")
    }

    public static let all: [ClientSnippet] = python + javascript + systemTools + containers + others

    private static let python: [ClientSnippet] = [
        ClientSnippet(client: "python", store: "OpenSSL's default paths (ssl, urllib, http.client, aiohttp)",
                      lines: CombinedBundle.fix("SSL_CERT_FILE", export("SSL_CERT_FILE"))
                          + ["# or in code: ctx = ssl.create_default_context(); ctx.load_verify_locations(\"{CA}\")   # adds to the defaults (cafile= in create_default_context would replace them)"],
                      gotchas: ["requests and pip do not read SSL_CERT_FILE: see --client requests and --client pip",
                                "Debian and Ubuntu also read the hashed directory /etc/ssl/certs, so a file with the root alone still reaches public hosts there; Fedora, Alpine and macOS do not",
                                "Python 3.13 verifies strictly (VERIFY_X509_STRICT): a sloppy CA fails there first"]),
        ClientSnippet(client: "pip", store: "certifi before pip 24.2; from 24.2 on Python >= 3.10 the system store (truststore) plus certifi",
                      lines: CombinedBundle.fix("PIP_CERT", export("PIP_CERT", "or: pip config set global.cert \"{COMBINED}\"")),
                      gotchas: ["pip >= 24.2 on Python >= 3.10 reads the OS store too: with the root installed there (snippet --distro), pip needs nothing",
                                "older pip lets CURL_CA_BUNDLE silently override --cert; Debian's and Ubuntu's pip (requests unbundled) let REQUESTS_CA_BUNDLE override PIP_CERT: give both the same bundle"]),
        ClientSnippet(client: "requests", store: "certifi's bundle (SSL_CERT_FILE is ignored)",
                      lines: CombinedBundle.fix("REQUESTS_CA_BUNDLE", from: .certifi, export("REQUESTS_CA_BUNDLE")),
                      gotchas: ["requests ignores SSL_CERT_FILE", "the variable overrides Session.verify set in code"]),
        ClientSnippet(client: "httpx", store: "certifi, or SSL_CERT_FILE / SSL_CERT_DIR when set (trust_env)",
                      lines: CombinedBundle.fix("SSL_CERT_FILE", from: .certifi, export("SSL_CERT_FILE", "httpx reads it while trust_env is on")),
                      gotchas: ["httpx ignores REQUESTS_CA_BUNDLE", "httpx.Client(verify=PATH) replaces certifi too: give it the bundle"]),
        ClientSnippet(client: "poetry", store: "certifi through requests",
                      lines: CombinedBundle.fix("REQUESTS_CA_BUNDLE", from: .certifi, export("REQUESTS_CA_BUNDLE", "poetry downloads with requests")),
                      gotchas: ["a private source: poetry config certificates.<source>.cert \"\(CombinedBundle.path)\""]),
        ClientSnippet(client: "conda", store: "certifi through requests, unless ssl_verify names a bundle",
                      lines: CombinedBundle.fix("ssl_verify", from: .certifi, "conda config --set ssl_verify \"{COMBINED}\"   # or: export REQUESTS_CA_BUNDLE=\"{COMBINED}\""),
                      gotchas: ["conda >= 23.9: conda config --set ssl_verify truststore reads the OS store, once the root is there"]),
        ClientSnippet(client: "uv", store: "its bundled Mozilla roots",
                      lines: ["# best: install the root in the OS store (intercept-proxy snippet --distro ...) and: export UV_SYSTEM_CERTS=1   (uv --system-certs; older uv: UV_NATIVE_TLS=1)"]
                          + CombinedBundle.fix("SSL_CERT_FILE (for uv)", export("SSL_CERT_FILE", "or: uv --cert \"{COMBINED}\" ...")),
                      gotchas: ["uv ignores REQUESTS_CA_BUNDLE", "--system-certs only helps once the CA is in the OS store",
                                "uv ships in images as a binary (COPY --from=ghcr.io/astral-sh/uv): it reads neither certifi nor pip's settings"]),
    ]

    private static let javascript: [ClientSnippet] = [
        ClientSnippet(client: "node", store: "its bundled Mozilla roots",
                      lines: ["export NODE_EXTRA_CA_CERTS={CA}   # adds to node's roots; node >= 23.9 (22.15) alternatively: node --use-system-ca with the CA in the OS store (NODE_USE_SYSTEM_CA=1 from 24.6 and 22.19)"],
                      gotchas: ["NODE_EXTRA_CA_CERTS is read once at start: restart node after setting it",
                                "node ignores SSL_CERT_FILE unless started with --use-openssl-ca"]),
        ClientSnippet(client: "npm", store: "node's store, unless npm's cafile config names a bundle",
                      lines: ["export NODE_EXTRA_CA_CERTS={CA}   # adds to node's roots, which npm uses"],
                      gotchas: ["npm's cafile (npm config get cafile) replaces the client's roots, NODE_EXTRA_CA_CERTS included: delete it (npm config delete cafile), "
                                + "or point it at a bundle of the OS roots plus the root: cat /etc/ssl/certs/ca-certificates.crt {CA} > \"{COMBINED}\" && npm config set cafile \"{COMBINED}\"",
                                "npm's cache can hide a reproduction: npm cache clean --force"]),
        ClientSnippet(client: "yarn", store: "node's store",
                      lines: ["export NODE_EXTRA_CA_CERTS={CA}   # adds to node's roots; yarn's cafile (1) and httpsCaFilePath (2+) would replace them"],
                      gotchas: ["NODE_EXTRA_CA_CERTS is read once at start"]),
        ClientSnippet(client: "bun", store: "its bundled Mozilla roots",
                      lines: ["export NODE_EXTRA_CA_CERTS={CA}   # bun adds it to its roots, as node does"],
                      gotchas: ["bunfig.toml [install] cafile replaces the roots for bun install: give it a bundle"]),
        ClientSnippet(client: "deno", store: "its bundled Mozilla roots (DENO_TLS_CA_STORE=mozilla)",
                      lines: ["export DENO_CERT={CA}   # adds to deno's roots; or with the root in the OS store: export DENO_TLS_CA_STORE=system,mozilla"],
                      gotchas: []),
    ]

    private static let systemTools: [ClientSnippet] = [
        ClientSnippet(client: "curl", store: "its build's bundle (Debian: /etc/ssl/certs/ca-certificates.crt and the directory /etc/ssl/certs)",
                      lines: CombinedBundle.fix("CURL_CA_BUNDLE (and --cacert)", export("CURL_CA_BUNDLE", "or: curl --cacert \"{COMBINED}\" ...")),
                      gotchas: ["Debian and Ubuntu builds also read /etc/ssl/certs (CApath), so a file with the root alone still reaches public hosts there; Fedora, Alpine and macOS builds read only the file",
                                "a multi-certificate PEM in a hashed SSL_CERT_DIR is skipped; use CURL_CA_BUNDLE or --cacert"]),
        ClientSnippet(client: "wget", store: "the OS store (GnuTLS or OpenSSL build)",
                      lines: ["echo 'ca_certificate = {CA}' >> ~/.wgetrc   # adds to the OS store for every wget; for one call: wget --ca-certificate={CA} URL"],
                      gotchas: ["ca_directory (--ca-directory) replaces the OS store's directory: a directory with the gateway root alone loses the public roots"]),
        ClientSnippet(client: "git", store: "libcurl's (Debian: GnuTLS and /etc/ssl/certs)",
                      lines: CombinedBundle.fix("http.sslCAInfo (and GIT_SSL_CAINFO)", "git config --global http.sslCAInfo \"{COMBINED}\"   # or: export GIT_SSL_CAINFO=\"{COMBINED}\""),
                      gotchas: ["git ignores SSL_CERT_FILE", "on Windows: git config --global http.sslBackend schannel reads the Windows store"]),
        ClientSnippet(client: "openssl", store: "OpenSSL's default paths",
                      lines: ["openssl s_client -connect HOST:443 -servername HOST </dev/null   # with the root in the OS store (snippet --distro) it verifies as every OpenSSL client does"]
                          + CombinedBundle.fix("-CAfile", "openssl s_client -CAfile \"{COMBINED}\" -connect HOST:443 -servername HOST </dev/null"),
                      gotchas: ["s_client goes on after a verification error unless -verify_return_error; read its Verify return code"]),
        ClientSnippet(client: "go", store: "/etc/ssl/certs/ca-certificates.crt and the other distro bundles, then /etc/ssl/certs",
                      lines: CombinedBundle.fix("SSL_CERT_FILE (for Go)", export("SSL_CERT_FILE", "replaces the file list; SSL_CERT_DIR replaces the directories")),
                      gotchas: ["roots load once per process: restart long-running Go programs",
                                "on Linux Go also reads every file in /etc/ssl/certs unless SSL_CERT_DIR is set",
                                "any certificate in the pool is an anchor, so an intermediate alone is accepted"]),
        ClientSnippet(client: "cargo", store: "its bundled libcurl with OpenSSL",
                      lines: CombinedBundle.fix("CARGO_HTTP_CAINFO", export("CARGO_HTTP_CAINFO", "or in ~/.cargo/config.toml: [http] cainfo = \"<that path>\"")),
                      gotchas: ["cargo ignores CURL_CA_BUNDLE"]),
        ClientSnippet(client: "aws", store: "aws-cli's own bundle (certifi)",
                      lines: CombinedBundle.fix("AWS_CA_BUNDLE", from: .osBundle, export("AWS_CA_BUNDLE", "or: aws configure set ca_bundle \"{COMBINED}\"")),
                      gotchas: ["boto3 and botocore read AWS_CA_BUNDLE too"]),
    ]

    private static let containers: [ClientSnippet] = [
        ClientSnippet(client: "docker", store: "dockerd (Go): the system bundle, plus /etc/docker/certs.d/HOST:PORT/ca.crt per registry",
                      lines: ["sudo mkdir -p /etc/docker/certs.d/REGISTRY:443 && sudo cp {CA} /etc/docker/certs.d/REGISTRY:443/ca.crt   # added to the system roots for that registry",
                              "# or install the CA in the OS store (intercept-proxy snippet --distro debian) and:",
                              "sudo systemctl restart docker"] + ContainerProxySettings.docker,
                      gotchas: ["dockerd loads roots once: restart it after any change", "the daemon, not the docker CLI, makes the TLS connection",
                                "RUN steps run in the build's network: 127.0.0.1 there is the container, not your host; use host.docker.internal (Linux: --add-host=host.docker.internal:host-gateway) and start the proxy with --listen-host 0.0.0.0 (it then serves loopback and the private ranges only)",
                                "the certs.d entry covers pulls only: RUN steps need the CA inside the image (intercept-proxy snippet --dockerfile Dockerfile)"]),
        ClientSnippet(client: "podman", store: "containers/image (podman, skopeo): the system bundle, plus /etc/containers/certs.d/HOST[:PORT]/ca.crt per registry",
                      lines: ["sudo mkdir -p /etc/containers/certs.d/REGISTRY && sudo cp {CA} /etc/containers/certs.d/REGISTRY/ca.crt",
                              "# REGISTRY as you pull it: the host, or host:port when the port is not 443; rootless: ~/.config/containers/certs.d/REGISTRY/ca.crt",
                              "# for one command only: skopeo copy --src-cert-dir DIR ... / podman pull --cert-dir DIR ... (DIR holding ca.crt)"]
                             + ContainerProxySettings.podman,
                      gotchas: ["containers/image also reads /etc/docker/certs.d, but not the docker daemon's daemon.json",
                                "the certs.d entry covers pulls and pushes only: RUN steps need the CA inside the image (intercept-proxy snippet --dockerfile Dockerfile)"]),
        ClientSnippet(client: "buildah", store: "containers/image for FROM pulls (/etc/containers/certs.d/HOST[:PORT]/ca.crt); RUN steps: the image's own store",
                      lines: ["sudo mkdir -p /etc/containers/certs.d/REGISTRY && sudo cp {CA} /etc/containers/certs.d/REGISTRY/ca.crt"]
                             + ContainerProxySettings.buildah,
                      gotchas: ["buildah passes HTTP(S)_PROXY into RUN steps (--http-proxy, on by default) but never into the image",
                                "with the proxy on 127.0.0.1, RUN steps reach it only with --network host"]),
    ]

    private static let others: [ClientSnippet] = [
        ClientSnippet(client: "java", store: "$JAVA_HOME/lib/security/cacerts (Debian: /etc/ssl/certs/java/cacerts)",
                      lines: ["keytool -importcert -noprompt -alias intercept-proxy -file {CA} -cacerts -storepass changeit   # adds to the JDK's roots",
                              "# or without touching the JDK: a copy of its cacerts with the root added, as the trustStore (a trustStore replaces the JDK's roots):",
                              "mkdir -p \"\(CombinedBundle.directory)\" && cp \"$JAVA_HOME/lib/security/cacerts\" \"\(javaStore)\" && keytool -importcert -noprompt -alias intercept-proxy -file {CA} -keystore \"\(javaStore)\" -storepass changeit",
                              "# export JAVA_TOOL_OPTIONS=\"-Djavax.net.ssl.trustStore=\(javaStore) -Djavax.net.ssl.trustStorePassword=changeit\""],
                      gotchas: ["Java ignores SSL_CERT_FILE", "Temurin images: mount the CA in /certificates and set USE_SYSTEM_CA_CERTS=1",
                                "a trustStore of the proxy's root alone (ca export --format p12) replaces the JDK's roots: every other host then fails"]),
        ClientSnippet(client: "dotnet", store: "OpenSSL's default paths",
                      lines: ["# best: install the root in the OS store (intercept-proxy snippet --distro ...): .NET reads it"]
                          + CombinedBundle.fix("SSL_CERT_FILE (for .NET)", export("SSL_CERT_FILE")),
                      gotchas: ["errors mention PartialChain (root missing) or UntrustedRoot (root sent, not trusted)"]),
        ClientSnippet(client: "ruby", store: "OpenSSL's default paths",
                      lines: CombinedBundle.fix("SSL_CERT_FILE (for Ruby)", export("SSL_CERT_FILE", "bundler: export BUNDLE_SSL_CA_CERT=\"{COMBINED}\"")),
                      gotchas: ["gem's ~/.gemrc :ssl_ca_cert: adds to OpenSSL's default paths"]),
    ]

    /// A copy of the JDK's cacerts with the root added, for a trustStore that keeps the JDK's roots.
    private static let javaStore = CombinedBundle.directory + "/cacerts"

    public static var names: [String] { all.map(\.client) }

    public static func named(_ name: String) -> ClientSnippet? {
        all.first { $0.client == name.lowercased() }
    }
}
