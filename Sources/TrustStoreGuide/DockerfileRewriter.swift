import FoundationEssentials

/// The result of fitting a user's Dockerfile with the gated CA block: the new text, one note per
/// stage saying what was done and why, and whether a stage was left without a fix it needs.
public struct DockerfileRewrite: Sendable {
    public let original: String
    public let rewritten: String
    public let notes: [String]
    /// True when a stage runs commands but its base could not be placed in a family (or has no shell).
    public let unresolved: Bool
    public let insertions: [UnifiedDiff.Insertion]

    public var changed: Bool { !insertions.isEmpty }
}

/// Inserts the gated block from `snippet --distro` right after FROM in every stage that runs
/// commands, plus the variables for runtimes that read their own store. Copy-only stages are left
/// alone (the final image then ships no proxy CA); a stage that already declares the block's
/// build argument (`ARG PROXY_CA_B64`, ours or pasted by hand) is skipped, so running it twice
/// changes nothing.
public enum DockerfileRewriter {
    public static func rewrite(_ text: String, distro override: String? = nil) throws -> DockerfileRewrite {
        let dockerfile = try Dockerfile(text: text)
        var notes: [String] = []
        let crlf = dockerfile.lines.first?.hasSuffix("\r") == true
        var insertions: [UnifiedDiff.Insertion] = []
        var unresolved = false
        var trusted: [Int: Bool] = [:]
        var kinds: [Int: BaseImage.Kind] = [:]
        let stageNames = Set(dockerfile.stages.compactMap { $0.name?.lowercased() })
        let overrideKind: BaseImage.Kind? = override.map {
            $0.lowercased() == "distroless" ? .distroless : DistroFamily.named($0).map(BaseImage.Kind.distro) ?? .unknown
        }

        for stage in dockerfile.stages {
            let parent = dockerfile.stage(named: stage.image, before: stage.index)
            let kind = parent.flatMap { kinds[$0.index] } ?? overrideKind ?? BaseImage(stage.image).kind
            kinds[stage.index] = kind
            if stage.instructions.contains(where: { $0.keyword == "ARG" && $0.arguments.hasPrefix(DistroSnippet.argument) }) {
                trusted[stage.index] = true
                notes.append("\(stage.label) FROM \(stage.image): already declares ARG \(DistroSnippet.argument) (the intercept-proxy block), unchanged")
                continue
            }
            guard stage.runsCommands else {
                notes.append("\(stage.label) FROM \(stage.image): only copies (no RUN), left alone: no proxy CA is shipped in it")
                continue
            }
            if let parent, trusted[parent.index] == true {
                trusted[stage.index] = true
                notes.append("\(stage.label) FROM \(stage.image): inherits the CA from \(parent.label), unchanged")
                continue
            }
            switch kind {
            case .distro(let family):
                var runtimes = parent == nil ? BaseImage(stage.image).runtimes : []
                for instruction in stage.instructions {
                    if instruction.keyword == "RUN" { runtimes.formUnion(BaseImage.runtimes(inCommand: instruction.arguments)) }
                    if instruction.keyword == "COPY" { runtimes.formUnion(BaseImage.runtimes(inCopy: instruction.arguments, stageNames: stageNames)) }
                }
                let lines = block(family: family, runtimes: runtimes).map { crlf ? $0 + "\r" : $0 }
                insertions.append(UnifiedDiff.Insertion(after: stage.from.lastLine, lines: lines))
                trusted[stage.index] = true
                let needing = runtimes.filter { $0 != .dotnet }  // .NET reads the OS store the block fills
                let extra = needing.isEmpty ? "" : " and the variables for " + needing.map(\.rawValue).sorted().joined(separator: ", ")
                notes.append("\(stage.label) FROM \(stage.image): \(family.names[0]) family, block inserted after line \(stage.from.lastLine + 1)\(extra)")
            case .distroless, .scratch:
                unresolved = true
                notes.append("\(stage.label) FROM \(stage.image): runs commands on an image without a shell or update tool; build the bundle in a Debian stage and copy it (intercept-proxy snippet --distro distroless)")
            case .unknown:
                unresolved = true
                let why = stage.imageIsUnresolved ? "its name depends on a build argument without a default" : "this base image is not one this tool knows"
                notes.append("\(stage.label) FROM \(stage.image): \(why); pass --distro (\(DistroFamily.allNames.joined(separator: ", "))) to say which family it is")
            }
        }
        let rewritten = UnifiedDiff.apply(insertions, to: dockerfile.lines)
        return DockerfileRewrite(original: text, rewritten: rewritten, notes: notes, unresolved: unresolved, insertions: insertions)
    }

    /// The `snippet --distro` block, then what the stage's runtimes need beyond the OS bundle. Every
    /// setting names the OS bundle, which the block has given the root (and which keeps the public
    /// roots, with or without the build argument): they add to what the clients trust.
    static func block(family: DistroFamily, runtimes: Set<BaseImage.Runtime>) -> [String] {
        var text = DistroSnippet.render(distro: family.names[0], format: .dockerfile)!
        if runtimes.contains(.java) {
            text += """
                # intercept-proxy: Java reads its own cacerts, not the OS bundle: import the CA there too.
                RUN if [ -n "$\(DistroSnippet.argument)" ] && command -v keytool >/dev/null 2>&1; then \\
                      keytool -importcert -noprompt -alias intercept-proxy -file \(family.anchorPath) -cacerts -storepass changeit; \\
                    fi

                """
        }
        var set: Set<String> = []
        for runtime in runtimes.sorted() {
            guard let (why, assignments) = environment(for: runtime, family: family) else { continue }
            let fresh = assignments.filter { set.insert($0.0).inserted }
            guard !fresh.isEmpty else { continue }
            text += "# intercept-proxy: \(why)\nENV " + fresh.map { "\($0.0)=\($0.1)" }.joined(separator: " ") + "\n\n"
        }
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
    }

    /// The variables a client needs to read the OS bundle, and why; nil when it reads it anyway.
    private static func environment(for runtime: BaseImage.Runtime, family: DistroFamily) -> (String, [(String, String)])? {
        let bundle = family.bundle
        switch runtime {
        case .python: return ("pip and requests may read certifi instead of the OS bundle: point them at it.",
                              [("PIP_CERT", bundle), ("REQUESTS_CA_BUNDLE", bundle)])
        case .uv: return ("uv reads its bundled roots, not the OS bundle: point it at the bundle.", [("SSL_CERT_FILE", bundle)])
        case .conda: return ("conda reads certifi unless ssl_verify names a bundle.", [("CONDA_SSL_VERIFY", bundle), ("REQUESTS_CA_BUNDLE", bundle)])
        case .node: return ("node, npm and bun read their bundled roots, not the OS bundle: add it.", [("NODE_EXTRA_CA_CERTS", bundle)])
        case .deno: return ("deno reads its bundled roots: add the OS store.", [("DENO_TLS_CA_STORE", "system,mozilla")])
        case .rust: return ("cargo's libcurl and rustup read their own roots: point them at the bundle.",
                            [("CARGO_HTTP_CAINFO", bundle), ("SSL_CERT_FILE", bundle)])
        case .aws: return ("the AWS CLI reads its own bundle: point it at the OS bundle.", [("AWS_CA_BUNDLE", bundle)])
        case .java, .dotnet: return nil  // cacerts above; .NET reads the OS store
        }
    }
}

/// Unified diffs of pure insertions (all the rewriter makes), with three lines of context.
public enum UnifiedDiff {
    public struct Insertion: Sendable, Equatable {
        /// The 0-based original line after which the new lines go.
        public let after: Int
        public let lines: [String]
    }

    /// The lines with the insertions made, joined back with the original's final newline.
    static func apply(_ insertions: [Insertion], to lines: [String]) -> String {
        var result: [String] = []
        for (index, line) in lines.enumerated() {
            result.append(line)
            for insertion in insertions where insertion.after == index { result += insertion.lines }
        }
        return result.joined(separator: "\n")
    }

    public static func render(_ insertions: [Insertion], original text: String, path: String, context: Int = 3) -> String {
        var lines = Dockerfile.lines(of: text)
        if Dockerfile.endsWithNewline(text) { lines.removeLast() }
        let sorted = insertions.sorted { $0.after < $1.after }
        guard !sorted.isEmpty else { return "" }
        // Hunks as original line ranges [start, end), merged where their context touches.
        var hunks: [(start: Int, end: Int, insertions: [Insertion])] = []
        for insertion in sorted {
            let start = max(0, insertion.after + 1 - context), end = min(lines.count, insertion.after + 1 + context)
            if let last = hunks.last, start <= last.end {
                hunks[hunks.count - 1] = (last.start, max(last.end, end), last.insertions + [insertion])
            } else {
                hunks.append((start, end, [insertion]))
            }
        }
        var output = "--- a/\(path)\n+++ b/\(path)\n"
        var addedBefore = 0
        for hunk in hunks {
            let added = hunk.insertions.reduce(0) { $0 + $1.lines.count }
            let oldCount = hunk.end - hunk.start
            output += "@@ -\(range(hunk.start, oldCount)) +\(range(hunk.start + addedBefore, oldCount + added)) @@\n"
            for index in hunk.start...hunk.end {
                for insertion in hunk.insertions where insertion.after + 1 == index { output += insertion.lines.map { "+\($0)\n" }.joined() }
                guard index < hunk.end else { continue }
                output += " \(lines[index])\n"
                if index == lines.count - 1, !Dockerfile.endsWithNewline(text) { output += "\\ No newline at end of file\n" }
            }
            addedBefore += added
        }
        return output
    }

    /// `start,count` in 1-based numbering; an empty range names the line before it.
    private static func range(_ start: Int, _ count: Int) -> String {
        count == 0 ? "\(start),0" : "\(start + 1),\(count)"
    }
}
