import CertForge
import COpenSSL

/// The proxy's server-side SSL_CTX: TLS 1.2+, ALPN h2 (unless disabled) or http/1.1, and a ClientHello callback that lets
/// each session pause its handshake until the certificate for the requested name is ready.
final class TLSServerContext: @unchecked Sendable {
    let pointer: OpaquePointer

    init(http2: Bool = true, alpn policy: ALPNPolicy = .offer) throws {
        guard let context = SSL_CTX_new(TLS_server_method()) else { throw TLSError.openSSL("SSL_CTX_new") }
        pointer = context
        guard shim_SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION) == 1 else {
            throw TLSError.openSSL("SSL_CTX_set_min_proto_version")
        }
        _ = shim_SSL_CTX_set_mode(context, Int(SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER))  // returns the new mode
        // Renegotiation only serves attacks on a test proxy (CPU exhaustion, CVE-2009-3555 style splicing).
        shim_SSL_CTX_disable_renegotiation(context)
        SSL_CTX_set_client_hello_cb(context, { ssl, alert, _ in
            guard let ssl, let session = TLSServerSession.from(ssl) else { return SSL_CLIENT_HELLO_ERROR }
            return session.clientHello(alert: alert)
        }, nil)
        // The callback cannot capture: what it may select travels in its argument (never nil):
        // 1 nothing (no ALPN at all), 2 http/1.1 only, 3 h2 or http/1.1; plus 4: what the origin
        // selected, when the session knows it (`--alpn origin`).
        let selectable = (policy == .none ? 1 : (policy == .http1 || !http2) ? 2 : 3) + (policy == .origin ? 4 : 0)
        SSL_CTX_set_alpn_select_cb(context, { ssl, out, outLength, offered, offeredLength, argument in
            guard let out, let outLength, let offered else { return SSL_TLSEXT_ERR_NOACK }
            var selectable = Int(bitPattern: argument)
            if selectable & 4 != 0 {
                selectable -= 4
                if let ssl, let choice = TLSServerSession.from(ssl)?.originSelection {
                    guard case let .selected(name) = choice else { return SSL_TLSEXT_ERR_NOACK }
                    let list = UnsafeBufferPointer(start: offered, count: Int(offeredLength))
                    guard let chosen = ALPNList.nameRanges(list).first(where: { Array(list[$0]) == Array(name.utf8) }) else {
                        return SSL_TLSEXT_ERR_NOACK
                    }
                    out.pointee = UnsafePointer(offered + chosen.lowerBound)
                    outLength.pointee = UInt8(chosen.count)
                    return SSL_TLSEXT_ERR_OK
                }
            }
            guard selectable > 1 else { return SSL_TLSEXT_ERR_NOACK }
            // The client's preference, since the upstream leg offers the same list and the origin
            // decides on it: the first of h2 (when selectable) and http/1.1 that the client names.
            let supported = (selectable == 3 ? [Array("h2".utf8)] : []) + [Array("http/1.1".utf8)]
            let list = UnsafeBufferPointer(start: offered, count: Int(offeredLength))
            guard let chosen = ALPNList.nameRanges(list).first(where: { supported.contains(Array(list[$0])) }) else {
                return SSL_TLSEXT_ERR_NOACK
            }
            out.pointee = UnsafePointer(offered + chosen.lowerBound)
            outLength.pointee = UInt8(chosen.count)
            return SSL_TLSEXT_ERR_OK
        }, UnsafeMutableRawPointer(bitPattern: selectable))
    }

    deinit { SSL_CTX_free(pointer) }
}
