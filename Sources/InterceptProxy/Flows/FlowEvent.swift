import FoundationEssentials

/// One thing that happened on the proxy, as written to the flow log (one JSON object per line).
/// Fields that do not apply to an event's kind are absent.
public struct FlowEvent: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        case tunnelOpened = "tunnel_opened"
        case tlsEstablished = "tls_established"
        case tlsFailed = "tls_failed"
        case request
        case response
        case error
        case tunnelClosed = "tunnel_closed"
    }

    public var time: Date
    public var type: Kind
    /// Identifies the client connection; all events of one tunnel share it. 0 for events about the
    /// proxy as a whole (`fd_limit`, `connection_limit`).
    public var connection: Int
    public var client: String?
    public var host: String?
    public var port: Int?
    public var sni: String?
    public var cause: FlowCause?
    public var detail: String?
    public var tlsVersion: String?
    public var cipher: String?
    public var alpn: String?
    public var method: String?
    public var url: String?
    public var status: Int?
    public var headers: FlowHeaders?
    /// Response payload bytes (for `response`), request payload bytes (for `request`, once known).
    public var bodyBytes: Int?
    /// On `response`: how many payload bytes the request carried.
    public var requestBodyBytes: Int?
    public var httpVersion: String?
    /// The HTTP/2 stream of a `request`, `response` or `error` (absent for HTTP/1.1).
    public var streamId: Int?
    /// On a forwarded `response`: the protocol of the upstream leg ("HTTP/2" or "HTTP/1.1"), which
    /// may differ from the client's `httpVersion`.
    public var upstreamHttpVersion: String?
    public var durationMs: Double?
    /// On a `connection_limit` error: how many connections it stands for (refusals are reported at
    /// most once a second).
    public var count: Int?
    /// On `tunnel_opened`: `intercepted` (forged by the gateway's CA), `bypassed` (a `--bypass` host:
    /// the site's own certificate, a public stand-in leaf), `direct` (the direct world: the same), or
    /// `spliced` (bytes relayed to the real upstream, whose certificate the client sees).
    public var interception: Interception?
    /// On `tunnel_opened`: the world the tunnel was opened in, `gateway` or `direct`.
    public var world: World?
    /// On `tunnel_opened` of a redirected connection (`--transparent`): the address it was headed for.
    public var destination: String?
    /// On `tls_established` and `tls_failed`: the JA4 fingerprint of the client's ClientHello.
    public var ja4: String?
    /// With `ja4`, the client's TLS stack when the proxy recognises it (`OpenSSL`, `Go`, `Java`, `rustls`, `GnuTLS`).
    public var tlsStack: String?
    /// On `tls_established` and `tls_failed`: the certificates the client was shown, leaf first, by
    /// common name (`pkg.example < Zscaler Intermediate Root CA (zscaler.test) (t) < ...`).
    public var chain: String?

    public init(type: Kind, connection: Int, time: Date = Date()) {
        self.type = type
        self.connection = connection
        self.time = time
    }
}

extension FlowEvent {
    /// Roughly what the event occupies in memory, the measure `ProxyConfiguration.eventHistoryBytes`
    /// bounds: the text of its fields and headers plus a fixed cost for the event and for each header
    /// (a header is an array of two strings: about 80 bytes before its text).
    public var estimatedBytes: Int {
        // Summed field by field: an array of the fields would cost an allocation per recorded event.
        func size(_ text: String?) -> Int { text?.utf8.count ?? 0 }
        var bytes = 400 + size(client) + size(host) + size(sni) + size(cause?.rawValue) + size(detail)
        bytes += size(tlsVersion) + size(cipher) + size(alpn) + size(method) + size(url)
        bytes += size(httpVersion) + size(upstreamHttpVersion) + size(interception?.rawValue) + size(world?.rawValue)
        bytes += size(ja4) + size(tlsStack) + size(destination) + size(chain)
        if let headers { bytes += 80 * headers.count + headers.utf8Count }
        return bytes
    }
}
