import Foundation
import Testing
import TestSupport

/// `verify --worlds` and `--bypass` themselves: the report, the sandbox's notes and limits, and
/// what it says when no sandbox can be made. (WorldFixTests runs every client's fix through them.)
@Suite struct VerifyWorldsTests {
    private func json(_ result: ProcessResult) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result)")
    }

    @Test func eachWorldIsReportedWithItsHostsInterception() throws {
        let scratch = try TemporaryDirectory()
        let curl = #"for host in pypi.example www.bank.example; do curl -sS -o /dev/null "https://$host/"; done"#
        let result = try CLI.run(["verify", "--ca-dir", scratch.path("ca"), "--offline", "--worlds", "gateway,direct",
                                  "--bypass", "*.bank.example", "--json", "--", "sh", "-c", curl])
        #expect(result.status == 1, "curl trusts no gateway root here: \(result)")
        let report = try json(result)
        #expect(report["matched"] as? Bool == false && report["expect"] as? String == "trusted")
        let worlds = try #require(report["worlds"] as? [[String: Any]])
        let summary = worlds.map { world in
            (world["world"] as? String ?? "?") + ": " + ((world["hosts"] as? [[String: Any]]) ?? []).map {
                "\($0["host"] ?? "?") \($0["interception"] ?? "?") \($0["outcome"] ?? "?")"
            }.joined(separator: ", ")
        }
        #expect(summary == ["gateway: pypi.example intercepted rejected, www.bank.example bypassed trusted",
                            "direct: pypi.example direct trusted, www.bank.example direct trusted"], "\(summary)")
        #expect(worlds[0]["bypass"] as? [String] == ["*.bank.example"] && worlds[1]["matched"] as? Bool == true)
        #expect(result.stderr.contains("the test world's default stores trust the public stand-in root"), "\(result.stderr.prefix(1500))")
        #expect(result.stderr.contains("OS store (bundle and hashed directory): /etc/ssl/certs"))

        let table = try CLI.run(["verify", "--ca-dir", scratch.path("ca"), "--offline", "--worlds", "gateway,direct",
                                 "--bypass", "*.bank.example", "--", "sh", "-c", curl])
        #expect(table.stdout.contains("world gateway (bypass: *.bank.example)\nHOST              INTERCEPTION  HANDSHAKE  CAUSE       REQUESTS\n"), "\(table.stdout)")
        #expect(table.stdout.contains("FAIL in the gateway world: pypi.example was rejected, expected trusted"))
        #expect(table.stdout.contains("OK in the direct world: every host trusted the site's own certificate"))
        #expect(table.stdout.hasSuffix("FAIL: the command did not pass in every world\n"))
    }

    @Test func aBundleOfTheGatewayRootAloneIsNamedAsReplacing() throws {
        let scratch = try TemporaryDirectory()
        let created = try CLI.run(["ca", "init", "--ca-dir", scratch.path("ca")])
        #expect(created.status == 0)
        let root = scratch.path("ca") + "/zscaler/root-ca.pem"
        let result = try CLI.run(["verify", "--ca-dir", scratch.path("ca"), "--offline", "--worlds", "direct", "--",
                                  "curl", "-sS", "-o", "/dev/null", "https://pypi.example/"],
                                 environment: ["REQUESTS_CA_BUNDLE": root])
        #expect(result.stderr.contains("note: REQUESTS_CA_BUNDLE=\(root) holds 1 certificate and no public roots: a client that reads only this file loses them"), "\(result.stderr.prefix(2000))")
    }

    /// uv reads roots compiled into it: the stand-in cannot reach them, so its rejections of the
    /// site's own certificate are not judged (a false failure otherwise), and the report says so.
    @Test func aClientWithCompiledInRootsIsNotJudged() throws {
        let scratch = try TemporaryDirectory()
        let tools = try toolsVenv()
        let uv = "uv pip install -q --no-cache --python python3 --target \(scratch.path("target")) --index-url https://pypi.example/simple/ demo==1.0"
        let result = try CLI.run(["verify", "--ca-dir", scratch.path("ca"), "--offline", "--worlds", "direct", "--", "sh", "-c", uv],
                                 environment: ["PATH": "\(tools)/bin:" + (ProcessInfo.processInfo.environment["PATH"] ?? "")])
        #expect(result.status == 1, "nothing judged proves nothing: \(result)")
        #expect(result.stdout.contains("pypi.example  direct        rejected (not judged)  unknown_ca"), "\(result.stdout)")
        #expect(result.stdout.contains("FAIL in the direct world: nothing could be judged"), "\(result.stdout)")
        #expect(result.stderr.contains("limit: uv reads the webpki roots compiled into it"), "\(result.stderr.prefix(2000))")
        // Beside a client the sandbox reaches, the judged host decides.
        let both = try CLI.run(["verify", "--ca-dir", scratch.path("ca"), "--offline", "--worlds", "direct", "--", "sh", "-c",
                                uv + "; curl -sS -o /dev/null https://files.example/"],
                               environment: ["PATH": "\(tools)/bin:" + (ProcessInfo.processInfo.environment["PATH"] ?? "")])
        #expect(both.status == 0 && both.stdout.contains("1 not judged"), "\(both)")
    }

    @Test func withoutANamespaceItSaysWhatIsMissingAndExits2() throws {
        let scratch = try TemporaryDirectory()
        let bin = scratch.path("bin")
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: bin + "/sh", withDestinationPath: "/bin/sh")
        let result = try CLI.run(["verify", "--ca-dir", scratch.path("ca"), "--offline", "--worlds", "gateway,direct", "--", "sh", "-c", "true"],
                                 environment: ["PATH": bin])
        #expect(result.status == 2, "\(result)")
        #expect(result.stderr.contains("the test world needs a private mount namespace"), "\(result)")
        #expect(result.stderr.contains("util-linux's unshare is needed"))
        let usage = try CLI.run(["verify", "--without-hashed-dir", "--", "true"])
        #expect(usage.status == 2 && usage.stderr.contains("--without-hashed-dir shapes the sandbox"), "\(usage)")
        let world = try CLI.run(["verify", "--worlds", "gateway,moon", "--", "true"])
        #expect(world.status == 2 && world.stderr.contains("--world is gateway or direct, got 'moon'"), "\(world)")
    }
}
