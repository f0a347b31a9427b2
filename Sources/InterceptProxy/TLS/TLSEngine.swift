import CertForge
import COpenSSL

/// An SSL object over two memory BIOs: ciphertext goes in with `receive`, comes out with
/// `takeOutput`; the socket never meets OpenSSL. Shared by the client-facing and upstream legs.
/// Confined to one event loop.
final class TLSEngine {
    let ssl: OpaquePointer
    private let incoming: OpaquePointer
    private let outgoing: OpaquePointer

    enum Step {
        case needsInput
        case awaitingCertificate
        case done
        case failed(reason: Int32, detail: String)
    }

    init(context: OpaquePointer, server: Bool) throws {
        guard let ssl = SSL_new(context) else { throw TLSError.openSSL("SSL_new") }
        guard let incoming = BIO_new(BIO_s_mem()), let outgoing = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            throw TLSError.openSSL("BIO_new")
        }
        shim_BIO_set_mem_eof_return(incoming, -1)  // "no data yet", not EOF
        shim_BIO_set_mem_eof_return(outgoing, -1)
        SSL_set_bio(ssl, incoming, outgoing)  // the SSL owns both BIOs now
        if server { SSL_set_accept_state(ssl) } else { SSL_set_connect_state(ssl) }
        self.ssl = ssl
        self.incoming = incoming
        self.outgoing = outgoing
    }

    deinit { SSL_free(ssl) }

    /// Ciphertext from the peer.
    func receive(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        _ = bytes.withUnsafeBytes { BIO_write(incoming, $0.baseAddress, Int32($0.count)) }
    }

    /// Ciphertext for the peer, taken out of the engine.
    func takeOutput() -> [UInt8] {
        let pending = Int(BIO_ctrl_pending(outgoing))
        guard pending > 0 else { return [] }
        return [UInt8](unsafeUninitializedCapacity: pending) { buffer, count in
            count = max(0, Int(BIO_read(outgoing, buffer.baseAddress, Int32(pending))))
        }
    }

    /// One attempt at (the rest of) the handshake.
    func handshake() -> Step {
        ERR_clear_error()
        let result = SSL_do_handshake(ssl)
        if result == 1 { return .done }
        switch SSL_get_error(ssl, result) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE: return .needsInput
        case SSL_ERROR_WANT_CLIENT_HELLO_CB: return .awaitingCertificate
        default:
            let code = ERR_peek_error()
            return .failed(reason: code == 0 ? 0 : ERR_GET_REASON(code), detail: openSSLErrorQueue())
        }
    }

    /// Decrypted application data available now; `closed` once the peer sent close_notify or failed,
    /// with `error` holding OpenSSL's reason when it failed (e.g. an alert after the handshake).
    func readPlaintext() -> (bytes: [UInt8], closed: Bool, error: String?) {
        var output: [UInt8] = []
        var outcome: (closed: Bool, error: String?)?
        while outcome == nil {
            // Plaintext never outgrows the ciphertext it came in, so one pass usually takes it all,
            // straight into the array that is handed on.
            let capacity = max(Int(BIO_ctrl_pending(incoming)) + Int(SSL_pending(ssl)), 4096)
            let chunk = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, count in
                count = 0
                while count < buffer.count {
                    ERR_clear_error()
                    let read = SSL_read(ssl, buffer.baseAddress! + count, Int32(buffer.count - count))
                    if read > 0 { count += Int(read); continue }
                    switch SSL_get_error(ssl, read) {
                    case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE: outcome = (false, nil)
                    case SSL_ERROR_ZERO_RETURN: outcome = (true, nil)
                    default: outcome = (true, openSSLErrorQueue())
                    }
                    return
                }
            }
            if output.isEmpty { output = chunk } else { output.append(contentsOf: chunk) }
        }
        return (output, outcome!.closed, outcome!.error)
    }

    /// Encrypts application data (collect it with `takeOutput()`). A memory BIO takes any amount,
    /// so this fails only on a broken session (after a fatal alert); the caller must then close,
    /// since the bytes did not go out.
    func write(_ plaintext: [UInt8]) throws {
        guard !plaintext.isEmpty else { return }
        ERR_clear_error()
        let written = plaintext.withUnsafeBytes { SSL_write(ssl, $0.baseAddress, Int32($0.count)) }
        guard written == plaintext.count else { throw TLSError.openSSL("SSL_write of \(plaintext.count) bytes") }
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
