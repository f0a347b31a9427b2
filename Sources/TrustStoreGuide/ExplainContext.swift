extension ErrorExplanation {
    /// Where the failing client ran, which decides where the fix goes.
    public enum Context: Sendable, Equatable {
        /// A Linux (or unidentified) shell.
        case shell
        case macOS
        case windows
        /// A `RUN` step of an image build: the fix goes into the Dockerfile. The distro family
        /// of the base image when the log tells it.
        case dockerBuild(distro: String?)
        /// dockerd (or BuildKit) itself pulling or pushing on a Linux host.
        case dockerDaemon
        /// The container engine runs inside a VM the host shell's settings never reach.
        case virtualMachine(VirtualMachine)
        /// A running container (docker run, compose, kubectl logs): the image's store, not the host's.
        case container
        /// The client trusts only the CA its own configuration pins for this server (a kubeconfig's
        /// certificate-authority, a Terraform provider's cluster_ca_certificate): no store applies.
        case pinnedCA
        /// A command run under chroot (or arch-chroot, schroot): the chroot's stores, not the host's.
        /// Its root directory when the command line shows it.
        case chroot(root: String?)

        public enum VirtualMachine: String, Sendable {
            case colima, podmanMachine = "podman-machine", dockerDesktop = "docker-desktop", dockerDesktopMac = "docker-desktop-mac"
            case dockerDesktopWindows = "docker-desktop-windows", orbstack, rancherDesktop = "rancher-desktop", lima
        }

        /// A short stable name: shell, macos, windows, docker-build, daemon, vm:<name>.
        public var id: String {
            switch self {
            case .shell: return "shell"
            case .macOS: return "macos"
            case .windows: return "windows"
            case .dockerBuild: return "docker-build"
            case .dockerDaemon: return "daemon"
            case let .virtualMachine(machine): return "vm:\(machine.rawValue)"
            case .container: return "container"
            case .pinnedCA: return "pinned"
            case .chroot: return "chroot"
            }
        }

        public var summary: String {
            switch self {
            case .shell: return "your shell (Linux, or the log does not say)"
            case .macOS: return "your shell on macOS"
            case .windows: return "Windows"
            case let .dockerBuild(distro):
                return "a docker build step (\(distro.map { "\($0) base image" } ?? "base image family not in the log")): the fix goes into the Dockerfile; exports in your shell never reach the build"
            case .dockerDaemon: return "the Docker daemon (dockerd/BuildKit pulling or pushing): it reads the OS store and certs.d, only at start"
            case let .virtualMachine(machine):
                return "\(machine.displayName): the engine runs in a VM, so the root goes inside the VM (or the host store it copies), not into your shell"
            case .container:
                return "a running container (docker run, compose, kubectl logs): the client reads the image's store; your shell's exports and the host's store never reach it"
            case .pinnedCA:
                return "a connection whose CA the tool's own configuration pins (a kubeconfig's certificate-authority, a provider's cluster CA): no store or variable applies, only that pin"
            case let .chroot(root):
                return "a chroot (\(root ?? "its root directory is not in the log")): the client reads the chroot's stores, not this machine's"
            }
        }

        static func detect(in text: ExplainText, client: String) -> Context {
            if client == "docker" || client == "podman" {
                if let machine = VirtualMachine.detect(in: text, client: client) { return .virtualMachine(machine) }
                return client == "docker" ? .dockerDaemon : hostOS(text)
            }
            if isDockerBuild(text) { return .dockerBuild(distro: distro(in: text)) }
            if isPinned(text, client: client) { return .pinnedCA }
            if isContainerRun(text) { return .container }
            if let root = chrootRoot(in: text) { return .chroot(root: root.isEmpty ? nil : root) }
            return hostOS(text)
        }

        /// The directory of a `chroot DIR CMD` command line (also `sudo chroot`, `arch-chroot DIR`;
        /// `schroot -c NAME` gives "", a chroot whose directory the line does not show); nil when
        /// no line runs one. A line counts only as a command: the word after the options must be
        /// a path, so "chroot environment ready" in a log is not one.
        static func chrootRoot(in text: ExplainText) -> String? {
            for line in text.lines {
                // Only the first words matter; a long line is not split whole.
                var words = line.prefix(4096).split(maxSplits: 12, omittingEmptySubsequences: true, whereSeparator: \.isWhitespace)
                if words.count > 12 { words.removeLast() }  // the unsplit rest
                var index = 0
                while index < words.count, ["$", "#", "+", ">", "sudo", "exec"].contains(words[index]) || words[index].hasSuffix("$") || words[index].hasSuffix("#") {
                    index += 1
                }
                guard index < words.count, ["chroot", "arch-chroot", "schroot"].contains(words[index]) else { continue }
                let command = words[index]
                index += 1
                if command == "schroot" {
                    if index < words.count, ["-c", "--chroot"].contains(words[index]) || words[index].hasPrefix("--chroot=") { return "" }
                    continue
                }
                // chroot's --userspec and --groups and arch-chroot's -u take a value.
                while index < words.count, words[index].hasPrefix("-") {
                    index += ["--userspec", "--groups", "-u"].contains(words[index]) ? 2 : 1
                }
                guard index < words.count, let first = words[index].first, "/.~".contains(first) else { continue }
                return String(words[index].unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7F }.prefix(200).map(Character.init))
            }
            return nil
        }

        /// kubectl's API server connection (kubeconfigs carry the cluster's CA), or a text that names the pin.
        static func isPinned(_ text: ExplainText, client: String) -> Bool {
            if client == "kubectl", text.contains("unable to connect to the server") || text.contains(".kube/config") { return true }
            if client == "kubernetes" { return true }
            // The text names the pin, or the request went to a Kubernetes API server (whose CA a kubeconfig or provider pins).
            return ["certificate-authority", "certificate_authority", "cluster_ca_certificate", "kubernetes cluster unreachable", "kubeconfig",
                    "kubernetes.default.svc", "/api/v1/namespaces", ".eks.amazonaws.com/api", "resource \"kubernetes_", "resource \"helm_release"]
                .contains { text.contains($0) }
        }

        /// `docker run`, compose's `service-1  |` lines, kubectl logs, and paths of an image's user.
        static func isContainerRun(_ text: ExplainText) -> Bool {
            if ["docker run ", "docker exec ", "docker container run ", "docker container exec ", "podman run ", "podman exec ", "nerdctl run ",
                "docker compose ", "docker-compose ", "kubectl logs", "kubectl exec", "docker logs ", "/root/.npm/", "/usr/src/app/", "/home/node/",
                "{\"log\":\""].contains(where: { text.contains($0) }) {
                return true
            }
            return text.lines.contains(where: isComposeLogLine)
        }

        /// `web-1  | ...` or `app_1  | ...`: a compose service's log prefix.
        private static func isComposeLogLine(_ line: Substring) -> Bool {
            let name = line.prefix { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }
            guard let separator = name.lastIndex(where: { $0 == "-" || $0 == "_" }), name[name.index(after: separator)...].allSatisfy(\.isNumber),
                  name.index(after: separator) < name.endIndex else { return false }
            let rest = line.dropFirst(name.count)
            let spaces = rest.prefix { $0 == " " }
            return !spaces.isEmpty && rest.dropFirst(spaces.count).first == "|"
        }

        private static func hostOS(_ text: ExplainText) -> Context {
            if isWindows(text) { return .windows }
            if isMacOS(text) { return .macOS }
            return .shell
        }

        static func isWindows(_ text: ExplainText) -> Bool {
            text.containsDrivePath() || [
                "schannel", "\\appdata\\", "\\users\\", "ps c:", ".exe", "win32", "win-64", "pc-windows", "windows_nt",
                "-2146762487", "sec_e_", "crypt_e_", "powershell", "windows 10", "windows 11",
            ].contains { text.contains($0) }
        }

        static func isMacOS(_ text: ExplainText) -> Bool {
            text.containsPathStart("/users/") || text.containsPathStart("/library/")
                || ["darwin", "macos", "mac os", "homebrew", "apple silicon", "keychain", "osx", "python.framework",
                    "\u{201D} certificate is not trusted"].contains { text.contains($0) }  // Go on macOS: x509: “NAME” certificate is not trusted
        }

        /// BuildKit's plain progress (`#14 2.31 ...`, `> [stage 2/3] RUN ...`), the legacy
        /// builder's `Step 50/59 : RUN`, or buildah/podman build's `STEP 2/3: RUN ...` and
        /// `Error: building at STEP "RUN ...": while running runtime: exit status 60`.
        static func isDockerBuild(_ text: ExplainText) -> Bool {
            if ["executor failed running", "did not complete successfully", "returned a non-zero code", "---> running in", "] run ",
                "building at step \""]
                .contains(where: { text.contains($0) }) { return true }
            if text.contains("step "), text.contains(" : run ") { return true }
            return text.lines.contains { isBuildKitStepLine($0) || isBuildahStepLine($0) }
        }

        /// `STEP 2/3: RUN ...`, as buildah (and podman build) prints each instruction.
        private static func isBuildahStepLine(_ line: Substring) -> Bool {
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            // Any case: explain's classification must not depend on it (the explain fuzz target checks).
            guard trimmed.prefix(5).uppercased() == "STEP " else { return false }
            let numbers = trimmed.dropFirst(5).prefix { ($0.isASCII && $0.isNumber) || $0 == "/" }
            return numbers.contains("/") && numbers.first != "/" && trimmed.dropFirst(5 + numbers.count).hasPrefix(": ")
        }

        /// `#<step> <seconds> ...`, as BuildKit prints each line of a RUN step.
        private static func isBuildKitStepLine(_ line: Substring) -> Bool {
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            guard trimmed.first == "#" else { return false }
            let afterHash = trimmed.dropFirst()
            let step = afterHash.prefix { $0.isASCII && $0.isNumber }
            guard !step.isEmpty, afterHash.dropFirst(step.count).first == " " else { return false }
            return afterHash.dropFirst(step.count + 1).first.map { $0.isASCII && $0.isNumber } ?? false
        }

        /// The base image's distro family, from the package manager or image name the log shows.
        static func distro(in text: ExplainText) -> String? {
            let families: [(String, [String])] = [
                ("alpine", ["apk add", "apk update", "apkindex", "alpine"]),
                ("rhel", ["dnf ", "yum ", "microdnf", "ubi8", "ubi9", "rhel", "fedora", "centos", "amazonlinux", "rockylinux", "almalinux"]),
                ("suse", ["zypper", "opensuse", "sles"]),
                ("arch", ["pacman ", "archlinux"]),
                ("debian", ["apt-get", "apt install", "debian", "ubuntu", "bookworm", "bullseye", "jammy", "focal", "noble", "-slim", "dpkg",
                            "dotnet/sdk", "golang:", "python:", "node:", "openjdk", "temurin", "maven:", "gradle:"]),
            ]
            return families.first { _, needles in needles.contains { text.contains($0) } }?.0
        }
    }
}

extension ErrorExplanation.Context.VirtualMachine {
    var displayName: String {
        switch self {
        case .colima: return "Colima"
        case .podmanMachine: return "podman machine"
        case .dockerDesktop: return "Docker Desktop"
        case .dockerDesktopMac: return "Docker Desktop (macOS)"
        case .dockerDesktopWindows: return "Docker Desktop (Windows)"
        case .orbstack: return "OrbStack"
        case .rancherDesktop: return "Rancher Desktop"
        case .lima: return "Lima"
        }
    }

    /// A named VM product, else Docker Desktop when the docker CLI runs on Windows or macOS
    /// (dockerd cannot run there natively); podman on macOS and Windows means podman machine.
    static func detect(in text: ExplainText, client: String) -> Self? {
        let named: [(Self, [String])] = [
            (.colima, ["colima"]), (.podmanMachine, ["podman machine", "podman-machine"]), (.orbstack, ["orbstack"]),
            (.rancherDesktop, ["rancher desktop", "rancher-desktop", "rdctl"]), (.lima, ["limactl", "lima-"]),
        ]
        if let machine = named.first(where: { _, needles in needles.contains { text.contains($0) } })?.0 { return machine }
        let desktop = ["docker desktop", "desktop-linux", "docker for mac", "docker for windows", "docker-desktop"].contains { text.contains($0) }
        let windows = ErrorExplanation.Context.isWindows(text), mac = ErrorExplanation.Context.isMacOS(text)
        if client == "podman" { return windows || mac ? .podmanMachine : nil }
        if windows { return .dockerDesktopWindows }
        if mac { return .dockerDesktopMac }
        if desktop { return .dockerDesktop }
        return nil
    }
}
