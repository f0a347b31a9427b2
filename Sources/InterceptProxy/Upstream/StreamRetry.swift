import CNGHTTP2

/// When a request that failed on the upstream's h2 connection is sent again, on a new connection
/// (RFC 9113 8.7): only when the upstream never processed its stream. One place for the rule, so
/// the connection's classification and the stream's decision cannot drift apart.
enum StreamRetry {
    /// Whether the upstream left `stream` unprocessed: refused with REFUSED_STREAM, or numbered
    /// above the last stream a GOAWAY promised to process.
    static func wasUnprocessed(stream: Int32, errorCode: UInt32?, goAwayLastStream: Int32?) -> Bool {
        if errorCode == NGHTTP2_REFUSED_STREAM.rawValue { return true }
        return goAwayLastStream.map { stream > $0 } ?? false
    }

    /// Whether the request may be sent again: unprocessed, nothing of the response relayed, no
    /// request body sent (it is not kept), the client still waiting. Again and again while the
    /// upstream makes progress (a routine GOAWAY after N requests, as nginx's keepalive_requests);
    /// once only when it refuses everything, so a refusing upstream cannot loop the proxy.
    static func mayResend(unprocessed: Bool, responseStarted: Bool, requestBodyBytes: Int, clientGone: Bool,
                          earlierRefusals: Int, connectionMadeProgress: Bool) -> Bool {
        unprocessed && !responseStarted && requestBodyBytes == 0 && !clientGone
            && (earlierRefusals == 0 || connectionMadeProgress)
    }
}

