import Foundation
import Testing
import TestSupport

/// The harness recipes in examples/ run for real: pytest (Debian's python3-pytest) and go test
/// (Debian's golang-go, standard library only), each starting the built binary as its fixture.
@Suite struct HarnessRecipeTests {
    static let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("examples")

    @Test func thePytestSessionFixtureRunsBothExampleTests() throws {
        let result = try run("python3", ["-m", "pytest", "-q", "-p", "no:cacheprovider", Self.examples.appendingPathComponent("pytest").path],
                             environment: cleanEnvironment(["INTERCEPT_PROXY_BINARY": CLI.binary]), timeout: 180)
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout.contains("2 passed"), "\(result)")
    }

    @Test func theGoTestHarnessRunsBothExampleTests() throws {
        // -count=1: go caches test results, and the binary under test is not among its inputs.
        let result = try run("go", ["test", "-count=1", "-v", "./..."],
                             environment: cleanEnvironment(["INTERCEPT_PROXY_BINARY": CLI.binary, "GOPROXY": "off", "GOFLAGS": "-mod=mod"]),
                             directory: Self.examples.appendingPathComponent("go"), timeout: 300)
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout.contains("--- PASS: TestGoFailsBehindTheGatewayTheWayItDoesAtWork"), "\(result)")
        #expect(result.stdout.contains("--- PASS: TestAClientTrustingTheCAGetsThroughAndTheFlowIsRecorded"), "\(result)")
    }
}
