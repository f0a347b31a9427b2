import Foundation

/// One parser under fuzzing: `run` feeds it an input and traps (a Swift runtime error or a
/// `precondition`) when the parser crashes or breaks an invariant the target checks.
struct FuzzTarget: Sendable {
    let name: String
    let run: @Sendable ([UInt8]) -> Void
}

#if DEBUG || FUZZING
let fuzzTargets: [FuzzTarget] = [
    FuzzTarget(name: "http1-request", run: HTTP1RequestTarget.run),
    FuzzTarget(name: "http1-response", run: HTTP1ResponseTarget.run),
    FuzzTarget(name: "connect-authority", run: AuthorityTarget.run),
    FuzzTarget(name: "tls-client-hello", run: ClientHelloTarget.run),
    FuzzTarget(name: "h2-server", run: HTTP2ServerTarget.run),
    FuzzTarget(name: "pem-ca", run: PEMTarget.run),
    FuzzTarget(name: "explain", run: ExplainTarget.run),
    FuzzTarget(name: "dockerfile", run: DockerfileTarget.run),
]
#else
/// A release build (`swift build -c release` builds every product) cannot reach the internal
/// parsers, which need a module compiled for testing: it has no target, and says how to get them.
let fuzzTargets: [FuzzTarget] = []
#endif

/// The one binary holds every target; FUZZ_TARGET names the one libFuzzer drives.
nonisolated(unsafe) private var selected: FuzzTarget?

private func target(named name: String?) -> FuzzTarget {
    if let name, let found = fuzzTargets.first(where: { $0.name == name }) { return found }
    let known = fuzzTargets.isEmpty ? "none in a release build; make fuzz (or swift build) builds them" : fuzzTargets.map(\.name).joined(separator: " ")
    FileHandle.standardError.write(Data("intercept-proxy-fuzz: set FUZZ_TARGET to one of: \(known)\n".utf8))
    exit(2)
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutableRawPointer?, _ argv: UnsafeMutableRawPointer?) -> CInt {
    selected = target(named: ProcessInfo.processInfo.environment["FUZZ_TARGET"])
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    (selected ?? target(named: ProcessInfo.processInfo.environment["FUZZ_TARGET"])).run(bytes)
    return 0
}

#if !FUZZING
/// Without libFuzzer (a plain `swift build`): replays inputs, e.g. a crash reproducer under a
/// debugger: `intercept-proxy-fuzz <target> <file or directory>...`.
@main
struct Replay {
    static func main() throws {
        let arguments = CommandLine.arguments.dropFirst()
        guard let name = arguments.first else {
            print("usage: intercept-proxy-fuzz <target> <file or directory>...\ntargets: \(fuzzTargets.map(\.name).joined(separator: " "))")
            exit(2)
        }
        let chosen = target(named: name)
        var count = 0
        for path in arguments.dropFirst() {
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
            let files = isDirectory.boolValue
                ? try FileManager.default.contentsOfDirectory(atPath: path).sorted().map { "\(path)/\($0)" } : [path]
            for file in files {
                chosen.run(Array(try Data(contentsOf: URL(fileURLWithPath: file))))
                count += 1
            }
        }
        print("\(chosen.name): \(count) inputs replayed, no crash")
    }
}
#endif
