import CertForge
import COpenSSL

/// The owner of a session supplies certificates for the name a client asks for.
protocol TLSServerSessionDelegate: AnyObject {
    /// Returns the chain at once when it is at hand; otherwise returns nil, fetches it, and later
    /// calls `provide(_:)` and `advanceHandshake()`.
    func tlsSession(_ session: TLSServerSession, certificateFor serverName: String?) -> ForgedChain?
}

/// Server-side TLS over two memory BIOs: ciphertext in and out is the owner's business, so socket
/// I/O and the TLS state machine stay apart. Confined to one event loop (the `@unchecked Sendable`
/// only lets completions carry it back there).
final class TLSServerSession: @unchecked Sendable {
    enum HandshakeProgress {
        case needsInput
        case awaitingCertificate
        case established
        case failed(HandshakeFailure, detail: String)
    }

    weak var delegate: TLSServerSessionDelegate?
    let engine: TLSEngine
    private var certificateInstalled = false
    private var awaitingCertificate = false
    /// The SNI host name the client sent, if any.
    private(set) var serverName: String?
    /// The ALPN protocols the client offered, in its order (empty without the extension).
    private(set) var offeredProtocols: [String] = []

    init(context: TLSServerContext) throws {
        engine = try TLSEngine(context: context.pointer, server: true)
        SSL_set_ex_data(engine.ssl, 0, Unmanaged.passUnretained(self).toOpaque())
    }

    private var ssl: OpaquePointer { engine.ssl }

    static func from(_ ssl: OpaquePointer) -> TLSServerSession? {
        guard let raw = SSL_get_ex_data(ssl, 0) else { return nil }
        return Unmanaged<TLSServerSession>.fromOpaque(raw).takeUnretainedValue()
    }

    /// Runs the handshake as far as the input allows.
    func advanceHandshake() -> HandshakeProgress {
        switch engine.handshake() {
        case .done: return .established
        case .needsInput: return .needsInput
        case .awaitingCertificate: return .awaitingCertificate
        case let .failed(reason, detail):
            if let installFailure { return .failed(.other, detail: installFailure) }
            return .failed(reason == 0 ? .closedDuringHandshake : HandshakeFailure.classify(reason: reason), detail: detail)
        }
    }

    /// Installs the certificate asked for in `tlsSession(_:certificateFor:)`.
    func provide(_ chain: ForgedChain) {
        install(chain)
        awaitingCertificate = false
    }

    /// Called by OpenSSL once the ClientHello is parsed (and again after a retry).
    func clientHello(alert: UnsafeMutablePointer<Int32>?) -> Int32 {
        if installFailure != nil {
            alert?.pointee = SSL_AD_INTERNAL_ERROR
            return SSL_CLIENT_HELLO_ERROR
        }
        if certificateInstalled { return SSL_CLIENT_HELLO_SUCCESS }
        if awaitingCertificate { return SSL_CLIENT_HELLO_RETRY }
        serverName = readServerName()
        offeredProtocols = readOfferedProtocols()
        if let chain = delegate?.tlsSession(self, certificateFor: serverName) {
            install(chain)
            return clientHello(alert: alert)
        }
        awaitingCertificate = true
        return SSL_CLIENT_HELLO_RETRY
    }

    /// Why the forged chain could not be installed; the handshake then fails with internal_error.
    private var installFailure: String?

    private func install(_ chain: ForgedChain) {
        // A deliberately weak chain must reach the client, which is the one meant to reject it;
        // at the distribution's security level OpenSSL would refuse to present it at all.
        if chain.failure == .sha1 || chain.failure == .rsa1024 { SSL_set_security_level(ssl, 0) }
        ERR_clear_error()
        guard SSL_use_certificate(ssl, chain.leaf.pointer) == 1,
              SSL_use_PrivateKey(ssl, chain.leafKey.pointer) == 1,
              chain.chain.allSatisfy({ shim_SSL_add1_chain_cert(ssl, $0.pointer) == 1 }) else {
            installFailure = "installing the forged chain for \(chain.serverName.text) failed: \(openSSLErrorQueue())"
            return
        }
        certificateInstalled = true
    }

    /// The protocol_name_list of the ALPN extension (RFC 7301).
    private func readOfferedProtocols() -> [String] {
        var data: UnsafePointer<UInt8>?
        var length = 0
        guard SSL_client_hello_get0_ext(ssl, UInt32(TLSEXT_TYPE_application_layer_protocol_negotiation), &data, &length) == 1,
              let data, length > 2 else { return [] }
        let list = UnsafeBufferPointer(start: data + 2, count: length - 2)  // after the list's two-byte length
        return ALPNList.nameRanges(list).map { String(decoding: list[$0], as: UTF8.self) }
    }

    /// The host_name entry of the server_name extension (RFC 6066), if the client sent one.
    private func readServerName() -> String? {
        var data: UnsafePointer<UInt8>?
        var length = 0
        guard SSL_client_hello_get0_ext(ssl, UInt32(TLSEXT_TYPE_server_name), &data, &length) == 1,
              let data, length > 5 else { return nil }
        let bytes = UnsafeBufferPointer(start: data, count: length)
        var index = 2  // list length
        while index + 3 <= bytes.count {
            let type = bytes[index]
            let nameLength = Int(bytes[index + 1]) << 8 | Int(bytes[index + 2])
            let start = index + 3
            guard start + nameLength <= bytes.count else { return nil }
            if type == 0 { return String(decoding: bytes[start..<start + nameLength], as: UTF8.self) }
            index = start + nameLength
        }
        return nil
    }
}
