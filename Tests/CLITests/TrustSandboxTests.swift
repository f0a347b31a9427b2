import Foundation
import Testing
import TestSupport

/// The sandbox of `verify --worlds` touches nothing of the machine's, also where the stores are
/// symbolic links, and leaves nothing behind when verify is stopped.
@Suite(.serialized) struct TrustSandboxTests {
    /// Inside a mount namespace of the test's own, /etc/ssl becomes a tmpfs shaped like Fedora's
    /// (certs a link to another directory, the bundle a link with an absolute target); verify runs
    /// curl in the direct world there. curl trusts the stand-in through the links, and afterwards
    /// the linked-to files are as they were.
    @Test func storesThatAreLinksAreCopiedThroughNotWritten() throws {
        let scratch = try TemporaryDirectory()
        try FileManager.default.copyItem(atPath: "/etc/ssl/certs/ca-certificates.crt", toPath: scratch.path("bundle.pem"))
        let script = #"""
            set -e
            mount -t tmpfs tmpfs /etc/ssl
            mkdir -p /etc/ssl/pki/tls/certs /etc/ssl/elsewhere
            cp "$SCRATCH/bundle.pem" /etc/ssl/elsewhere/bundle.pem
            ln -s /etc/ssl/elsewhere/bundle.pem /etc/ssl/pki/tls/certs/ca-certificates.crt
            ln -s pki/tls/certs /etc/ssl/certs
            before=$(sha256sum /etc/ssl/elsewhere/bundle.pem)
            set +e
            "$BINARY" verify --ca-dir "$SCRATCH/ca" --offline --worlds direct -- curl -sS -o /dev/null https://pypi.example/
            echo "verify exited $?"
            [ "$before" = "$(sha256sum /etc/ssl/elsewhere/bundle.pem)" ] && echo "bundle unchanged"
            ls -A /etc/ssl/pki/tls/certs /etc/ssl/elsewhere
            """#
        let result = try run("unshare", ["--mount", "--propagation", "private", "sh", "-c", script],
                             environment: cleanEnvironment(["SCRATCH": scratch.url.path, "BINARY": CLI.binary]))
        #expect(result.stdout.contains("verify exited 0"), "curl trusted the stand-in through the links: \(result)")
        #expect(result.stdout.contains("bundle unchanged"), "\(result)")
        #expect(result.stdout.contains("/etc/ssl/pki/tls/certs:\nca-certificates.crt\n") && result.stdout.contains("/etc/ssl/elsewhere:\nbundle.pem\n"),
                "nothing added: \(result.stdout)")
        #expect(result.stderr.contains("OS store (bundle and hashed directory): /etc/ssl/pki/tls/certs"), "mounted over the resolved directory: \(result.stderr.prefix(1500))")
    }

    /// SIGTERM to verify reaches the command, and the sandbox's directory goes with them.
    @Test func aStoppedVerifyStopsTheCommandAndLeavesNothing() throws {
        let scratch = try TemporaryDirectory()
        let tmp = scratch.path("tmp")
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        // The command says its pid on its output, which verify passes on.
        let verify = try start(CLI.binary, ["verify", "--ca-dir", scratch.path("ca"), "--offline", "--worlds", "direct", "--",
                                            "sh", "-c", "echo \"command pid $$\"; exec sleep 60"],
                               environment: cleanEnvironment(["TMPDIR": tmp]))
        let commandPid = try #require(Int32(try verify.waitFor(#"command pid (\d+)"#, timeout: 30)))
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp).contains { $0.hasPrefix("intercept-proxy-world.") })
        verify.signal(SIGTERM)
        let result = try verify.wait(timeout: 30)
        #expect(result.status == 143, "128 + SIGTERM: \(result)")
        #expect(result.stderr.contains("stopped by signal 15"), "\(result.stderr.suffix(500))")
        #expect(kill(commandPid, 0) != 0, "the command was stopped too")
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp).isEmpty, "the sandbox's directory is gone")
    }

    /// A TMPDIR whose path NODE_OPTIONS cannot carry: the sandbox uses /tmp, and node still gets the preload.
    @Test func aTemporaryDirectoryWithAQuoteFallsBackToTmp() throws {
        let scratch = try TemporaryDirectory()
        let odd = scratch.path("odd\"dir ü")
        try FileManager.default.createDirectory(atPath: odd, withIntermediateDirectories: true)
        let result = try CLI.run(["verify", "--ca-dir", scratch.path("ca"), "--offline", "--worlds", "direct", "--", "sh", "-c",
                                  "echo \"$NODE_OPTIONS\"; " + WorldClients.nodeFetch("https://pypi.example/")],
                                 environment: ["TMPDIR": odd])
        #expect(result.status == 0, "\(result)")
        #expect(result.stderr.contains("--require \"/tmp/intercept-proxy-world."), "\(result.stderr.prefix(1500))")
    }
}
