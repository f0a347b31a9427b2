import Foundation
import Testing
import TestSupport

/// The CI service recipes in examples/ci cannot run here (no Docker, GitHub, GitLab or cluster), so
/// they are parsed (PyYAML) and compared with image/Containerfile by examples/ci/check_recipes.py.
@Suite struct CIRecipeTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    private func check(_ root: URL) throws -> ProcessResult {
        try run("python3", [Self.root.appendingPathComponent("examples/ci/check_recipes.py").path, root.path])
    }

    @Test func everyRecipeMatchesTheImage() throws {
        let result = try check(Self.root)
        #expect(result.status == 0 && result.stdout.hasSuffix("35 checks, 0 problems\n"), "\(result)")
    }

    /// The checker is not a rubber stamp: a recipe drifting from the image is reported.
    @Test func aRecipeThatDriftsIsReported() throws {
        let scratch = try TemporaryDirectory()
        let copy = scratch.url.appendingPathComponent("repo")
        for part in ["image", "examples", "Sources/intercept-proxy", "docs"] {
            try FileManager.default.createDirectory(at: copy.appendingPathComponent(part).deletingLastPathComponent(), withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: Self.root.appendingPathComponent(part), to: copy.appendingPathComponent(part))
        }
        let compose = copy.appendingPathComponent("examples/ci/compose.yaml")
        let text = try String(contentsOf: compose, encoding: .utf8)
        try text.replacingOccurrences(of: "\"127.0.0.1:8081:8081\"", with: "\"127.0.0.1:9091:9091\"").write(to: compose, atomically: true, encoding: .utf8)
        let containerfile = copy.appendingPathComponent("image/Containerfile")
        let image = try String(contentsOf: containerfile, encoding: .utf8)
        try image.replacingOccurrences(of: "USER 65532:65532", with: "USER 1000:1000").write(to: containerfile, atomically: true, encoding: .utf8)
        let result = try check(copy)
        #expect(result.status == 1, "\(result)")
        #expect(result.stdout.contains("PROBLEM compose: ports: ['127.0.0.1:8080:8080', '127.0.0.1:9091:9091']"), "\(result)")
        #expect(result.stdout.contains("PROBLEM kubernetes: non-root user:"), "\(result)")
        #expect(result.stdout.hasSuffix("35 checks, 2 problems\n"), "\(result)")
    }
}
