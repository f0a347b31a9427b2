import Foundation
@testable import InterceptProxy
import Testing

/// The SSL object is private to TLSEngine: its typed setters check OpenSSL's answer, and a refusal
/// throws an error that names the setting (it becomes the 502's `upstream_tls_setup` detail).
@Suite struct TLSSettingTests {
    private static let context = Result { try TLSClientContext(extraCAFile: nil, insecure: false, clientCertificateFile: nil) }

    private func engine() throws -> TLSEngine {
        try TLSEngine(context: try Self.context.get().pointer, server: false)
    }

    /// The setting the error names, and its text.
    private func refusal(_ body: () throws -> Void) -> (setting: TLSSetting, text: String)? {
        do {
            try body()
            return nil
        } catch let error as TLSError {
            guard case let .setting(setting, _) = error else { return nil }
            return (setting, "\(error)")
        } catch {
            return nil
        }
    }

    @Test func acceptedSettingsDoNotThrow() throws {
        let engine = try engine()
        try engine.setServerName("origin.example")
        try engine.setALPN(["h2", "http/1.1"])
        try engine.setVerifiedHost("origin.example")
        try engine.setVerifiedIP("::1")
        #expect(engine.peerCertificate == nil, "no handshake yet")
        #expect(engine.verificationError == nil)
    }

    @Test func aServerNameLongerThanSNIAllowsNamesTheSetting() throws {
        let name = String(repeating: "a", count: 256) + ".example"
        let refused = try #require(refusal { try engine().setServerName(name) })
        #expect(refused.setting == .serverName(name))
        #expect(refused.text.hasPrefix("setting SNI \(name) failed: "), "\(refused.text)")
        #expect(refused.text.contains("invalid servername") || refused.text.contains("SSL3_EXT_INVALID_SERVERNAME"), "OpenSSL's reason: \(refused.text)")
    }

    @Test func anEmptyALPNNameNamesTheSetting() throws {
        let refused = try #require(refusal { try engine().setALPN(["h2", ""]) })
        #expect(refused.setting == .alpn(["h2", ""]))
        #expect(refused.text.hasPrefix("offering ALPN h2, failed: "), "\(refused.text)")
    }

    @Test func anAddressThatIsNoIPNamesTheSetting() throws {
        let refused = try #require(refusal { try engine().setVerifiedIP("300.1.2.3") })
        #expect(refused.setting == .verifiedName("300.1.2.3"))
        #expect(refused.text.hasPrefix("setting the name to verify (300.1.2.3) failed: "), "\(refused.text)")
    }

    /// The upstream session's constructor fails on the first refused setting, with that setting.
    @Test func theUpstreamSessionFailsOnARefusedSetting() throws {
        let name = String(repeating: "b", count: 300) + ".example"
        let refused = try #require(refusal { _ = try TLSClientSession(context: try Self.context.get(), serverName: name, alpn: ["http/1.1"]) })
        #expect(refused.setting == .serverName(name))
    }
}
