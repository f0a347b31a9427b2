import Foundation
import Testing
import TestSupport

/// `--alpn offer|http1|none`: what the TLS server selects from the client's offer, as gateways
/// differ; with none, a real gRPC client fails as it does behind such a gateway (grpc/grpc#32172).
@Suite struct ALPNPolicyTests {
    @Test(arguments: [("offer", "ALPN: server accepted h2", "2"), ("http1", "ALPN: server accepted http/1.1", "1.1"),
                      ("none", "ALPN: server did not agree on a protocol", "1.1")])
    func curlSeesWhatThePolicySelects(policy: String, line: String, version: String) throws {
        let proxy = try ProxyProcess(["--offline", "--alpn", policy])
        defer { proxy.stop() }
        let result = try run("curl", ["-sS", "-v", "--http2", "-x", "http://127.0.0.1:\(proxy.port)", "--cacert", proxy.root,
                                      "-o", "/dev/null", "-w", "%{http_version} %{http_code}", "https://grpc.example.test/"],
                             environment: cleanEnvironment())
        #expect(result.stderr.contains(line), "\(result)")
        #expect(result.stdout == "\(version) 200", "\(result)")
    }

    @Test func aGRPCClientFailsWhenNoProtocolIsSelected() throws {
        let venv = try toolsVenv(requiring: ["python3"])
        let script = """
            import sys, grpc
            credentials = grpc.ssl_channel_credentials(root_certificates=open(sys.argv[2], "rb").read())
            channel = grpc.secure_channel("grpc.example.test:443", credentials, options=[("grpc.http_proxy", sys.argv[1])])
            call = channel.unary_unary("/test.Service/Method", request_serializer=lambda x: x, response_deserializer=lambda x: x)
            try:
                call(b"", timeout=20)
                print("answered")
            except grpc.RpcError as error:
                print(error.code(), error.details())
            """
        var outputs: [String: String] = [:]
        for policy in ["none", "offer"] {
            let proxy = try ProxyProcess(["--offline", "--alpn", policy])
            defer { proxy.stop() }
            let result = try run("\(venv)/bin/python", ["-c", script, "http://127.0.0.1:\(proxy.port)", proxy.root], environment: cleanEnvironment(), timeout: 60)
            #expect(!result.stderr.contains("No module named 'grpc'"), "make test installs grpcio into \(venv): \(result)")
            outputs[policy] = result.stdout
        }
        #expect(outputs["none"]?.contains("Cannot check peer: missing selected ALPN property.") == true, "\(outputs)")
        // With h2 selected the handshake passes; the offline answer is not gRPC, so the call fails later, for another reason.
        #expect(outputs["offer"]?.contains("ALPN") == false && outputs["offer"]?.isEmpty == false, "\(outputs)")
    }

    @Test func anUnknownPolicyIsAUsageError() throws {
        let result = try CLI.run(["run", "--offline", "--alpn", "h3"])
        #expect(result.status == 2 && result.stderr.contains("--alpn takes offer, http1, none or origin, got 'h3'"), "\(result)")
    }
}
