import CertForge
import COpenSSL

/// The owner of a session supplies certificates for the name a client asks for.
protocol TLSServerSessionDelegate: AnyObject {
    /// Returns the chain at once when it is at hand; otherwise returns nil, fetches it, and later
    /// calls `provide(_:)` and `advanceHandshake()`.
    func tlsSession(_ session: TLSServerSession, certificateFor serverName: String?) -> ForgedChain?
}

/// Server-side TLS over the engine's buffers: ciphertext in and out is the owner's business, so socket
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
    /// The installed chain as the flow events show it: the common names, leaf first.
    private(set) var presentedChain: String?
    /// The ALPN protocols the client offered, in its order (empty without the extension).
    private(set) var offeredProtocols: [String] = []
    /// What the origin selected by ALPN, set before the certificate is provided (`--alpn origin`);
    /// nil: not known, the proxy selects as `offer` does.
    var originSelection: ALPNSelection?

    enum ALPNSelection: Equatable {
        case selected(String)
        case nothing
    }

    init(context: TLSServerContext) throws {
        engine = try TLSEngine(context: context.pointer, server: true)
        try engine.setAppData(Unmanaged.passUnretained(self).toOpaque())
    }

    /// The session an OpenSSL callback's SSL object belongs to.
    static func from(_ ssl: OpaquePointer) -> TLSServerSession? {
        guard let raw = TLSEngine.appData(of: ssl) else { return nil }
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
        if chain.isWeak { engine.allowWeakCertificates() }
        do {
            try engine.useCertificate(chain.leaf, key: chain.leafKey, chain: chain.chain, for: chain.serverName.text)
        } catch {
            installFailure = "installing the forged chain for \(chain.serverName.text) failed: \(error)"  // names the setting
            return
        }
        certificateInstalled = true
        presentedChain = chain.sentNames
    }

    /// The protocol_name_list of the ALPN extension (RFC 7301).
    private func readOfferedProtocols() -> [String] {
        guard let body = engine.clientHelloExtension(TLSEXT_TYPE_application_layer_protocol_negotiation),
              body.count > 2 else { return [] }
        let list = body.dropFirst(2)  // after the list's two-byte length
        return list.withUnsafeBufferPointer { buffer in
            ALPNList.nameRanges(buffer).map { String(decoding: buffer[$0], as: UTF8.self) }
        }
    }

    /// The host_name entry of the server_name extension (RFC 6066), if the client sent one.
    private func readServerName() -> String? {
        guard let bytes = engine.clientHelloExtension(TLSEXT_TYPE_server_name), bytes.count > 5 else { return nil }
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
