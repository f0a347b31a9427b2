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
    private let ssl: OpaquePointer
    private let incoming: OpaquePointer
    private let outgoing: OpaquePointer
    private var certificateInstalled = false
    private var awaitingCertificate = false
    /// The SNI host name the client sent, if any.
    private(set) var serverName: String?

    init(context: TLSServerContext) throws {
        guard let ssl = SSL_new(context.pointer) else { throw TLSError.openSSL("SSL_new") }
        guard let incoming = BIO_new(BIO_s_mem()), let outgoing = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            throw TLSError.openSSL("BIO_new")
        }
        shim_BIO_set_mem_eof_return(incoming, -1)  // "no data yet", not EOF
        shim_BIO_set_mem_eof_return(outgoing, -1)
        SSL_set_bio(ssl, incoming, outgoing)  // the SSL owns both BIOs now
        SSL_set_accept_state(ssl)
        self.ssl = ssl
        self.incoming = incoming
        self.outgoing = outgoing
        SSL_set_ex_data(ssl, 0, Unmanaged.passUnretained(self).toOpaque())
    }

    deinit { SSL_free(ssl) }

    static func from(_ ssl: OpaquePointer) -> TLSServerSession? {
        guard let raw = SSL_get_ex_data(ssl, 0) else { return nil }
        return Unmanaged<TLSServerSession>.fromOpaque(raw).takeUnretainedValue()
    }

    /// Ciphertext from the client.
    func receive(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { BIO_write(incoming, $0.baseAddress, Int32($0.count)) }
    }

    /// Ciphertext for the client, taken out of the session.
    func takeOutput() -> [UInt8] {
        let pending = Int(BIO_ctrl_pending(outgoing))
        guard pending > 0 else { return [] }
        var buffer = [UInt8](repeating: 0, count: pending)
        let read = buffer.withUnsafeMutableBytes { BIO_read(outgoing, $0.baseAddress, Int32(pending)) }
        return read > 0 ? Array(buffer.prefix(Int(read))) : []
    }

    /// Runs the handshake as far as the input allows.
    func advanceHandshake() -> HandshakeProgress {
        ERR_clear_error()
        let result = SSL_do_handshake(ssl)
        if result == 1 { return .established }
        switch SSL_get_error(ssl, result) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            return .needsInput
        case SSL_ERROR_WANT_CLIENT_HELLO_CB:
            return .awaitingCertificate
        default:
            let code = ERR_peek_error()
            let failure = code == 0 ? HandshakeFailure.closedDuringHandshake : HandshakeFailure.classify(reason: ERR_GET_REASON(code))
            return .failed(failure, detail: openSSLErrorText())
        }
    }

    /// Installs the certificate asked for in `tlsSession(_:certificateFor:)`.
    func provide(_ chain: ForgedChain) {
        install(chain)
        awaitingCertificate = false
    }

    /// Called by OpenSSL once the ClientHello is parsed (and again after a retry).
    func clientHello(alert: UnsafeMutablePointer<Int32>?) -> Int32 {
        if certificateInstalled { return SSL_CLIENT_HELLO_SUCCESS }
        if awaitingCertificate { return SSL_CLIENT_HELLO_RETRY }
        serverName = readServerName()
        if let chain = delegate?.tlsSession(self, certificateFor: serverName) {
            install(chain)
            return SSL_CLIENT_HELLO_SUCCESS
        }
        awaitingCertificate = true
        return SSL_CLIENT_HELLO_RETRY
    }

    private func install(_ chain: ForgedChain) {
        SSL_use_certificate(ssl, chain.leaf.pointer)
        SSL_use_PrivateKey(ssl, chain.leafKey.pointer)
        for certificate in chain.chain { _ = shim_SSL_add1_chain_cert(ssl, certificate.pointer) }
        certificateInstalled = true
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

    /// Decrypted application data available now; `closed` once the client sent close_notify.
    func readPlaintext() -> (bytes: [UInt8], closed: Bool) {
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            ERR_clear_error()
            let count = chunk.withUnsafeMutableBytes { SSL_read(ssl, $0.baseAddress, Int32($0.count)) }
            if count > 0 {
                output.append(contentsOf: chunk.prefix(Int(count)))
                continue
            }
            let error = SSL_get_error(ssl, count)
            return (output, error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE)
        }
    }

    /// Encrypts application data for the client (collect it with `takeOutput()`).
    func write(_ plaintext: [UInt8]) {
        guard !plaintext.isEmpty else { return }
        _ = plaintext.withUnsafeBytes { SSL_write(ssl, $0.baseAddress, Int32($0.count)) }
    }

    /// Queues close_notify.
    func shutdown() {
        ERR_clear_error()
        SSL_shutdown(ssl)
    }

    var protocolVersion: String { String(cString: SSL_get_version(ssl)) }
    var cipher: String { SSL_get_current_cipher(ssl).map { String(cString: SSL_CIPHER_get_name($0)) } ?? "" }
    var alpn: String? {
        var data: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &data, &length)
        guard let data, length > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
    }
}
