import Foundation
import Testing
import TestSupport

/// What `verify` needs around a `docker build`, whose RUN steps reach the proxy at another address
/// than the host's loopback: a listen address, a fixed port to name in `--build-arg HTTPS_PROXY=...`,
/// and the host CMD is told in the proxy variables. Exercised on ::1 (tests stay on loopback).
@Suite struct VerifyBuildHostTests {
    @Test func verifyListensWhereToldAndNamesTheProxyHostToTheCommand() throws {
        let scratch = try TemporaryDirectory()
        // A port that was free a moment ago: verify must listen on exactly that one.
        let probe = try run("python3", ["-c", "import socket; s = socket.socket(socket.AF_INET6); s.bind(('::1', 0)); print(s.getsockname()[1])"])
        let port = try #require(Int(probe.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "\(probe)")
        let result = try CLI.run(["verify", "--offline", "--ca-dir", scratch.path("ca"), "--listen-host", "::1", "--port", "\(port)",
                                  "--proxy-host", "[::1]", "--expect", "rejected", "--",
                                  "sh", "-c", "echo \"proxy=$HTTPS_PROXY\"; curl -sS --proxy \"$HTTPS_PROXY\" https://build.example/"])
        #expect(result.status == 0, "\(result)")
        #expect(result.stderr.contains("proxy=http://[::1]:\(port)\n"), "\(result.stderr)")
        #expect(result.stderr.contains("curl: (60) SSL certificate problem: unable to get local issuer certificate"), "\(result.stderr)")
        #expect(result.stdout.contains("build.example  rejected"), "\(result.stdout)")
    }
}
