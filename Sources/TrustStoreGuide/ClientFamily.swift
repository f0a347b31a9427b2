/// A tool whose TLS errors `explain` recognises: the text that names it in a log, the store it
/// reads, and how to make it trust the gateway's root. `{CA}` stands for the root's PEM file.
public struct ClientFamily: Sendable {
    public let id: String
    public let name: String
    /// Folded (lower-case, single-spaced) text that only this tool prints; any one names it.
    let markers: [String]
    public let store: String
    /// Shell lines (Linux and macOS).
    let shell: [String]
    /// PowerShell lines; nil when the shell lines' `export` become `$env:` assignments.
    let windows: [String]?
    /// Dockerfile lines after the gated block installed the root; `{BUNDLE}` is the image's bundle,
    /// `{ANCHOR}` the root's file in the anchor directory.
    let image: [String]
    /// The `snippet --client` name with more detail, when there is one.
    public let snippet: String?

    init(_ id: String, _ name: String, markers: [String], store: String, shell: [String],
         windows: [String]? = nil, image: [String] = [], snippet: String? = nil) {
        self.id = id
        self.name = name
        self.markers = markers
        self.store = store
        self.shell = shell
        self.windows = windows
        self.image = image
        self.snippet = snippet
    }

    public static func named(_ id: String) -> ClientFamily? { all.first { $0.id == id } }

    /// In detection order: a tool before the runtime or library it is built on (poetry before pip
    /// before requests; yarn and bun before npm before node; dnf before curl; rustup before cargo).
    public static let all: [ClientFamily] = {
        let everyFamily = python + javascript + rust + systemTools + containers + jvmDotnetRuby + generic
        // Tools first (uv before pip: `uv pip install`; apt and apk before curl and wget, which
        // their logs mention), then the runtimes and libraries many tools print through, then the
        // families named only by an error's wording.
        let first = ["uv", "apt", "apk"].compactMap { id in everyFamily.first { $0.id == id } }
        let late = runtimeOrder.compactMap { id in everyFamily.first { $0.id == id } }
        let tools = everyFamily.filter { !first.map(\.id).contains($0.id) && !runtimeOrder.contains($0.id) && !$0.markers.isEmpty }
        return first + tools + late + everyFamily.filter(\.markers.isEmpty)
    }()

    /// Runtimes and libraries whose wording shows up in the logs of the tools built on them: they
    /// name the client only when no tool does.
    static let runtimeOrder = ["httpx", "aiohttp", "requests", "python", "node-fetch", "node", "openssl", "go", "java", "ruby", "libgit2"]

    /// Libraries inside tools whose settings differ from the tool's: a text in their words under a
    /// named tool is reported as "TOOL (via LIBRARY)", with the library's setting added to the fix.
    static let libraries = ["libgit2"]

    static let windowsStore = [
        "Import-Certificate -FilePath {CA} -CertStoreLocation Cert:\\CurrentUser\\Root   # PowerShell; machine-wide (admin): Cert:\\LocalMachine\\Root or: certutil -addstore -f Root {CA}",
    ]

    private static let python: [ClientFamily] = [
        ClientFamily("poetry", "poetry", markers: ["poetry"], store: "certifi through requests",
                     shell: CombinedBundle.fix("REQUESTS_CA_BUNDLE", from: .certifi, "export REQUESTS_CA_BUNDLE=\"{COMBINED}\"   # poetry downloads with requests; a private source: poetry config certificates.<source>.cert \"{COMBINED}\""),
                     image: ["ENV REQUESTS_CA_BUNDLE={BUNDLE}"]),
        ClientFamily("conda", "conda", markers: ["condasslerror", "condahttperror", "conda ", "anaconda", "current_repodata.json"],
                     store: "certifi through requests, unless ssl_verify names a bundle",
                     shell: CombinedBundle.fix("ssl_verify", from: .certifi, "conda config --set ssl_verify \"{COMBINED}\"   # or: export REQUESTS_CA_BUNDLE=\"{COMBINED}\"; conda >= 23.9 with the root in the OS store: ssl_verify truststore"),
                     image: ["RUN conda config --set ssl_verify {BUNDLE}"], snippet: "conda"),
        ClientFamily("pip", "pip", markers: ["pip install", "pip._vendor", "/pip/_internal/", "/pip/_vendor/", "could not fetch url", "problem confirming the ssl certificate",
                                              "could not install packages due to", "no matching distribution found", "could not find a version that satisfies",
                                              "warning: retrying (retry(", "collecting ", "pip3 install"],
                     store: "certifi before pip 24.2; from 24.2 on Python >= 3.10 also the OS store (truststore)",
                     shell: CombinedBundle.fix("PIP_CERT", "export PIP_CERT=\"{COMBINED}\"   # or: pip config set global.cert \"{COMBINED}\"; pip >= 24.2 also reads the OS store"),
                     image: ["ENV PIP_CERT={BUNDLE}"], snippet: "pip"),
        ClientFamily("httpx", "httpx", markers: ["httpx", "httpcore"], store: "certifi, or SSL_CERT_FILE / SSL_CERT_DIR when set (trust_env)",
                     shell: CombinedBundle.fix("SSL_CERT_FILE (for httpx)", from: .certifi, "export SSL_CERT_FILE=\"{COMBINED}\"   # httpx reads it; in code: ctx = ssl.create_default_context(); ctx.load_verify_locations(\"{CA}\"); httpx.Client(verify=ctx)"),
                     image: ["ENV SSL_CERT_FILE={BUNDLE}"]),
        ClientFamily("aiohttp", "aiohttp", markers: ["aiohttp", "clientconnectorcertificateerror"], store: "Python's ssl defaults (OpenSSL's paths)",
                     shell: CombinedBundle.fix("SSL_CERT_FILE", "export SSL_CERT_FILE=\"{COMBINED}\"   # or in code: ctx = ssl.create_default_context(); ctx.load_verify_locations(\"{CA}\"); then ssl=ctx"),
                     image: ["ENV SSL_CERT_FILE={BUNDLE}"]),
        ClientFamily("requests", "Python requests", markers: ["requests.exceptions", "/requests/adapters.py", "could not find a suitable tls ca certificate bundle", "httpsconnectionpool", "max retries exceeded", "urllib3", "retrying (retry("],
                     store: "certifi's bundle (SSL_CERT_FILE is ignored)",
                     shell: CombinedBundle.fix("REQUESTS_CA_BUNDLE", from: .certifi, "export REQUESTS_CA_BUNDLE=\"{COMBINED}\"   # requests ignores SSL_CERT_FILE"),
                     image: ["ENV REQUESTS_CA_BUNDLE={BUNDLE}"], snippet: "requests"),
        ClientFamily("python", "Python (ssl, urllib)", markers: ["sslcertverificationerror", "urlopen error", "_ssl.c:", "ssl.sslerror", "python"],
                     store: "OpenSSL's default paths",
                     shell: CombinedBundle.fix("SSL_CERT_FILE", "export SSL_CERT_FILE=\"{COMBINED}\"   # or in code: ctx = ssl.create_default_context(); ctx.load_verify_locations(\"{CA}\") (adds to the defaults)"),
                     image: ["ENV SSL_CERT_FILE={BUNDLE}"], snippet: "python"),
    ]

    private static let javascript: [ClientFamily] = [
        ClientFamily("deno", "Deno", markers: ["deno:", "deno run", "deno.land", "deno_fetch", "deno_cert", "ext:deno"],
                     store: "its bundled Mozilla roots (rustls)",
                     shell: ["export DENO_CERT={CA}   # adds to deno's roots; DENO_TLS_CA_STORE=system,mozilla adds the OS store"],
                     windows: ["$env:DENO_TLS_CA_STORE = \"system\"   # the Windows store, where IT deploys the gateway root; or: $env:DENO_CERT = \"{CA}\""],
                     image: ["ENV DENO_CERT={BUNDLE}"]),
        ClientFamily("bun", "Bun", markers: [" bun ", "bun add", "bun install", "downloading package manifest", "bunfig"],
                     store: "its bundled roots",
                     shell: ["export NODE_EXTRA_CA_CERTS={CA}   # recent bun adds it to its roots; bunfig.toml's [install] cafile would replace them (give it a bundle of the OS roots plus this root)"],
                     image: ["ENV NODE_EXTRA_CA_CERTS={ANCHOR}"]),
        ClientFamily("yarn", "yarn", markers: ["yn0001", "yarn-error.log", "registry.yarnpkg.com", "yarn install", "yarn add", "yarnpkg"],
                     store: "node's bundled roots, plus its own cafile / httpsCaFilePath",
                     shell: ["export NODE_EXTRA_CA_CERTS={CA}   # adds to node's roots; yarn's cafile (1) and httpsCaFilePath (2+) would replace them: leave them unset"],
                     image: ["ENV NODE_EXTRA_CA_CERTS={ANCHOR}"], snippet: "yarn"),
        ClientFamily("pnpm", "pnpm", markers: ["pnpm", "err_pnpm"], store: "node's bundled roots, plus npm's cafile config",
                     shell: ["export NODE_EXTRA_CA_CERTS={CA}   # adds to node's roots; pnpm's cafile would replace them: leave it unset"],
                     image: ["ENV NODE_EXTRA_CA_CERTS={ANCHOR}"]),
        ClientFamily("npm", "npm", markers: ["npm err!", "npm error", "npm warn", "npm-debug", "npm install", "npm ci", "npm@"],
                     store: "node's bundled roots, unless npm's cafile names a bundle",
                     shell: ["export NODE_EXTRA_CA_CERTS={CA}   # with a cafile configured (npm config get cafile) append the root to that file instead: it replaces all roots"],
                     image: ["ENV NODE_EXTRA_CA_CERTS={ANCHOR}"], snippet: "npm"),
        ClientFamily("node-fetch", "node (fetch, undici, node-fetch)", markers: ["fetch failed", "undici", "fetcherror", "node-fetch", "failed, reason:"],
                     store: "node's bundled roots",
                     shell: ["export NODE_EXTRA_CA_CERTS={CA}   # read at start only; node >= 23.9 (22.15): --use-system-ca with the root in the OS store (NODE_USE_SYSTEM_CA=1 from 24.6 and 22.19)"],
                     image: ["ENV NODE_EXTRA_CA_CERTS={ANCHOR}"], snippet: "node"),
        ClientFamily("node", "node", markers: ["node:internal", "_tls_wrap", "tlssocket", "node_modules", "node:events", "(node:"],
                     store: "node's bundled roots",
                     shell: ["export NODE_EXTRA_CA_CERTS={CA}   # read at start only; node >= 23.9 (22.15): --use-system-ca with the root in the OS store (NODE_USE_SYSTEM_CA=1 from 24.6 and 22.19)"],
                     image: ["ENV NODE_EXTRA_CA_CERTS={ANCHOR}"], snippet: "node"),
    ]

    private static let rust: [ClientFamily] = [
        ClientFamily("uv", "uv", markers: [" uv ", "uv_native_tls", "uv_system_certs", "--native-tls", "--system-certs", " interpreter at: ", "astral-sh", "python-build-standalone"],
                     store: "its bundled Mozilla roots",
                     shell: ["# with the root in the OS store (sudo cp ... + update-ca-certificates): export UV_SYSTEM_CERTS=1   (older uv: UV_NATIVE_TLS=1)"]
                         + CombinedBundle.fix("SSL_CERT_FILE (for uv)", "export SSL_CERT_FILE=\"{COMBINED}\"   # uv then reads this file instead of its bundled roots"),
                     windows: ["$env:UV_NATIVE_TLS = \"1\"   # the Windows store, where IT deploys the gateway root (newer uv: UV_SYSTEM_CERTS); SSL_CERT_FILE would replace uv's roots with the file it names"],
                     image: ["ENV SSL_CERT_FILE={BUNDLE}"], snippet: "uv"),
        ClientFamily("rustup", "rustup", markers: ["rustup", "static.rust-lang.org", ".multirust"],
                     store: "the OS store (newer rustup) or its bundled roots; with RUSTUP_USE_CURL=1 libcurl's bundle",
                     shell: CombinedBundle.fix("SSL_CERT_FILE (for rustup)", "export SSL_CERT_FILE=\"{COMBINED}\"   # rustup's reqwest backend; with RUSTUP_USE_CURL=1: CURL_CA_BUNDLE; newer rustup reads the OS store"),
                     windows: windowsStore, image: ["ENV SSL_CERT_FILE={BUNDLE}"]),
        ClientFamily("cargo", "cargo", markers: ["crates.io", "cargo ", "cargo.toml", "failed to download from `"],
                     store: "its bundled libcurl (OpenSSL on Linux and macOS, schannel on Windows)",
                     shell: CombinedBundle.fix("CARGO_HTTP_CAINFO", "export CARGO_HTTP_CAINFO=\"{COMBINED}\"   # or in ~/.cargo/config.toml: [http] cainfo = <that path>; cargo ignores CURL_CA_BUNDLE"),
                     windows: windowsStore + ["# cargo on Windows verifies with schannel, i.e. the Windows store"],
                     image: ["ENV CARGO_HTTP_CAINFO={BUNDLE}"], snippet: "cargo"),
        // A library inside tools (cargo's git fetches, the git2 crate, pygit2, rugged, LibGit2Sharp):
        // named "TOOL (via libgit2)" when a tool is named too, since the tool's own setting misses it.
        ClientFamily("libgit2", "libgit2", markers: ["libgit2", "class=ssl (16)", "code=certificate (-17)", "the ssl certificate is invalid", "git2::error", "pygit2", "rugged::", "libgit2sharp", "nodegit"],
                     store: "its TLS stream's: OpenSSL's default paths on Linux (SSL_CERT_FILE, SSL_CERT_DIR), the Windows store with schannel, the file set by GIT_OPT_SET_SSL_CERT_LOCATIONS",
                     shell: CombinedBundle.fix("SSL_CERT_FILE (for libgit2)", "export SSL_CERT_FILE=\"{COMBINED}\"   # libgit2 on OpenSSL reads it; cargo: or [net] git-fetch-with-cli = true in ~/.cargo/config.toml, so git and its http.sslCAInfo fetch instead"),
                     windows: windowsStore, image: ["ENV SSL_CERT_FILE={BUNDLE}"]),
    ]

    private static let systemTools: [ClientFamily] = [
        ClientFamily("dnf", "dnf/yum (libcurl)", markers: ["curl error (", "repomd.xml", "errors during downloading metadata", "failed to download metadata for repo", "dnf ", "yum "],
                     store: "/etc/pki/ca-trust/extracted (update-ca-trust)",
                     shell: ["sudo cp {CA} /etc/pki/ca-trust/source/anchors/gateway-root.pem && sudo update-ca-trust extract"]),
        ClientFamily("r", "R (curl package, libcurl)", markers: ["curl::curl_fetch", "install.packages", "devtools::", "httr::", "install_github"],
                     store: "libcurl's bundle (on Windows: schannel and the Windows store)",
                     shell: CombinedBundle.fix("CURL_CA_BUNDLE", "export CURL_CA_BUNDLE=\"{COMBINED}\"   # for every session: the same line, without export, in ~/.Renviron"),
                     windows: windowsStore + ["# R's curl on Windows uses schannel, i.e. the Windows store; or CURL_SSL_BACKEND=openssl and CURL_CA_BUNDLE in ~/.Renviron"]),
        ClientFamily("php", "PHP (libcurl)", markers: ["curl error 60", "curl error 77", "curl error 35", "guzzle", "php.ini", "php fatal error", "php warning", "composer"],
                     store: "libcurl's bundle, unless php.ini sets curl.cainfo / openssl.cafile",
                     shell: CombinedBundle.fix("curl.cainfo (and openssl.cafile)", "# php.ini: curl.cainfo = \"{COMBINED}\" and openssl.cafile = \"{COMBINED}\" (the path written out: php.ini does not expand $HOME)")),
        ClientFamily("curl", "curl", markers: ["curl: (", "curl failed to verify", "* schannel:"],
                     store: "its build's bundle (Debian: /etc/ssl/certs/ca-certificates.crt; Windows curl.exe: schannel and the Windows store)",
                     shell: CombinedBundle.fix("CURL_CA_BUNDLE (and --cacert)", "export CURL_CA_BUNDLE=\"{COMBINED}\"   # or: curl --cacert \"{COMBINED}\" ..."),
                     windows: windowsStore + ["# curl.exe verifies with schannel, i.e. the Windows store; a curl from Git Bash or MSYS2 reads its own bundle:",
                                              CombinedBundle.why("--cacert"), CombinedBundle.windowsBuild, "curl --cacert \"{COMBINED}\" ..."], snippet: "curl"),
        ClientFamily("wget", "wget", markers: ["wget", "--no-check-certificate", "the certificate of "],
                     store: "the OS bundle (GnuTLS or OpenSSL build)",
                     shell: ["wget --ca-certificate={CA} URL   # for every call: echo 'ca_certificate = {CA}' >> ~/.wgetrc"]),
        ClientFamily("apt", "apt", markers: ["could not handshake", "inrelease", "apt-get", "apt update", "apt install", "release file"],
                     store: "GnuTLS and the OS bundle (/etc/ssl/certs/ca-certificates.crt)",
                     shell: ["sudo cp {CA} /usr/local/share/ca-certificates/gateway-root.crt && sudo update-ca-certificates   # apt reads the OS bundle, which then holds the root (Acquire::https::CaInfo would replace it)"]),
        ClientFamily("apk", "apk (Alpine)", markers: ["apkindex", "apk add", "apk update", "alpinelinux"],
                     store: "/etc/ssl/certs/ca-certificates.crt of the Alpine image",
                     shell: ["# apk runs in an Alpine image or container: build it with the gated block (intercept-proxy snippet --distro alpine)",
                             "# in a running container: cat {CA} >> /etc/ssl/certs/ca-certificates.crt, then apk add ca-certificates and put the root in /usr/local/share/ca-certificates + update-ca-certificates"]),
        ClientFamily("git", "git", markers: ["fatal: unable to access", "git clone", "git fetch", "git pull", "git push", "cloning into", "info/refs", "git-for-windows"],
                     store: "libcurl's bundle (Debian: GnuTLS and /etc/ssl/certs; Windows: OpenSSL's bundle or schannel)",
                     shell: CombinedBundle.fix("http.sslCAInfo", "git config --global http.sslCAInfo \"{COMBINED}\"   # or: export GIT_SSL_CAINFO=\"{COMBINED}\"; git ignores SSL_CERT_FILE"),
                     windows: ["git config --global http.sslBackend schannel   # the Windows store, where IT deploys the gateway root (http.sslCAInfo would replace every root)"],
                     image: ["RUN git config --system http.sslCAInfo {BUNDLE}"], snippet: "git"),
        ClientFamily("openssl", "openssl s_client", markers: ["verify error:num=", "verify return code"], store: "OpenSSL's default paths",
                     shell: CombinedBundle.fix("-CAfile", "openssl s_client -CAfile \"{COMBINED}\" -connect HOST:443 -servername HOST </dev/null   # or install the root in the OS store and drop -CAfile")),
    ]

    private static let containers: [ClientFamily] = [
        ClientFamily("podman", "podman", markers: ["podman", "pinging container registry", "initializing source docker://"],
                     store: "the OS store plus /etc/containers/certs.d/HOST/ (no daemon: no restart)",
                     shell: ["sudo cp {CA} /etc/pki/ca-trust/source/anchors/gateway-root.pem && sudo update-ca-trust extract   # Debian: /usr/local/share/ca-certificates/*.crt + update-ca-certificates; per registry: /etc/containers/certs.d/HOST/ca.crt"]),
        ClientFamily("docker", "docker (dockerd, BuildKit)", markers: ["error response from daemon", "error pulling image", "failed to resolve source metadata", "failed to fetch anonymous token",
                                                                        "failed to authorize", "failed to do request", "failed to push", "docker pull",
                                                                        "error while pulling image", "unable to find image", "pulling repository"],
                     store: "dockerd's: the OS bundle, plus /etc/docker/certs.d/HOST/ca.crt per registry; read at start",
                     shell: [], snippet: "docker"),
        ClientFamily("kubectl", "kubectl", markers: ["kubectl", "unable to connect to the server"],
                     store: "the kubeconfig's certificate-authority(-data) when set (then only that), else the OS store",
                     shell: ["# kubectl trusts only the cluster CA of the kubeconfig when it has one: ask for the API server to be exempt from TLS inspection,",
                             "# or add the gateway root to that cluster's CA: kubectl config set-cluster NAME --certificate-authority=BUNDLE --embed-certs (BUNDLE = cluster CA + {CA})",
                             "# without CA data (kubectl apply -f https://...):"] + CombinedBundle.fix("SSL_CERT_FILE", "export SSL_CERT_FILE=\"{COMBINED}\"")),
        ClientFamily("argocd", "the Argo CD CLI", markers: ["argocd", "argo-cd"],
                     store: "the cluster's CA from the kubeconfig context (cluster add), the OS store for the Argo CD server's own address",
                     shell: ["# argocd cluster add hands the kubeconfig context's pinned CA to the Argo CD server: see the pinned fix; for the Argo CD server's address:"]
                         + CombinedBundle.fix("SSL_CERT_FILE (for Go)", "export SSL_CERT_FILE=\"{COMBINED}\"   # or argocd login --grpc-web with the root in the OS store")),
        ClientFamily("kubernetes", "a Kubernetes component (kubelet, kube-proxy, a controller)", markers: ["kubelet[", "kubelet:", "kube-proxy", "k8s.io/kubernetes/", "k8s.io/client-go/"],
                     store: "the cluster CA its kubeconfig or service account pins (/var/lib/kubelet, /var/run/secrets/kubernetes.io)",
                     shell: ["# a cluster component trusts only the cluster's CA: it talks to the API server, which a gateway should never re-sign"]),
        ClientFamily("helm", "helm", markers: ["helm ", "is not a valid chart repository", "chart repository", "error: installation failed", "/helm/", "helm.sh/"],
                     store: "the OS store (Go), or --ca-file per repository",
                     shell: CombinedBundle.fix("--ca-file (and SSL_CERT_FILE)", "helm repo add --ca-file \"{COMBINED}\" NAME URL   # or for every command: export SSL_CERT_FILE=\"{COMBINED}\"")),
        ClientFamily("terraform", "terraform", markers: ["terraform", "provider packages", "error installing provider", "releases.hashicorp.com",
                                                         ".tf line ", "in resource \"", "in data \""],
                     store: "the OS store (Go)",
                     shell: CombinedBundle.fix("SSL_CERT_FILE (for Go)", "export SSL_CERT_FILE=\"{COMBINED}\"   # Linux; on macOS and Windows terraform reads the OS store: install the root there"),
                     windows: windowsStore, image: ["ENV SSL_CERT_FILE={BUNDLE}"]),
        ClientFamily("go", "a Go program (go get, go mod, or a tool built with Go)", markers: ["go: ", "proxy.golang.org", "go mod", "go get", "go install", "goproxy", "golang"],
                     store: "the OS bundle (/etc/ssl/certs/ca-certificates.crt and the other distro paths), read once per process",
                     shell: CombinedBundle.fix("SSL_CERT_FILE (for Go)", "export SSL_CERT_FILE=\"{COMBINED}\"   # Linux: replaces the file list; or install the root in the OS store; macOS and Windows: the OS store"),
                     windows: windowsStore, image: ["ENV SSL_CERT_FILE={BUNDLE}"], snippet: "go"),
    ]

    private static let jvmDotnetRuby: [ClientFamily] = [
        ClientFamily("maven", "Maven (Java)", markers: ["org.apache.maven", "org.eclipse.aether", "maven", "mvn "],
                     store: "the cacerts of the JDK that runs mvn (mvn -v shows it)",
                     shell: ["keytool -importcert -noprompt -alias gateway-root -file {CA} -cacerts -storepass changeit   # run with the JDK that runs mvn"],
                     windows: ["keytool -importcert -noprompt -alias gateway-root -file {CA} -cacerts -storepass changeit   # the JDK that runs mvn; or MAVEN_OPTS=-Djavax.net.ssl.trustStoreType=Windows-ROOT"],
                     image: ["RUN keytool -importcert -noprompt -alias gateway-root -file {ANCHOR} -cacerts -storepass changeit"], snippet: "java"),
        ClientFamily("gradle", "Gradle (Java)", markers: ["gradle", "could not resolve all artifacts", "* what went wrong"],
                     store: "the cacerts of the JDK that runs the Gradle daemon (./gradlew -v shows it)",
                     shell: ["keytool -importcert -noprompt -alias gateway-root -file {CA} -cacerts -storepass changeit   # the JDK of the Gradle daemon; then ./gradlew --stop"],
                     windows: ["keytool -importcert -noprompt -alias gateway-root -file {CA} -cacerts -storepass changeit   # or in gradle.properties: systemProp.javax.net.ssl.trustStoreType=Windows-ROOT"],
                     image: ["RUN keytool -importcert -noprompt -alias gateway-root -file {ANCHOR} -cacerts -storepass changeit"], snippet: "java"),
        ClientFamily("java", "Java", markers: ["javax.net.ssl", "sslhandshakeexception", "suncertpathbuilderexception", "java."],
                     store: "$JAVA_HOME/lib/security/cacerts (Debian: /etc/ssl/certs/java/cacerts)",
                     shell: ["keytool -importcert -noprompt -alias gateway-root -file {CA} -cacerts -storepass changeit   # Java ignores SSL_CERT_FILE"],
                     image: ["RUN keytool -importcert -noprompt -alias gateway-root -file {ANCHOR} -cacerts -storepass changeit"], snippet: "java"),
        ClientFamily("dotnet", ".NET (dotnet, NuGet)", markers: ["nu1301", "nuget", "dotnet", "system.net.http", "authenticationexception"],
                     store: "Linux: OpenSSL's paths (the OS store); Windows: the Windows store",
                     shell: CombinedBundle.fix("SSL_CERT_FILE (for .NET)", "export SSL_CERT_FILE=\"{COMBINED}\"   # or better: install the root in the OS store (update-ca-certificates / update-ca-trust)"),
                     windows: windowsStore, snippet: "dotnet"),
        ClientFamily("bundler", "Bundler (Ruby)", markers: ["bundler::", "bundle install", "gemfile", "certificatefailureerror"],
                     store: "Ruby's OpenSSL default paths",
                     shell: CombinedBundle.fix("BUNDLE_SSL_CA_CERT", "export BUNDLE_SSL_CA_CERT=\"{COMBINED}\"   # or for all of Ruby: export SSL_CERT_FILE=\"{COMBINED}\""),
                     image: ["ENV SSL_CERT_FILE={BUNDLE}"], snippet: "ruby"),
        ClientFamily("gem", "gem (RubyGems)", markers: ["gem install", "rubygems.org", "ssl verification error at depth", "you must add"],
                     store: "Ruby's OpenSSL default paths",
                     shell: CombinedBundle.fix(":ssl_ca_cert: (and SSL_CERT_FILE)", "export SSL_CERT_FILE=\"{COMBINED}\"   # or in ~/.gemrc: :ssl_ca_cert: <that path>"),
                     image: ["ENV SSL_CERT_FILE={BUNDLE}"], snippet: "ruby"),
        ClientFamily("ruby", "Ruby (Net::HTTP)", markers: ["ssl_connect returned=1", "net::http", "openssl::ssl::sslerror"],
                     store: "Ruby's OpenSSL default paths", shell: CombinedBundle.fix("SSL_CERT_FILE (for Ruby)", "export SSL_CERT_FILE=\"{COMBINED}\""),
                     image: ["ENV SSL_CERT_FILE={BUNDLE}"], snippet: "ruby"),
    ]

    /// Clients named only by the error line's wording (no tool markers in the text).
    private static let generic: [ClientFamily] = [
        ClientFamily("rustls", "a rustls-based tool (uv, Deno, rustup, ...)", markers: [], store: "its bundled roots or the OS store, depending on the tool",
                     shell: CombinedBundle.fix("SSL_CERT_FILE (for rustls tools)", "export SSL_CERT_FILE=\"{COMBINED}\"   # most rustls tools read it (uv, rustup) instead of their roots; Deno: DENO_CERT={CA} adds; or install the root in the OS store"),
                     windows: windowsStore),
        ClientFamily("libcurl", "a libcurl-based tool (dnf, R, PHP, cargo, ...)", markers: [], store: "libcurl's bundle",
                     shell: CombinedBundle.fix("CURL_CA_BUNDLE", "export CURL_CA_BUNDLE=\"{COMBINED}\"   # most libcurl users read it; or install the root in the OS store"),
                     windows: windowsStore),
        ClientFamily("openssl-client", "an OpenSSL-based client", markers: [], store: "OpenSSL's default paths (the OS bundle)",
                     shell: CombinedBundle.fix("SSL_CERT_FILE", "export SSL_CERT_FILE=\"{COMBINED}\"   # or install the root in the OS store")),
    ]
}
