// The targets reach internal parsers (@testable): a debug or fuzzing build only (see FuzzEntry.swift).
#if DEBUG || FUZZING
@testable import TrustStoreGuide

/// `snippet --dockerfile`: any text as a Dockerfile (first byte: which --distro override, if any).
enum DockerfileTarget {
    static let overrides: [String?] = [nil, "debian", "alpine", "rhel", "distroless", "gentoo"]

    static func run(_ data: [UInt8]) {
        guard let first = data.first else { return }
        let text = String(decoding: data.dropFirst(), as: UTF8.self)
        let distro = overrides[Int(first) % overrides.count]
        guard let rewrite = try? DockerfileRewriter.rewrite(text, distro: distro) else { return }
        _ = UnifiedDiff.render(rewrite.insertions, original: text, path: "Dockerfile")
        // Only insertions: taking the inserted lines out gives the original lines back.
        let original = try! Dockerfile(text: text).lines
        var rewritten = Dockerfile.lines(of: rewrite.rewritten)
        // `after` counts original lines: in the rewritten text a block also sits below every block
        // inserted above it, so take them out from the last one up.
        let sorted = rewrite.insertions.sorted { $0.after < $1.after }
        for (index, insertion) in sorted.enumerated().reversed() {
            let shift = sorted[..<index].reduce(0) { $0 + $1.lines.count }
            let start = insertion.after + 1 + shift
            rewritten.removeSubrange(start..<(start + insertion.lines.count))
        }
        precondition(rewritten == original, "the rewrite changed a line of the original")
        // A second run finds every block it wrote.
        let again = try! DockerfileRewriter.rewrite(rewrite.rewritten, distro: distro)
        precondition(!again.changed, "the rewrite is not idempotent")
    }
}
#endif
