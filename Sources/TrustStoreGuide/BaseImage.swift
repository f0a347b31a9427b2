import FoundationEssentials

/// What a base image's name says about where its trust store lives and which runtimes read their own.
public struct BaseImage: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// A distribution with a shell and an update tool.
        case distro(DistroFamily)
        /// No shell, no update tool: a stage on it can only copy.
        case distroless
        /// `FROM scratch`: nothing at all.
        case scratch
        /// A name this tool does not know: reported, never guessed.
        case unknown
    }

    /// Clients that read a store of their own (or a setting) rather than the OS bundle alone.
    public enum Runtime: String, Sendable, CaseIterable, Comparable {
        case python, uv, conda, node, deno, java, rust, dotnet, aws

        public static func < (left: Runtime, right: Runtime) -> Bool {
            allCases.firstIndex(of: left)! < allCases.firstIndex(of: right)!
        }
    }

    public let reference: String
    /// The repository path without registry host, tag or digest: `library/python`, `distroless/static-debian12`.
    public let repository: String
    public let tag: String
    public let kind: Kind
    public let runtimes: Set<Runtime>

    public init(_ reference: String) {
        self.reference = reference
        var name = Substring(reference.lowercased())
        if let at = name.firstIndex(of: "@") { name = name[..<at] }
        var components = name.split(separator: "/")
        // A first component with a dot, a port or `localhost` is a registry host, not part of the name.
        if components.count > 1, let host = components.first, host.contains(".") || host.contains(":") || host == "localhost" {
            components.removeFirst()
        }
        var tag = ""
        if let last = components.last, let colon = last.lastIndex(of: ":") {
            tag = String(last[last.index(after: colon)...])
            components[components.count - 1] = last[..<colon]
        }
        repository = components.joined(separator: "/")
        self.tag = tag
        let names = components.map(String.init)
        kind = Self.kind(names: names, tag: tag)
        runtimes = Self.runtimes(names: names)
    }

    /// Official images named after a runtime (python, node, eclipse-temurin, golang ...) are Debian or
    /// Ubuntu underneath unless the tag says alpine or ubi.
    private static let debianBasedRuntimes: Set<String> = [
        "python", "node", "eclipse-temurin", "openjdk", "golang", "maven", "gradle", "ruby", "rust", "buildpack-deps",
        "bun", "deno", "miniconda3", "miniforge3", "micromamba",
    ]
    private static let families: [(names: Set<String>, family: String)] = [
        (["debian", "ubuntu"], "debian"),
        (["alpine"], "alpine"),
        (["ubi", "ubi-minimal", "ubi-micro", "ubi8", "ubi9", "ubi10", "rockylinux", "almalinux", "fedora", "centos", "amazonlinux", "rhel"], "rhel"),
        (["opensuse", "leap", "tumbleweed", "suse", "sles", "bci-base"], "suse"),
        (["archlinux", "arch"], "arch"),
    ]

    private static func kind(names: [String], tag: String) -> Kind {
        if names == ["scratch"] { return .scratch }
        if names.contains(where: { $0.contains("distroless") }) { return .distroless }
        // The last component names the image; earlier ones (ubi9/ubi-minimal, opensuse/leap) its family.
        for name in names.reversed() {
            if let match = families.first(where: { $0.names.contains(name) }) { return .distro(DistroFamily.named(match.family)!) }
            if debianBasedRuntimes.contains(name) {
                if tag.contains("alpine") { return .distro(.alpine) }
                if tag.contains("ubi") { return .distro(.rhel) }
                return .distro(.debian)
            }
        }
        return .unknown
    }

    /// The runtime an image's name says it carries (`python`, `oven/bun`, `ghcr.io/astral-sh/uv`,
    /// `mcr.microsoft.com/dotnet/sdk`): as a base, or as the source of a `COPY --from`.
    static func runtimes(names: [String]) -> Set<Runtime> {
        guard let last = names.last else { return [] }
        if names.contains("dotnet") { return [.dotnet] }
        switch last {
        case "python", "pypy": return [.python]
        case "uv": return [.uv]
        case "miniconda3", "miniforge3", "micromamba", "anaconda3", "mambaforge": return [.conda]
        case "node", "bun": return [.node]
        case "deno": return [.deno]
        case "eclipse-temurin", "openjdk", "maven", "gradle", "amazoncorretto", "sbt": return [.java]
        case "rust": return [.rust]
        case "aws-cli": return [.aws]
        default: return []
        }
    }

    /// The words of a command that name each client; a word is a run of letters, digits, `-` and `_`.
    private static let commandWords: [(Runtime, Set<String>)] = [
        (.python, ["pip", "pip3", "pipenv", "poetry", "requests", "pdm", "hatch"]),
        (.uv, ["uv", "uvx"]),
        (.conda, ["conda", "mamba", "micromamba"]),
        (.node, ["npm", "npx", "yarn", "pnpm", "node", "bun", "bunx"]),
        (.deno, ["deno"]),
        (.java, ["mvn", "mvnw", "gradle", "gradlew", "java", "keytool", "sbt"]),
        (.rust, ["cargo", "rustup"]),
        (.dotnet, ["dotnet"]),
        (.aws, ["aws"]),
    ]

    /// Runtimes a stage's commands use, whatever its base: `pip install`, `npm ci`, `uv sync`, `mvn package` ...
    public static func runtimes(inCommand command: String) -> Set<Runtime> {
        let words = Set(command.split(whereSeparator: { !$0.isLetter && !$0.isNumber && $0 != "-" && $0 != "_" }).map { $0.lowercased() })
        return Set(commandWords.filter { !words.isDisjoint(with: $0.1) }.map(\.0))
    }

    /// Runtimes a `COPY --from=IMAGE ...` brings into a stage (uv's binary from its image, say);
    /// a `--from` naming an earlier stage brings what that stage had, which its own block covers.
    public static func runtimes(inCopy arguments: String, stageNames: Set<String>) -> Set<Runtime> {
        let words = arguments.split(separator: " ").map(String.init)
        guard let from = words.first(where: { $0.hasPrefix("--from=") }).map({ String($0.dropFirst("--from=".count)) }),
              !stageNames.contains(from.lowercased()), Int(from) == nil else { return [] }
        let copied = words.filter { !$0.hasPrefix("--") }.dropLast().map { URL(fileURLWithPath: $0).lastPathComponent.lowercased() }
        var result = BaseImage(from).runtimes
        result.formUnion(runtimes(inCommand: copied.joined(separator: " ")))
        return result
    }
}
