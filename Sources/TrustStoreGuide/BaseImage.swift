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

    /// Runtimes that read a store of their own rather than the OS bundle.
    public enum Runtime: String, Sendable, CaseIterable {
        case python, node, java
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

    private static func runtimes(names: [String]) -> Set<Runtime> {
        guard let last = names.last else { return [] }
        switch last {
        case "python": return [.python]
        case "node": return [.node]
        case "eclipse-temurin", "openjdk", "maven", "gradle": return [.java]
        default: return []
        }
    }

    /// Runtimes a stage's commands use, whatever its base: `pip install`, `npm ci`, `mvn package` ...
    public static func runtimes(inCommand command: String) -> Set<Runtime> {
        let words = Set(command.split(whereSeparator: { !$0.isLetter && !$0.isNumber && $0 != "-" && $0 != "_" }).map { $0.lowercased() })
        var result: Set<Runtime> = []
        if !words.isDisjoint(with: ["pip", "pip3", "pipenv", "poetry", "requests"]) { result.insert(.python) }
        if !words.isDisjoint(with: ["npm", "npx", "yarn", "pnpm", "node"]) { result.insert(.node) }
        if !words.isDisjoint(with: ["mvn", "mvnw", "gradle", "gradlew", "java", "keytool"]) { result.insert(.java) }
        return result
    }
}
