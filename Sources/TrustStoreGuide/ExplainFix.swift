import FoundationEssentials
import EssentialsSupport

extension ErrorExplanation {
    /// The commands that fix this error where it happened, with `caFile` (the gateway's root PEM)
    /// filled in, or `GatewayRoot.placeholder` when nil.
    public func fix(caFile: String?) -> [String] {
        let lines: [String]
        switch cause {
        case .hostnameMismatch: lines = hostnameFix
        case .revocationUnchecked: lines = revocationFix
        case .caFileUnusable: lines = caFileFix
        case .expired: lines = expiredFix
        case .notYetValid: lines = notYetValidFix
        case .staleRoot: lines = staleRootFix
        case .emptyTrustStore: lines = emptyStoreFix
        case .revoked: lines = revokedFix
        case .nonStrictCA: lines = nonStrictFix
        case .blockedByPolicy: lines = blockedFix
        case .packageIntegrity: lines = integrityFix
        case .selfSignedLeaf, .caUsedAsLeaf:
            lines = ["# the server's own certificate is not issued by a CA: trusting a root helps only if your gateway produced it",
                     peek("-subject -issuer"),
                     "# if the issuer names your gateway, trust its root:"] + trustFix
        case .onlyIntermediateTrusted:
            lines = ["# the file you installed is an intermediate (its subject and issuer differ: openssl x509 -noout -subject -issuer -in FILE); install the ROOT:"] + trustFix
        case .untrustedRootNotSent, .untrustedUnknownShape:
            lines = trustFix + [
                "# still failing with the root installed? an old root of the same name (a re-issued gateway CA) or a server that leaves out an intermediate gives the same words:",
                "openssl s_client -showcerts -connect \(hostOrPlaceholder):443 -servername \(hostOrPlaceholder) </dev/null 2>/dev/null | grep -E '^ *[0-9]+ [si]:'   # the last issuer must be the root you installed, by name and key",
            ]
        case .untrustedRootSent, .leafAloneUntrusted:
            lines = trustFix
        }
        // A version note is about where this client reads its roots (or, for Python, who set the
        // strict flag): only where the fix is about the roots, and not inside a build or container.
        let notesApply = [.shell, .macOS, .windows].contains(context) && Self.versionNoteCauses.contains(cause)
        var all = (notesApply ? versionNotes : []) + lines
        if let via, cause.involvesTheRoot, context == .shell, let library = ClientFamily.named(via) {
            all += ["# the error came from \(library.name) inside \(family.name), which the setting above may not reach; for \(library.name):"]
                + library.shell.filter { !lines.contains($0) }
        }
        let ca = caFile ?? GatewayRoot.placeholder
        return all.map { CombinedBundle.render($0, windows: context == .windows).replacing("{CA}", with: ca) }
    }

    /// The causes whose fix is about where the client reads its roots (or, for Python, its strict flag).
    static let versionNoteCauses: Set<Cause> = [.untrustedRootNotSent, .untrustedRootSent, .leafAloneUntrusted, .untrustedUnknownShape,
                                                .onlyIntermediateTrusted, .staleRoot, .emptyTrustStore, .caFileUnusable, .nonStrictCA]

    /// The command that shows what the server (or the gateway in its place) presents.
    func peek(_ fields: String) -> String {
        "openssl s_client -connect \(hostOrPlaceholder):443 -servername \(hostOrPlaceholder) </dev/null 2>/dev/null | openssl x509 -noout \(fields)"
    }

    var hostOrPlaceholder: String { host.map { $0.split(separator: ":").first.map(String.init) ?? $0 } ?? "HOST" }

    /// Where the root goes so that this client, where it ran, trusts it.
    var trustFix: [String] {
        switch context {
        case let .dockerBuild(distro): return dockerBuildFix(distro: distro)
        case .dockerDaemon: return daemonFix
        case let .virtualMachine(machine): return machine.fix(host: host)
        case .container: return containerFix
        case .pinnedCA: return pinnedFix
        case let .chroot(root): return chrootFix(root ?? "ROOT")
        case .windows: return family.windows ?? family.shell.map(Self.powerShell)
        case .macOS:
            if ["go", "terraform", "helm", "dotnet", "rustup"].contains(client) { return [Self.macKeychain] + family.shell }
            return family.shell
        case .shell: return family.shell.isEmpty ? daemonFix : family.shell
        }
    }

    static let macKeychain = "sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain {CA}   # the macOS store"

    private func dockerBuildFix(distro: String?) -> [String] {
        let family = distro.flatMap(DistroFamily.named) ?? .debian
        var lines = ["# 1. in the Dockerfile, right after FROM and before the first RUN that downloads",
                     "#    (or let intercept-proxy snippet --dockerfile Dockerfile --write insert it in every stage that needs it):"]
        if distro == nil {
            lines.append("#    (the log does not show the base image: this is the Debian/Ubuntu block; others: intercept-proxy snippet --distro alpine|rhel|suse|arch|distroless)")
        }
        lines += DistroSnippet.render(distro: family.names[0], format: .dockerfile)!.split(separator: "\n").map(String.init)
        let image = self.family.image.map {
            $0.replacing("{BUNDLE}", with: family.bundle).replacing("{ANCHOR}", with: family.anchorPath)
        }
        if !image.isEmpty {
            lines.append("# 2. \(self.family.name) reads its own store, not only the OS bundle; after the block:")
            lines += image
        }
        lines.append("# \(image.isEmpty ? 2 : 3). build with the root as a build argument (images built without it stay clean):")
        lines.append("docker build --build-arg \(DistroSnippet.argument)=\"$(base64 < {CA} | tr -d '\\n')\" .")
        return lines
    }

    /// A running container reads its image's store: the lasting fix goes into the image; for the
    /// container as it is, the root is mounted and the client pointed at the image's bundle.
    private var containerFix: [String] {
        let family = DistroFamily.debian
        var lines = [
            "# the client ran inside a container: exports in your shell and the host's store never reach it",
            "# lasting: the image trusts the root; fit its Dockerfile (intercept-proxy snippet --dockerfile Dockerfile --write), then build it with:",
            "docker build --build-arg \(DistroSnippet.argument)=\"$(base64 < {CA} | tr -d '\\n')\" .",
            "# now, for the image as it is (Debian or Ubuntu based, running as root): mount the root and let the image add it to its bundle at start:",
            "docker run -v {CA}:\(family.anchorDirectory)/gateway-root.crt:ro IMAGE sh -c 'update-ca-certificates && exec COMMAND'   # compose: the same under volumes: and command:",
        ]
        let settings = self.family.image.compactMap { line -> String? in
            guard line.hasPrefix("ENV ") else { return nil }
            return "-e " + line.dropFirst(4).replacing("{BUNDLE}", with: family.bundle).replacing("{ANCHOR}", with: "\(family.anchorDirectory)/gateway-root.crt")
        }
        if !settings.isEmpty {
            lines.append("# \(self.family.name) reads its own store, not only the image's bundle: also pass \(settings.joined(separator: " "))   # compose: environment:")
        }
        for run in self.family.image where run.hasPrefix("RUN ") {
            lines.append("# \(self.family.name) in the image also needs, after the block: " + run.replacing("{BUNDLE}", with: family.bundle)
                .replacing("{ANCHOR}", with: family.anchorPath))
        }
        return lines
    }

    /// The chroot's own stores get the root (the host's never reach it), then the client's setting.
    private func chrootFix(_ root: String) -> [String] {
        let root = Self.shellWord(root)
        return [
            "# the command ran in a chroot: it reads the stores under \(root), not this machine's; install the root there",
            "sudo cp {CA} \(root)/usr/local/share/ca-certificates/gateway-root.crt && sudo chroot \(root) update-ca-certificates   # Debian/Ubuntu; RHEL: \(root)/etc/pki/ca-trust/source/anchors/ and update-ca-trust",
            "# then, if the client has its own setting, set it inside the chroot (its paths as the chroot sees them):",
        ] + family.shell + [
            "intercept-proxy doctor --rootfs \(root) --ca-file {CA}   # every runtime under \(root), and whether each trusts the root",
        ]
    }

    /// A path from the pasted text as one shell word: as it is when it holds only path-safe
    /// characters, else single-quoted (the text is untrusted; the fix is copied into a shell).
    public static func shellWord(_ text: String) -> String {
        let safe = text.unicodeScalars.allSatisfy { scalar in
            (scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar))) || "._/+@:-,=".unicodeScalars.contains(scalar)
        }
        return safe && !text.isEmpty ? text : "'" + text.replacing("'", with: "'\\''") + "'"
    }

    /// The tool trusts only the CA pinned for this server: the pin gets the gateway root beside the
    /// cluster's CA, or the gateway stops inspecting that server.
    private var pinnedFix: [String] {
        [
            "# the tool trusts only the CA its own configuration pins for this server (a kubeconfig's certificate-authority(-data), a provider's cluster_ca_certificate): the OS store and SSL_CERT_FILE do not apply",
            "# the usual fix: ask IT to exempt \(hostOrPlaceholder) (the API server) from TLS inspection; a pinned connection cannot work through re-signing otherwise",
            "# or make the pin a bundle of the cluster's CA plus the gateway root (both: the direct path and the gateway's):",
            "kubectl config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' | base64 -d > cluster-ca.pem",
            "cat cluster-ca.pem {CA} > cluster-ca-and-gateway.pem",
            "kubectl config set-cluster \"$(kubectl config view --minify -o jsonpath='{.clusters[0].name}')\" --certificate-authority=cluster-ca-and-gateway.pem --embed-certs",
            "# Terraform's kubernetes and helm providers: cluster_ca_certificate = file(\"cluster-ca-and-gateway.pem\") (or the cluster data source's CA followed by the gateway root)",
        ]
    }

    private var daemonFix: [String] {
        let registry = host ?? "REGISTRY"
        return [
            "sudo cp {CA} /usr/local/share/ca-certificates/gateway-root.crt && sudo update-ca-certificates   # RHEL family: /etc/pki/ca-trust/source/anchors/ + update-ca-trust extract",
            "sudo systemctl restart docker   # dockerd reads its roots only at start",
            "# or for this registry only: sudo mkdir -p /etc/docker/certs.d/\(registry) && sudo cp {CA} /etc/docker/certs.d/\(registry)/ca.crt",
            "# a docker-container buildx builder has its own store: buildkitd.toml [registry.\"\(registry)\"] ca=[\"/etc/buildkit/gateway-root.pem\"], then recreate the builder",
        ]
    }

    /// `export NAME=VALUE   # note` as a PowerShell assignment; other lines unchanged.
    static func powerShell(_ line: String) -> String {
        guard line.hasPrefix("export "), let equals = line.firstIndex(of: "=") else { return line }
        let name = line[line.index(line.startIndex, offsetBy: 7)..<equals]
        let rest = line[line.index(after: equals)...]
        let written = rest.prefix { $0 != " " }
        let note = rest.dropFirst(written.count).trimmingWhitespace()
        let value = written.count > 1 && written.hasPrefix("\"") && written.hasSuffix("\"") ? written.dropFirst().dropLast() : written
        return "$env:\(name) = \"\(value)\"   # this session; for good: setx \(name) \"\(value)\"" + (note.isEmpty ? "" : "; " + note.dropFirst(note.hasPrefix("#") ? 1 : 0).trimmingWhitespace())
    }

    private var hostnameFix: [String] {
        [
            "# the certificate presented is for another name: no root, however trusted, fixes that",
            peek("-subject -issuer -ext subjectAltName"),
            "# run it with the same proxy settings: behind a gateway the answer is usually its block or notice page, or a host it serves with its own certificate;",
            "# ask IT to exempt \(hostOrPlaceholder) from TLS inspection (or to unblock it), and check HTTPS_PROXY / NO_PROXY and the URL's host",
        ]
    }

    private var revocationFix: [String] {
        var lines: [String]
        switch client {
        case "curl": lines = ["curl --ssl-revoke-best-effort URL   # or --ssl-no-revoke; for every call put ssl-revoke-best-effort in %APPDATA%\\_curlrc"]
        case "git": lines = ["git config --global http.schannelCheckRevoke false   # schannel then skips the revocation check the gateway breaks"]
        case "cargo": lines = ["$env:CARGO_HTTP_CHECK_REVOKE = \"false\"   # or in config.toml: [http] check-revoke = false"]
        case "r": lines = ["# in ~/.Renviron: CURL_SSL_BACKEND=openssl (R's curl then verifies with OpenSSL, without schannel's revocation check)"]
        case "dotnet":
            let assignment = context == .windows ? "$env:DOTNET_SYSTEM_NET_SECURITY_NOREVOCATIONCHECKBYDEFAULT = \"true\""
                                                 : "export DOTNET_SYSTEM_NET_SECURITY_NOREVOCATIONCHECKBYDEFAULT=true"
            lines = [assignment + "   # .NET 10 checks revocation online by default; this restores the earlier default"]
        default: lines = ["# this client has no switch for it: see the lasting fix"]
        }
        lines.append("# the lasting fix: the gateway must let its CA's CRL and OCSP URLs through, or stop re-signing this host (ask IT)")
        return lines
    }

    private var caFileFix: [String] {
        let path = configuredCAFile.map(Self.shellWord) ?? "FILE"
        if context == .container || context.id == "docker-build" {
            return [
                "# the image has no usable bundle at \(path): it lacks the ca-certificates package, or a setting names a file it does not hold",
                "# in its Dockerfile, before the client runs: RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates   (Alpine: apk add --no-cache ca-certificates)",
                "# then the gateway root as for any image: intercept-proxy snippet --dockerfile Dockerfile --write, and build with --build-arg \(DistroSnippet.argument)=\"$(base64 < {CA} | tr -d '\\n')\"",
            ]
        }
        return (caFileProblem.map { ["# \(path): \($0)"] } ?? []) + [
            "ls -l \(path)   # the bundle the client was told to use: missing, unreadable, or not PEM",
            "env | grep -iE 'CA_BUNDLE|CERT_FILE|CAINFO|CAFILE'   # a variable or config (.curlrc, php.ini, .npmrc, pip.conf) usually names it",
            "# point it at a PEM bundle that exists and holds the gateway root, e.g.:",
        ] + (context == .windows ? family.windows ?? family.shell.map(Self.powerShell) : family.shell) + [
            "# no OS bundle at all: install it first (apt-get install ca-certificates, apk add ca-certificates, dnf install ca-certificates)",
        ]
    }

    private var expiredFix: [String] {
        [
            "date -u   # a wrong clock (a VM or container after sleep) makes every certificate look expired",
            peek("-issuer -dates") + "   # which certificate expired",
            "openssl x509 -noout -dates -in {CA}   # your gateway root's validity; an expired root must be renewed by IT",
            "# an outdated OS bundle (e.g. DST Root CA X3, 2021): update the ca-certificates package",
        ]
    }

    /// No certificate setting helps: the page says who blocked what, and IT or a mirror unblocks it.
    /// pip's "(from versions: none)" is also what a missing package gets: the status tells them apart.
    private var integrityFix: [String] {
        let host = hostOrPlaceholder
        switch client {
        case "apt":
            return ["# the repository's signing key is missing or changed: a signature check, not TLS",
                    "sudo apt-get install --reinstall debian-archive-keyring   # Debian's own; Ubuntu: ubuntu-keyring; a vendor's repository: its key in /etc/apt/keyrings/ and signed-by= in its sources entry",
                    "curl -sS http://\(host)/ | head -5   # a gateway page in place of the Release file also fails the signature: ask IT to allow the repository"]
        case "pip":
            return ["# pip's --require-hashes check failed: the file that arrived is not the one the requirements pin, a gateway page or a broken cache in its place",
                    "pip download --no-deps --no-cache-dir -d /tmp/pkg PACKAGE==VERSION && file /tmp/pkg/*   # HTML or text where a wheel belongs is the gateway's: ask IT to allow \(host)",
                    "pip cache purge   # a copy broken earlier"]
        default:
            return ["# the tarball that arrived does not match the lockfile's integrity: a gateway's page or a cut download in its place, or a broken cache (the 'got' size far below the package's is a page)",
                    "npm cache clean --force   # a broken copy kept from earlier",
                    "curl -sS -o /tmp/pkg.tgz https://\(host)/PACKAGE/-/PACKAGE-VERSION.tgz && file /tmp/pkg.tgz   # HTML where gzip belongs is the gateway's: ask IT to allow the registry"]
        }
    }

    private var blockedFix: [String] {
        let site = "https://\(hostOrPlaceholder)/"
        let requirement = pipRequirement
        let curl = context == .windows ? "curl.exe" : "curl"
        var lines = [requirement == nil
            ? "# not a certificate problem: the TLS connection worked and the gateway's policy answered for \(hostOrPlaceholder); no root, bundle or certificate setting changes that"
            : "# pip found no versions: a block page holds no links, nor does an index without the package (the status below tells which); neither is a certificate problem (pip's SSL warnings would be: paste those lines)"]
        lines.append(context == .windows
            ? "\(curl) -sS \(site) | Select-Object -First 20   # with the same proxy settings: the page's title names the gateway, often the policy or category"
            : "\(curl) -sS \(site) | head   # with the same HTTPS_PROXY: the page's title names the gateway, often the policy or category")
        if let requirement {
            lines.append("\(curl) -sS -o /dev/null -w '%{http_code}\\n' \(site)simple/\(requirement)/   # \(host == nil ? "HOST: pypi.org, or the index pip is set to use; " : "")"
                         + "a 404, or a 200 with links, means no such package or version; a 403, or a 200 with a page and no links, is the gateway's")
        }
        lines.append("# ask IT to allow \(hostOrPlaceholder) (or its category) for you or the build, or use a mirror the policy allows "
                     + "(an internal Artifactory or Nexus: npm config set registry URL, pip install --index-url URL)")
        return lines
    }

    /// The project pip looked for, when the keyed line is its "(from versions: none)": `requests`
    /// from "... the requirement requests==2.0 (from versions: none)"; PACKAGE when it does not say.
    private var pipRequirement: String? {
        let text = errorLine.text
        guard text.caseInsensitiveRange(of: "(from versions: none)") != nil else { return nil }
        guard let label = text.caseInsensitiveRange(of: "the requirement ") else { return "PACKAGE" }
        let name = text[label.upperBound...].prefix { $0.isLetter || $0.isNumber || "-_.".contains($0) }
        return name.isEmpty ? "PACKAGE" : String(name)
    }

    private var nonStrictFix: [String] {
        [
            "intercept-proxy ca lint {CA}   # which verifiers refuse this root (Python 3.13, Go, rustls, Java, Apple ...), why, and what to ask IT for",
            "openssl s_client -showcerts -connect HOST:443 < /dev/null > chain.txt; intercept-proxy ca lint chain.txt   # the same for the intermediates the gateway sends",
            "openssl verify -x509_strict -CAfile {CA} {CA}   # names the RFC 5280 rule the root breaks",
            "# the lasting fix: the root is reissued with critical basicConstraints, keyUsage keyCertSign and key identifiers (IT or the gateway vendor)",
            "# Python 3.13+ sets VERIFY_X509_STRICT by default; until the root is fixed, in code you own:",
            "#   ctx = ssl.create_default_context(); ctx.load_verify_locations(\"{CA}\"); ctx.verify_flags &= ~ssl.VERIFY_X509_STRICT",
        ]
    }
}

extension ErrorExplanation.Context.VirtualMachine {
    func fix(host: String?) -> [String] {
        let keychain = ErrorExplanation.macKeychain
        let windowsStore = ClientFamily.windowsStore[0]
        switch self {
        case .colima:
            return ["mkdir -p ~/.docker/certs.d/\(host ?? "REGISTRY") && cp {CA} ~/.docker/certs.d/\(host ?? "REGISTRY")/ca.crt   # colima copies ~/.docker/certs.d into the VM at start",
                    "colima ssh -- sudo sh -c 'cat > /usr/local/share/ca-certificates/gateway-root.crt && update-ca-certificates' < {CA}   # the VM's own store (all registries)",
                    "colima restart   # dockerd in the VM reads its roots only at start"]
        case .podmanMachine:
            return ["podman machine ssh \"sudo tee /etc/pki/ca-trust/source/anchors/gateway-root.pem >/dev/null\" < {CA}",
                    "podman machine ssh \"sudo update-ca-trust extract\"   # the VM's store; podman reads it at the next pull, no restart"]
        case .dockerDesktopMac:
            return [keychain, "# then restart Docker Desktop: it copies the macOS store's roots into its VM at start"]
        case .dockerDesktopWindows:
            return [windowsStore, "# then restart Docker Desktop: it copies the Windows store's roots into its VM at start"]
        case .dockerDesktop:
            return ["# macOS:   " + keychain, "# Windows: " + windowsStore,
                    "# then restart Docker Desktop: it copies the host store's roots into its VM at start"]
        case .orbstack:
            return [keychain, "# then restart OrbStack: it reads the macOS store's roots at start"]
        case .rancherDesktop:
            return ["# macOS: " + keychain, "# Windows: " + windowsStore, "# then restart Rancher Desktop: it copies the host store into its VM"]
        case .lima:
            return ["limactl shell default sudo sh -c 'cat > /usr/local/share/ca-certificates/gateway-root.crt && update-ca-certificates' < {CA}",
                    "limactl shell default sudo systemctl restart docker containerd   # the engines in the VM read roots at start"]
        }
    }
}
