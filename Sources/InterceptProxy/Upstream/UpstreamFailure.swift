/// Why the proxy could not get a response from upstream; each becomes a 502 or 504 whose body says so.
enum UpstreamFailure: Error, Equatable {
    case dns(host: String, detail: String)
    case refused(address: String, detail: String)
    case timeout(String)
    case tls(host: String, detail: String)
    /// The upstream accepted the handshake, then refused the proxy (TLS 1.3 client authentication).
    case tlsRejected(host: String, detail: String)
    case proxy(String)
    case closedEarly(String)
    case protocolError(String)

    var status: Int {
        if case .timeout = self { return 504 }
        return 502
    }

    /// The flow event's cause.
    var cause: String {
        switch self {
        case .dns: return "upstream_dns"
        case .refused: return "upstream_refused"
        case .timeout: return "upstream_timeout"
        case .tls: return "upstream_tls"
        case .tlsRejected: return "upstream_tls_rejected"
        case .proxy: return "upstream_proxy"
        case .closedEarly: return "upstream_closed"
        case .protocolError: return "upstream_protocol"
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
        case let .tlsRejected(host, detail):
            return "\(host) rejected the proxy's TLS connection: \(detail) (if it requires a client certificate, pass --client-cert PEM)"
        case let .proxy(detail): return "the upstream proxy refused the tunnel: \(detail)"
        case let .closedEarly(detail): return "upstream closed early: \(detail)"
        case let .protocolError(detail): return "upstream protocol error: \(detail)"
        }
    }
}
