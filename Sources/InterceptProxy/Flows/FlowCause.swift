/// Why a `tls_failed` or `error` flow event happened: its `cause` field, written as the raw value.
/// The raw values are the flow log's vocabulary (scripts match on them), so they never change; the
/// table of causes in docs/proxy.md lists the same set.
public enum FlowCause: String, Codable, Sendable, CaseIterable, CustomStringConvertible {
    // MARK: The client's TLS handshake with the proxy (`tls_failed`, see HandshakeFailure)

    /// The client's alert says it does not trust the issuing CA: the reproduction working as intended.
    case unknownCA = "unknown_ca"
    /// The client's alert calls the forged certificate bad (a signature or extension it rejects).
    case badCertificate = "bad_certificate"
    /// The client's alert rejects the certificate without saying why (many clients' "untrusted").
    case certificateUnknown = "certificate_unknown"
    /// The client's alert rejects an expired certificate (the expired failure mode, or a clock far off).
    case certificateExpired = "certificate_expired"
    /// The client hung up mid-handshake without an alert (Java, Go, s_client without -verify_return_error).
    case closedDuringHandshake = "closed_during_handshake"
    /// The client and the proxy share no cipher suite.
    case noSharedCipher = "no_shared_cipher"
    /// The client and the proxy share no TLS version (or the client's alert says so).
    case protocolVersion = "protocol_version"
    /// Plaintext (usually HTTP) arrived where a TLS ClientHello belonged.
    case notTLS = "not_tls"
    /// The handshake did not complete within the handshake timeout.
    case timeout
    /// Any other handshake failure; the event's detail carries OpenSSL's text.
    case other

    // MARK: The client's requests (`error`, most with the status the proxy answered)

    /// A malformed request or CONNECT target, one a server could read differently (strict RFC 9112),
    /// an HTTP/1.1 request without Host in a tunnel, pipelining to another host, or a cut request (400).
    case badRequest = "bad_request"
    /// A request head or trailer section over its size or field-count limit (431).
    case headTooLarge = "head_too_large"
    /// A transfer coding other than chunked (501).
    case notImplemented = "not_implemented"
    /// An HTTP version other than 1.0 and 1.1, or HTTP/2 prior knowledge outside a tunnel (505).
    case versionNotSupported = "version_not_supported"
    /// A request inside a tunnel naming another origin in absolute form (421).
    case misdirectedRequest = "misdirected_request"
    /// No complete request head within the request head timeout (408, or a plain close when nothing came).
    case requestHeadTimeout = "request_head_timeout"
    /// A keep-alive (HTTP/1.1) or HTTP/2 connection idle for its idle timeout; it is closed.
    case idleTimeout = "idle_timeout"
    /// A request that leads back to the proxy's own address and port (508).
    case loopDetected = "loop_detected"
    /// A CONNECT or absolute-form request without Proxy-Authorization when `--proxy-auth` is set (407).
    case proxyAuthRequired = "proxy_auth_required"
    /// A CONNECT or absolute-form request with other credentials than `--proxy-auth` (407).
    case proxyAuthFailed = "proxy_auth_failed"
    /// The client closed its connection before its request or the response to it was complete.
    case clientClosed = "client_closed"

    // MARK: The proxy as a whole (`connection` 0) and its own work on a connection

    /// A client address outside `--allow-clients` (403; at once, then at most one event a second).
    case clientNotAllowed = "client_not_allowed"
    /// A client beyond `--max-connections` (503; at once, then at most one event a second, with `count`).
    case connectionLimit = "connection_limit"
    /// The process ran out of file descriptors; accepting pauses (one event per episode).
    case fdLimit = "fd_limit"
    /// The proxy stopped (grace period over) before a response ended.
    case shutdown
    /// The proxy could not set up TLS for a client's tunnel (an OpenSSL failure, not the client's).
    case tlsSetup = "tls_setup"
    /// Encrypting data for the client failed (a broken TLS session); the connection is closed.
    case tlsWrite = "tls_write"
    /// The proxy could not set up the HTTP/2 session for a client that chose h2 by ALPN.
    case h2Setup = "h2_setup"
    /// Forging the certificate for the requested name failed.
    case forgeFailed = "forge_failed"
    /// `--mimic-upstream`: the upstream's certificate could not be fetched to mimic.
    case mimicFailed = "mimic_failed"
    /// `--ignore-hosts` matched a host, but `--offline` contacts no upstream to splice to.
    case splicedOffline = "spliced_offline"
    /// The upstream's certificate failed verification and `--untrusted-upstream` re-signed the
    /// tunnel with the untrusted CA (`resign-untrusted`) or relayed it untouched (`pass`).
    case upstreamUntrusted = "upstream_untrusted"

    // MARK: HTTP/2 clients (`error`)

    /// A flood nghttp2 or the proxy stops (CONTINUATIONs, queued ACKs, SETTINGS entries): GOAWAY ENHANCE_YOUR_CALM.
    case h2Flood = "h2_flood"
    /// Any other HTTP/2 connection error by the client: GOAWAY and close.
    case h2ProtocolError = "h2_protocol_error"
    /// The client reset streams faster than the rapid-reset limit (CVE-2023-44487): GOAWAY and close.
    case h2RapidReset = "h2_rapid_reset"
    /// A stream beyond the concurrent-stream limit was refused (once per connection).
    case h2TooManyStreams = "h2_too_many_streams"
    /// nghttp2 refused an invalid frame without ending the connection (once per connection and kind).
    case h2InvalidFrame = "h2_invalid_frame"
    /// A request's decoded header list over its limit (431 on that stream).
    case h2HeaderListTooLarge = "h2_header_list_too_large"
    /// The client reset a stream before its response ended.
    case h2StreamReset = "h2_stream_reset"

    // MARK: Upstream (`error`, 502 or 504 when the response had not started; see UpstreamFailure)

    /// The upstream's name did not resolve (502).
    case upstreamDNS = "upstream_dns"
    /// Connecting to the upstream failed (502).
    case upstreamRefused = "upstream_refused"
    /// Connecting or the response timed out (504), or the upstream went silent mid-response.
    case upstreamTimeout = "upstream_timeout"
    /// The upstream's certificate failed verification (502).
    case upstreamTLS = "upstream_tls"
    /// OpenSSL refused to set up the upstream session (SNI, the name to verify, ALPN) (502).
    case upstreamTLSSetup = "upstream_tls_setup"
    /// The upstream handshake failed for another reason than the certificate (502).
    case upstreamTLSHandshake = "upstream_tls_handshake"
    /// The upstream speaks none of the protocols the client offered by ALPN (502).
    case upstreamALPN = "upstream_alpn"
    /// The upstream rejected the proxy's TLS connection after the handshake (mTLS) (502).
    case upstreamTLSRejected = "upstream_tls_rejected"
    /// The upstream proxy (`--upstream-proxy`) refused the tunnel (502).
    case upstreamProxy = "upstream_proxy"
    /// The upstream closed before the response was complete (502, or a cut transfer once it started).
    case upstreamClosed = "upstream_closed"
    /// The upstream's response could be read differently by the client (strict RFC 9112/9113) (502).
    case upstreamProtocol = "upstream_protocol"
    /// The upstream reset the HTTP/2 stream (RST_STREAM).
    case upstreamReset = "upstream_reset"
    /// The upstream ended its HTTP/2 connection (GOAWAY) with the stream unfinished.
    case upstreamGoAway = "upstream_goaway"

    /// The raw value, as written in the flow log (and in log lines).
    public var description: String { rawValue }
}
