import ArgumentParser
import FoundationEssentials
import EssentialsSupport
import TrustStoreGuide

/// `snippet --dockerfile PATH [--write]`: the rewrite as a unified diff on stdout (or written in
/// place), and one line per stage on stderr saying what was done to it and why.
struct DockerfileSnippet {
    let path: String
    let distro: String?
    let write: Bool

    /// Dockerfiles are a few KiB; anything past this is not one (and is not read whole).
    static let maximumSize = 1 << 20

    func run() throws {
        let text: String
        do {
            let size = FileStatus(path: path)?.size ?? 0
            guard size <= Self.maximumSize else { throw ValidationError("\(path) is larger than 1 MiB: not a Dockerfile this tool rewrites") }
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch let error as ValidationError {
            throw error
        } catch {
            throw ValidationError("cannot read the Dockerfile at \(path): \(error)")
        }
        let rewrite: DockerfileRewrite
        do { rewrite = try DockerfileRewriter.rewrite(text, distro: distro) } catch let error as Dockerfile.ParseError {
            throw ValidationError("\(path): \(error.description)")
        }
        for note in rewrite.notes { Terminal.note("# \(note)") }
        if !rewrite.changed {
            Terminal.note("# \(path): nothing to change")
        } else if write {
            try Data(rewrite.rewritten.utf8).write(to: URL(fileURLWithPath: path))
            Terminal.note("# wrote \(path); build with: --build-arg \(DistroSnippet.argument)=\"$(intercept-proxy ca export --format base64)\"")
        } else {
            print(UnifiedDiff.render(rewrite.insertions, original: text, path: path), terminator: "")
        }
        if rewrite.unresolved {
            Terminal.error("a stage that runs commands was left without the block (see above)")
            throw ExitCode.failure
        }
    }
}
