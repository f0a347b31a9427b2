import CertForge
import Foundation
import InterceptProxy
import Testing
import TestSupport

/// Real clients through the proxy: without the root each fails with its own words and the proxy
/// names the cause; with the root each gets the answer.
@Suite struct InterceptionTests {
    @Test func curlFailsLikeBehindZscalerThenPassesWithTheRoot() async throws {
        try await withProxy { fixture in
            let rejected = try fixture.curl(["https://pypi.example/simple/"])
            #expect(rejected.status == 60, "\(rejected)")
            #expect(rejected.stderr.contains("curl: (60) SSL certificate problem: unable to get local issuer certificate"))
            let failure = try fixture.waitForEvent { $0.type == .tlsFailed }
            #expect(failure.cause == .unknownCA)
            #expect(failure.host == "pypi.example" && failure.sni == "pypi.example" && failure.port == 443)

            let trusted = try fixture.curl(["--cacert", fixture.rootFile, "https://pypi.example/simple/"])
            #expect(trusted.status == 0, "\(trusted)")
            #expect(trusted.stdout.contains("the TLS handshake for pypi.example succeeded"))
            #expect(trusted.stdout.contains("request: GET https://pypi.example/simple/"))
            let established = try fixture.waitForEvent { $0.type == .tlsEstablished }
            #expect(established.alpn == "http/1.1")
            #expect(established.tlsVersion == "TLSv1.3")
        }
    }

    @Test func rootSendingProfileGivesTheSelfSignedError() async throws {
        try await withProxy(profile: .netskope) { fixture in
            let rejected = try fixture.curl(["https://registry.example/"])
            #expect(rejected.stderr.contains("curl: (60) SSL certificate problem: self-signed certificate in certificate chain"), "\(rejected)")
            #expect(try fixture.waitForEvent { $0.type == .tlsFailed }.cause == .unknownCA)
        }
    }

    @Test func pythonUrllibFailsThenPasses() async throws {
        try await withProxy { fixture in
            let script = """
                import ssl, sys, urllib.request
                context = ssl.create_default_context(cafile=sys.argv[2]) if len(sys.argv) > 2 else ssl.create_default_context()
                try:
                    print(urllib.request.urlopen(sys.argv[1], context=context, timeout=20).read().decode())
                except Exception as error:
                    print(error)
                    sys.exit(1)
                """
            let environment = cleanEnvironment(["HTTPS_PROXY": fixture.proxyURL])
            let rejected = try run("python3", ["-c", script, "https://files.example/pkg.whl"], environment: environment)
            #expect(rejected.status == 1)
            #expect(rejected.stdout.contains("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate"), "\(rejected)")
            #expect(try fixture.waitForEvent { $0.type == .tlsFailed }.cause == .unknownCA)

            let trusted = try run("python3", ["-c", script, "https://files.example/pkg.whl", fixture.rootFile], environment: environment)
            #expect(trusted.status == 0, "\(trusted)")
            #expect(trusted.stdout.contains("request: GET https://files.example/pkg.whl"))
        }
    }

    @Test func opensslClientThroughTheProxy() async throws {
        try await withProxy { fixture in
            let connect = ["s_client", "-proxy", "127.0.0.1:\(fixture.port)", "-connect", "git.example:443", "-servername", "git.example"]
            let rejected = try run("openssl", connect + ["-verify_return_error"])
            #expect(rejected.output.contains("verify error:num=20:unable to get local issuer certificate"), "\(rejected)")
            #expect(try fixture.waitForEvent { $0.type == .tlsFailed }.cause == .unknownCA)

            let trusted = try run("openssl", connect + ["-CAfile", fixture.rootFile])
            #expect(trusted.output.contains("Verify return code: 0 (ok)"), "\(trusted)")
        }
    }

    @Test func clientThatHangsUpWithoutAnAlertIsClosedDuringHandshake() async throws {
        try await withProxy { fixture in
            // s_client without -verify_return_error finishes the handshake; a bare TCP close mid-handshake does not.
            let script = """
                import socket, sys
                s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
                s.sendall(b"CONNECT quiet.example:443 HTTP/1.1\\r\\nHost: quiet.example:443\\r\\n\\r\\n")
                print(s.recv(100).decode().splitlines()[0])
                s.sendall(bytes.fromhex("160301"))  # the start of a ClientHello, then nothing
                s.close()
                """
            let result = try run("python3", ["-c", script, String(fixture.port)])
            #expect(result.stdout.contains("HTTP/1.1 200 Connection established"), "\(result)")
            #expect(try fixture.waitForEvent { $0.type == .tlsFailed }.cause == .closedDuringHandshake)
        }
    }

    @Test func keepAliveReusesOneTunnel() async throws {
        try await withProxy { fixture in
            let urls = (1...5).map { "https://api.example/item/\($0)" }
            let result = try fixture.curl(["--cacert", fixture.rootFile] + urls)
            #expect(result.status == 0, "\(result)")
            for index in 1...5 { #expect(result.stdout.contains("request: GET https://api.example/item/\(index)")) }
            try fixture.waitForEvent { $0.type == .response && $0.url == "https://api.example/item/5" }
            let events = fixture.proxy.recordedEvents
            #expect(events.filter { $0.type == .tunnelOpened }.count == 1)
            #expect(events.filter { $0.type == .request }.count == 5)
        }
    }

    @Test func recordedEventsKeepOnlyTheNewestWithoutAHAR() async throws {
        try await withProxy(configure: { $0.eventHistoryLimit = 10 }) { fixture in
            for index in 0..<6 {
                let result = try fixture.curl(["--cacert", fixture.rootFile, "https://bounded\(index).test/"])
                #expect(result.status == 0, "\(result)")
            }
            try fixture.waitForEvent { $0.type == .tunnelClosed && $0.host == "bounded5.test" }
            let events = fixture.proxy.recordedEvents
            #expect((10...12).contains(events.count), "\(events.count) events kept")
            #expect(!events.contains { $0.host == "bounded0.test" }, "the oldest were dropped")
            #expect(events.contains { $0.host == "bounded5.test" && $0.type == .response })
        }
    }

    @Test func twoHundredConcurrentTunnels() async throws {
        try await withProxy { fixture in
            let urls = (0..<200).map { "https://host-\($0).parallel.example/" }
            // Each URL is a new host: 200 CONNECTs, 200 handshakes and 200 leaves forged at once.
            let result = try fixture.curl(["--cacert", fixture.rootFile, "--parallel", "--parallel-max", "200",
                                           "-w", "%{http_code}\\n"] + urls.flatMap { ["-o", "/dev/null", $0] })
            #expect(result.status == 0, "\(result.stderr)")
            let codes = result.stdout.split(separator: "\n")
            #expect(codes.count == 200)
            #expect(codes.allSatisfy { $0 == "200" }, "\(Set(codes))")
            try fixture.waitForEvent { _ in fixture.proxy.recordedEvents.filter { $0.type == .tunnelClosed }.count == 200 }
            #expect(!fixture.proxy.recordedEvents.contains { $0.type == .tlsFailed || $0.type == .error })
        }
    }
}

@Suite struct HandshakeClassificationTests {
    @Test func oldProtocolVersionIsClassified() async throws {
        try await withProxy { fixture in
            // The proxy accepts TLS 1.2 and up; a TLS 1.1-only client is refused with protocol_version.
            let result = try run("openssl", ["s_client", "-proxy", "127.0.0.1:\(fixture.port)", "-connect", "old.example:443",
                                             "-servername", "old.example", "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"])
            #expect(result.status != 0, "\(result)")
            #expect(try fixture.waitForEvent { $0.type == .tlsFailed }.cause == .protocolVersion)
        }
    }

    @Test func stalledHandshakeTimesOut() async throws {
        try await withProxy(configure: { $0.handshakeTimeout = 1 }) { fixture in
            let script = """
                import socket, sys, time
                s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
                s.sendall(b"CONNECT slow.example:443 HTTP/1.1\\r\\n\\r\\n")
                s.recv(100)
                s.sendall(bytes.fromhex("160301"))
                s.settimeout(10)
                print("closed by proxy" if s.recv(100) == b"" else "data")
                """
            let result = try run("python3", ["-c", script, String(fixture.port)])
            #expect(result.stdout == "closed by proxy\n", "\(result)")
            let failure = try fixture.waitForEvent { $0.type == .tlsFailed }
            #expect(failure.cause == .timeout && failure.host == "slow.example")
        }
    }
}
