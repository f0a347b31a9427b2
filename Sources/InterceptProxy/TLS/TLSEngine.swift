import CertForge
import COpenSSL

/// An SSL object over Swift buffers (EngineBIO): ciphertext goes in with `receive`, comes out with
/// `takeOutput`; the socket never meets OpenSSL. Shared by the client-facing and upstream legs.
/// The SSL object stays inside: its settings are typed methods that check OpenSSL's answer and
/// throw `TLSError.setting` naming the setting. Confined to one event loop.
final class TLSEngine {
    private let ssl: OpaquePointer
    /// The ciphertext both ways; the SSL's BIO reads and writes it.
    private let buffers = EngineBuffers()
    /// What the app data points at, when the engine owns it (`resumeSessions`).
    private var appDataOwner: AnyObject?

    enum Step {
        case needsInput
        case awaitingCertificate
        case done
        case failed(reason: Int32, detail: String)
    }

    init(context: OpaquePointer, server: Bool) throws {
        guard let ssl = SSL_new(context) else { throw TLSError.openSSL("SSL_new") }
        guard let bio = EngineBIO.make(over: buffers) else {
            SSL_free(ssl)
            throw TLSError.openSSL("BIO_new")
        }
        SSL_set_bio(ssl, bio, bio)  // the SSL owns the BIO now (one reference for both directions)
        if server { SSL_set_accept_state(ssl) } else { SSL_set_connect_state(ssl) }
        self.ssl = ssl
    }

    deinit { SSL_free(ssl) }

    /// Ciphertext from the peer.
    func receive(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        buffers.receive(bytes)
    }

    /// Ciphertext from the peer in the loop's read buffer: decrypted at once, without copying it
    /// in first (only an unfinished record is kept). Collect output with `takeOutput()` as usual.
    func readPlaintext(receivedInPlace bytes: UnsafeRawBufferPointer) -> (bytes: [UInt8], closed: Bool, error: String?) {
        buffers.borrowing(bytes) { readPlaintext() }
    }

    /// Ciphertext for the peer, taken out of the engine.
    func takeOutput() -> [UInt8] {
        buffers.takeOutput()
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
        // Once: a read that succeeds leaves the queue empty, and the first that fails ends the loop.
        ERR_clear_error()
        while outcome == nil {
            // Plaintext never outgrows the ciphertext it came in, so one pass usually takes it all,
            // straight into the array that is handed on.
            let capacity = max(buffers.pendingInput + Int(SSL_pending(ssl)), 4096)
            let chunk = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, count in
                count = 0
                while count < buffer.count {
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

    /// Encrypts application data (collect it with `takeOutput()`). The engine's BIO takes any amount,
    /// so this fails only on a broken session (after a fatal alert); the caller must then close,
    /// since the bytes did not go out.
    func write(_ plaintext: [UInt8]) throws {
        guard !plaintext.isEmpty else { return }
        // A record carries at most 16 KiB and adds under 64 bytes (header, type, tag, TLS 1.2 nonce).
        if plaintext.count > 4096 { buffers.reserveOutput(plaintext.count + (plaintext.count / 16384 + 1) * 64) }
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

// MARK: Settings and facts of one connection

extension TLSEngine {
    /// Runs an OpenSSL setter whose success is `succeeded(result)`; a failure throws with the queue.
    private func apply(_ setting: TLSSetting, _ succeeded: (Int32) -> Bool = { $0 == 1 }, _ call: (OpaquePointer) -> Int32) throws {
        ERR_clear_error()
        guard succeeded(call(ssl)) else { throw TLSError.setting(setting, reason: openSSLErrorQueue()) }
    }

    /// The SNI host name to send (a client session; not for IP addresses, which SNI cannot carry).
    func setServerName(_ name: String) throws {
        try apply(.serverName(name)) { shim_SSL_set_tlsext_host_name($0, name) }
    }

    /// The ALPN protocols to offer, replacing the context's offer (a client session).
    func setALPN(_ protocols: [String]) throws {
        let wire = ALPNList.wire(protocols)
        try apply(.alpn(protocols), { $0 == 0 }) { SSL_set_alpn_protos($0, wire, UInt32(wire.count)) }  // 0 is success here
    }

    /// The host name the peer's certificate must match (a client session).
    func setVerifiedHost(_ host: String) throws {
        try apply(.verifiedName(host)) { SSL_set1_host($0, host) }
    }

    /// The IP address (text form) the peer's certificate must match (a client session).
    func setVerifiedIP(_ address: String) throws {
        try apply(.verifiedName(address)) { X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param($0), address) }
    }

    /// The owner OpenSSL's callbacks find by `appData(of:)`, not retained.
    func setAppData(_ owner: UnsafeMutableRawPointer) throws {
        try apply(.appData) { SSL_set_ex_data($0, 0, owner) }
    }

    /// What `setAppData` attached to the SSL object a callback was given.
    static func appData(of ssl: OpaquePointer) -> UnsafeMutableRawPointer? {
        SSL_get_ex_data(ssl, 0)
    }

    /// Lets a deliberately weak chain (SHA-1, RSA-1024) be presented: at the distribution's security
    /// level OpenSSL would refuse to, and the client is the one meant to reject it.
    func allowWeakCertificates() {
        SSL_set_security_level(ssl, 0)
    }

    /// The certificate, key and chain to present (a server session, during the ClientHello callback).
    func useCertificate(_ leaf: Certificate, key: PrivateKey, chain: [Certificate], for name: String) throws {
        try apply(.certificate(name)) { SSL_use_certificate($0, leaf.pointer) }
        try apply(.privateKey(name)) { SSL_use_PrivateKey($0, key.pointer) }
        for certificate in chain {
            try apply(.chainCertificate(name)) { shim_SSL_add1_chain_cert($0, certificate.pointer) }
        }
    }

    /// The body of a ClientHello extension, copied (during the ClientHello callback; nil when absent).
    func clientHelloExtension(_ type: Int32) -> [UInt8]? {
        var data: UnsafePointer<UInt8>?
        var length = 0
        guard SSL_client_hello_get0_ext(ssl, UInt32(type), &data, &length) == 1, let data else { return nil }
        return Array(UnsafeBufferPointer(start: data, count: length))
    }

    /// OpenSSL's words for the peer's failed certificate verification; nil when it passed (or none ran).
    var verificationError: String? {
        let result = SSL_get_verify_result(ssl)
        guard result != X509_V_OK else { return nil }
        return String(cString: X509_verify_cert_error_string(result))
    }

    /// Offers the session cached under `key` for resumption, and keeps the origin's new sessions
    /// there (a client session, before the handshake; the context's new-session callback finds the
    /// slot through the app data, which lives as long as this engine).
    func resumeSessions(in cache: TLSSessionCache, key: String) throws {
        let slot = TLSSessionCache.Slot(cache: cache, key: key)
        try setAppData(Unmanaged.passUnretained(slot).toOpaque())
        appDataOwner = slot
        cache.offer(to: ssl, for: key)
    }

    /// Whether the handshake resumed a session.
    var sessionReused: Bool { SSL_session_reused(ssl) == 1 }

    /// The certificate the peer presented, if any.
    var peerCertificate: Certificate? {
        SSL_get1_peer_certificate(ssl).map { Certificate(taking: $0) }
    }
}
