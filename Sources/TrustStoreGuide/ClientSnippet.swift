import FoundationEssentials

/// How one runtime or tool is told to trust the proxy's CA, and what trips people up.
public struct ClientSnippet: Sendable {
    public let client: String
    /// Which store the client reads by default.
    public let store: String
    /// Shell lines; `{CA}` stands for the PEM file's path.
    public let lines: [String]
    public let gotchas: [String]

    /// The snippet for a CA file, as shell lines with comments.
    public func render(caFile: String) -> String {
        var text = "# \(client): reads \(store)\n"
        text += lines.map { $0.replacing("{CA}", with: caFile) }.joined(separator: "\n") + "\n"
        for gotcha in gotchas { text += "# gotcha: \(gotcha)\n" }
        return text
    }

    public static let all: [ClientSnippet] = [
        ClientSnippet(client: "curl", store: "OpenSSL's default bundle /etc/ssl/certs/ca-certificates.crt",
                      lines: ["export CURL_CA_BUNDLE={CA}        # or: curl --cacert {CA} ..."],
                      gotchas: ["a multi-certificate PEM in a hashed SSL_CERT_DIR is skipped; use CURL_CA_BUNDLE or --cacert"]),
        ClientSnippet(client: "python", store: "OpenSSL's default paths (ssl, urllib, http.client)",
                      lines: ["export SSL_CERT_FILE={CA}         # or in code: ssl.create_default_context(cafile=\"{CA}\")"],
                      gotchas: ["requests and pip do not read SSL_CERT_FILE: see --client requests and --client pip",
                                "Python 3.13 verifies strictly (VERIFY_X509_STRICT): a sloppy CA fails there first"]),
        ClientSnippet(client: "pip", store: "certifi before pip 24.2; from 24.2 on Python >= 3.10 the system store (truststore) plus certifi",
                      lines: ["export PIP_CERT={CA}              # or: pip config set global.cert {CA}"],
                      gotchas: ["older pip lets CURL_CA_BUNDLE silently override --cert",
                                "PIP_CERT replaces the bundle: the CA file must also hold the public roots if you reach other hosts directly"]),
        ClientSnippet(client: "requests", store: "certifi's bundle (SSL_CERT_FILE is ignored)",
                      lines: ["export REQUESTS_CA_BUNDLE={CA}"],
                      gotchas: ["requests ignores SSL_CERT_FILE", "the variable overrides Session.verify set in code"]),
        ClientSnippet(client: "uv", store: "its bundled Mozilla roots",
                      lines: ["export SSL_CERT_FILE={CA}         # or install the CA in the OS store and: export UV_SYSTEM_CERTS=1 (uv --system-certs; older uv: UV_NATIVE_TLS=1)"],
                      gotchas: ["uv ignores REQUESTS_CA_BUNDLE", "--system-certs only helps once the CA is in the OS store"]),
        ClientSnippet(client: "node", store: "its bundled Mozilla roots",
                      lines: ["export NODE_EXTRA_CA_CERTS={CA}   # node >= 23.8 alternatively: NODE_USE_SYSTEM_CA=1 with the CA in the OS store"],
                      gotchas: ["NODE_EXTRA_CA_CERTS is read once at start: restart node after setting it",
                                "node ignores SSL_CERT_FILE unless started with --use-openssl-ca"]),
        ClientSnippet(client: "npm", store: "node's store, unless npm's cafile config names a bundle",
                      lines: ["export npm_config_cafile={CA}     # the same as: npm config set cafile {CA}"],
                      gotchas: ["npm's cafile replaces the whole list of roots: with a cafile configured (npm config get cafile), NODE_EXTRA_CA_CERTS is ignored",
                                "npm's cache can hide a reproduction: npm cache clean --force"]),
        ClientSnippet(client: "yarn", store: "node's store",
                      lines: ["export NODE_EXTRA_CA_CERTS={CA}   # yarn 1: yarn config set cafile {CA}; yarn 2+: yarn config set httpsCaFilePath {CA}"],
                      gotchas: ["NODE_EXTRA_CA_CERTS is read once at start"]),
        ClientSnippet(client: "java", store: "$JAVA_HOME/lib/security/cacerts (Debian: /etc/ssl/certs/java/cacerts)",
                      lines: ["keytool -importcert -noprompt -alias intercept-proxy -file {CA} -cacerts -storepass changeit",
                              "# or without touching the JDK: intercept-proxy ca export --format p12 --out proxy.p12 and",
                              "# export JAVA_TOOL_OPTIONS=\"-Djavax.net.ssl.trustStore=proxy.p12 -Djavax.net.ssl.trustStorePassword=changeit\""],
                      gotchas: ["Java ignores SSL_CERT_FILE", "Temurin images: mount the CA in /certificates and set USE_SYSTEM_CA_CERTS=1",
                                "a custom trustStore replaces the JDK's roots for that process"]),
        ClientSnippet(client: "git", store: "GnuTLS's system trust on Debian",
                      lines: ["export GIT_SSL_CAINFO={CA}        # or: git config --global http.sslCAInfo {CA}"],
                      gotchas: ["git ignores SSL_CERT_FILE"]),
        ClientSnippet(client: "cargo", store: "its bundled libcurl with OpenSSL",
                      lines: ["export CARGO_HTTP_CAINFO={CA}     # or in ~/.cargo/config.toml: [http] cainfo = \"{CA}\""],
                      gotchas: ["cargo ignores CURL_CA_BUNDLE"]),
        ClientSnippet(client: "conda", store: "certifi through requests",
                      lines: ["conda config --set ssl_verify {CA}   # or: export REQUESTS_CA_BUNDLE={CA}"],
                      gotchas: []),
        ClientSnippet(client: "go", store: "/etc/ssl/certs/ca-certificates.crt and the other distro bundles, then /etc/ssl/certs",
                      lines: ["export SSL_CERT_FILE={CA}         # replaces the file list; SSL_CERT_DIR replaces the directories"],
                      gotchas: ["roots load once per process: restart long-running Go programs",
                                "any certificate in the pool is an anchor, so an intermediate alone is accepted"]),
        ClientSnippet(client: "docker", store: "dockerd (Go): the system bundle, plus /etc/docker/certs.d/HOST:PORT/ca.crt per registry",
                      lines: ["sudo mkdir -p /etc/docker/certs.d/REGISTRY:443 && sudo cp {CA} /etc/docker/certs.d/REGISTRY:443/ca.crt",
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
        ClientSnippet(client: "dotnet", store: "OpenSSL's default paths",
                      lines: ["export SSL_CERT_FILE={CA}         # or SSL_CERT_DIR; better: install in the OS store"],
                      gotchas: ["errors mention PartialChain (root missing) or UntrustedRoot (root sent, not trusted)"]),
        ClientSnippet(client: "ruby", store: "OpenSSL's default paths",
                      lines: ["export SSL_CERT_FILE={CA}         # bundler: export BUNDLE_SSL_CA_CERT={CA}"],
                      gotchas: []),
    ]

    public static var names: [String] { all.map(\.client) }

    public static func named(_ name: String) -> ClientSnippet? {
        all.first { $0.client == name.lowercased() }
    }
}
