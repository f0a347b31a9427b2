import Foundation
import Testing
import TestSupport

/// The proxy as CI runs it: a background process with a ready file, a flow log and a SIGTERM at the end.
@Suite struct RunCommandTests {
    @Test func readyFileFlowLogAndGracefulStop() throws {
        let scratch = try TemporaryDirectory()
        let ready = scratch.path("ready.json"), flows = scratch.path("flows.jsonl")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CLI.binary)
        process.arguments = ["--port", "0", "--offline", "--ca-dir", scratch.path("ca"), "--flows", flows, "--ready-file", ready]
        process.environment = cleanEnvironment()
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }

        let deadline = Date() + 20
        while !FileManager.default.fileExists(atPath: ready) && Date() < deadline { usleep(20_000) }
        let info = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: ready))) as! [String: Any]
        let port = info["port"] as! Int
        #expect(info["pid"] as? Int == Int(process.processIdentifier))
        #expect(info["host"] as? String == "127.0.0.1")
        #expect(info["profile"] as? String == "zscaler")
        let root = info["caCertificate"] as! String
        #expect(root == scratch.path("ca") + "/zscaler/root-ca.pem")

        let rejected = try run("curl", ["-sS", "-x", "http://127.0.0.1:\(port)", "https://ci.example/"])
        #expect(rejected.status == 60)
        let trusted = try run("curl", ["-sS", "-x", "http://127.0.0.1:\(port)", "--cacert", root, "https://ci.example/"])
        #expect(trusted.status == 0 && trusted.stdout.contains("ci.example"), "\(trusted)")

        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        #expect(process.terminationReason == .exit && process.terminationStatus == 0, "exit \(process.terminationStatus)")
        let banner = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(banner.hasPrefix("intercept-proxy listening on 127.0.0.1:\(port) (profile zscaler, offline); clients must trust \(root)"), "\(banner)")

        let lines = try String(contentsOfFile: flows, encoding: .utf8).split(separator: "\n")
        let events = try lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        let types = events.map { $0["type"] as! String }
        #expect(types.filter { $0 == "tunnel_opened" }.count == 2)
        #expect(types.filter { $0 == "tunnel_closed" }.count == 2, "\(types)")
        #expect(events.contains { $0["type"] as? String == "tls_failed" && $0["cause"] as? String == "unknown_ca" && $0["host"] as? String == "ci.example" })
        #expect(events.contains { $0["type"] as? String == "response" && $0["status"] as? Int == 200 })
    }
}
