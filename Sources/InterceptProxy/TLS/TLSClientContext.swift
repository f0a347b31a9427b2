import CertForge
import COpenSSL
import Dispatch

/// The SSL_CTX for connections to upstreams: verified against the system store plus an optional
/// extra CA file, or not verified at all; optionally presenting a client certificate (mTLS).
final class TLSClientContext: @unchecked Sendable {
    let pointer: OpaquePointer
    let verifies: Bool
    /// Sessions for resuming the next connection to the same name (see TLSSessionCache).
    let sessions = TLSSessionCache()
    /// Left once the system trust store is loaded (parsing it is ~40 ms of a proxy's start).
    private let systemStoreLoaded = DispatchGroup()

    /// The TLS 1.3 suites offered to origins, in order (see init).
    static let upstreamSuites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

    init(extraCAFile: String?, insecure: Bool, clientCertificateFile: String?) throws {
        guard let context = SSL_CTX_new(TLS_client_method()) else { throw TLSError.openSSL("SSL_CTX_new") }
        pointer = context
        verifies = !insecure
        guard shim_SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION) == 1 else {
            throw TLSError.openSSL("SSL_CTX_set_min_proto_version")
        }
        _ = shim_SSL_CTX_set_mode(context, Int(SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER))  // returns the new mode
        // AES-128-GCM first, in TLS 1.3 and 1.2, as Chrome and Go offer it. An origin that follows the
        // client's order (nginx's default) then spends ~10% less on AES for every byte it sends, and so
        // does the proxy decrypting it; the cipher on this leg is invisible to the client.
        guard SSL_CTX_set_ciphersuites(context, Self.upstreamSuites) == 1 else {
            throw TLSError.openSSL("SSL_CTX_set_ciphersuites")
        }
        if let list = Self.aes128First(SSL_CTX_get_ciphers(context)), SSL_CTX_set_cipher_list(context, list) != 1 {
            throw TLSError.openSSL("SSL_CTX_set_cipher_list")
        }
        // Renegotiation only serves attacks on a test proxy (CPU exhaustion, CVE-2009-3555 style splicing).
        shim_SSL_CTX_disable_renegotiation(context)
        if let extraCAFile, SSL_CTX_load_verify_locations(context, extraCAFile, nil) != 1 {
            throw TLSError.openSSL("loading --upstream-ca \(extraCAFile)")
        }
        SSL_CTX_set_verify(context, insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, nil)
        // Client sessions go to `sessions` (by name, through the session's app data), not to OpenSSL's
        // internal store, which a client context never looks up anyway.
        _ = SSL_CTX_ctrl(context, SSL_CTRL_SET_SESS_CACHE_MODE, Int(SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE), nil)
        SSL_CTX_sess_set_new_cb(context) { ssl, session in
            guard let ssl, let session, let raw = TLSEngine.appData(of: ssl) else { return 0 }
            return Unmanaged<TLSSessionCache.Slot>.fromOpaque(raw).takeUnretainedValue().store(session) ? 1 : 0
        }
        let alpn = ALPNList.wire(["http/1.1"])
        guard SSL_CTX_set_alpn_protos(context, alpn, UInt32(alpn.count)) == 0 else {  // 0 is success here
            throw TLSError.openSSL("SSL_CTX_set_alpn_protos")
        }
        if let clientCertificateFile {
            guard SSL_CTX_use_certificate_chain_file(context, clientCertificateFile) == 1,
                  SSL_CTX_use_PrivateKey_file(context, clientCertificateFile, SSL_FILETYPE_PEM) == 1,
                  SSL_CTX_check_private_key(context) == 1 else {
                throw TLSError.openSSL("loading --client-cert \(clientCertificateFile) (one PEM file with the certificate and its key)")
            }
        }
        // Last, so nothing else touches the store meanwhile; sessions wait for it (`awaitTrustStore`).
        // OpenSSL reports failure here only when out of memory: missing files just mean fewer anchors.
        systemStoreLoaded.enter()
        DispatchQueue.global(qos: .userInitiated).async { [self] in
            _ = SSL_CTX_set_default_verify_paths(pointer)
            systemStoreLoaded.leave()
        }
    }

    /// Blocks until the system trust store is loaded: at most for the first connections after start.
    func awaitTrustStore() {
        systemStoreLoaded.wait()
    }

    deinit { SSL_CTX_free(pointer) }

    /// The TLS 1.2 ciphers of `stack` (the context's default, whatever the system's OpenSSL
    /// configuration made it) with the ECDHE AES-128-GCM ones moved to the front; nil when it has none.
    static func aes128First(_ stack: OpaquePointer?) -> String? {
        var names: [String] = []
        for index in 0..<max(OPENSSL_sk_num(stack), 0) {
            guard let cipher = OPENSSL_sk_value(stack, index).map(OpaquePointer.init),
                  String(cString: SSL_CIPHER_get_version(cipher)) != "TLSv1.3" else { continue }
            names.append(String(cString: SSL_CIPHER_get_name(cipher)))
        }
        let first = names.filter { $0.hasPrefix("ECDHE-") && $0.contains("-AES128-GCM-") }
        guard !first.isEmpty else { return nil }
        return (first + names.filter { !first.contains($0) }).joined(separator: ":")
    }
}

/// The upstream leg's TLS: SNI and host-name verification for the name the client asked for.
final class TLSClientSession {
    let engine: TLSEngine

    /// `alpn` replaces the context's offer (http/1.1) for this connection: the protocols the client offered.
    init(context: TLSClientContext, serverName: String, alpn: [String]? = nil) throws {
        context.awaitTrustStore()
        engine = try TLSEngine(context: context.pointer, server: false)
        try engine.resumeSessions(in: context.sessions, key: TLSSessionCache.key(serverName: serverName, alpn: alpn))
        // Each setter's failure fails this connection: an upstream must never go unverified, or be
        // asked for another name or protocol than the one meant.
        if let alpn, !alpn.isEmpty { try engine.setALPN(alpn) }
        let isIP = SocketAddress(host: serverName, port: 0).isNumeric
        if !isIP { try engine.setServerName(serverName) }
        if context.verifies {
            try isIP ? engine.setVerifiedIP(serverName) : engine.setVerifiedHost(serverName)
        }
    }

    /// OpenSSL's words for a failed certificate verification, when that is why the handshake failed.
    var verificationError: String? { engine.verificationError }

    /// The certificate the upstream presented.
    var peerCertificate: Certificate? { engine.peerCertificate }

    /// Whether the handshake resumed a session instead of making a new one.
    var resumed: Bool { engine.sessionReused }
}
