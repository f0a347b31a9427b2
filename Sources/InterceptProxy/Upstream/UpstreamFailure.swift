import CNGHTTP2

/// Why the proxy could not get a response from upstream; each becomes a 502 or 504 whose body says so.
enum UpstreamFailure: Error, Equatable {
    case dns(host: String, detail: String)
    case refused(address: String, detail: String)
    case timeout(String)
    case tls(host: String, detail: String)
    /// OpenSSL refused to set up or use the upstream session (SNI, the name to verify, ALPN, a write).
    case tlsSetup(host: String, detail: String)
    /// The handshake failed for another reason than the certificate (a protocol version, a cipher ...).
    case tlsHandshake(host: String, detail: String)
    /// The upstream speaks none of the protocols offered by ALPN (no_application_protocol alert).
    case alpnRefused(host: String, offered: [String])
    /// The upstream accepted the handshake, then refused the proxy (TLS 1.3 client authentication).
    case tlsRejected(host: String, detail: String)
    case proxy(String)
    case closedEarly(String)
    case protocolError(String)
    /// The upstream reset the HTTP/2 stream (RST_STREAM with this error code).
    case reset(code: UInt32)
    /// The upstream ended the HTTP/2 connection (GOAWAY) with this stream unfinished.
    case goAway(code: UInt32, lastStream: Int32)

    var status: Int {
        if case .timeout = self { return 504 }
        return 502
    }

    /// The RST_STREAM code for an h2 client whose response had started: the upstream's own code
    /// when it reset the stream, INTERNAL_ERROR otherwise.
    var http2ErrorCode: UInt32 {
        if case let .reset(code) = self, code != 0 { return code }
        return NGHTTP2_INTERNAL_ERROR.rawValue
    }

    /// The flow event's cause.
    var cause: FlowCause {
        switch self {
        case .dns: return .upstreamDNS
        case .refused: return .upstreamRefused
        case .timeout: return .upstreamTimeout
        case .tls: return .upstreamTLS
        case .tlsSetup: return .upstreamTLSSetup
        case .tlsHandshake: return .upstreamTLSHandshake
        case .alpnRefused: return .upstreamALPN
        case .tlsRejected: return .upstreamTLSRejected
        case .proxy: return .upstreamProxy
        case .closedEarly: return .upstreamClosed
        case .protocolError: return .upstreamProtocol
        case .reset: return .upstreamReset
        case .goAway: return .upstreamGoAway
        }
    }

    /// The plain-text body: what happened and, where it helps, what to do.
    var message: String {
        switch self {
        case let .dns(host, detail): return "DNS lookup for \(host) failed: \(detail)"
        case let .refused(address, detail): return "connecting to \(address) failed: \(detail)"
        case let .timeout(what): return "timed out \(what)"
        case let .tls(host, detail):
            return "upstream TLS verification failed for \(host): \(detail) (pass --upstream-ca FILE to trust its CA, or --upstream-insecure)"
        case let .tlsSetup(host, detail): return "could not set up TLS to \(host): \(detail)"
        case let .tlsHandshake(host, detail): return "the TLS handshake with \(host) failed: \(detail)"
        case let .alpnRefused(host, offered):
            // The upstream is offered exactly what the client offered, so that the origin decides.
            return "\(host) speaks none of the protocols the client offered by ALPN (\(offered.joined(separator: ", "))): "
                + "it refused the handshake with no_application_protocol; the certificate was not the problem. "
                + "A client offering only h2 (gRPC) needs an origin that speaks HTTP/2"
        case let .tlsRejected(host, detail):
            return "\(host) rejected the proxy's TLS connection: \(detail) (if it requires a client certificate, pass --client-cert PEM)"
        case let .proxy(detail): return "the upstream proxy refused the tunnel: \(detail)"
        case let .closedEarly(detail): return "upstream closed early: \(detail)"
        case let .protocolError(detail): return "upstream protocol error: \(detail)"
        case let .reset(code): return "the upstream reset its HTTP/2 stream (\(HTTP2Session.errorName(code)))"
        case let .goAway(code, lastStream):
            return "the upstream ended its HTTP/2 connection (GOAWAY \(HTTP2Session.errorName(code)), last stream \(lastStream)) before the response was complete"
        }
    }
}
