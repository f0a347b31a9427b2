/// ALPN's protocol_name_list (RFC 7301 3.1): each name preceded by its one-byte length.
enum ALPNList {
    /// The wire form of `names`, as SSL_set_alpn_protos takes it.
    static func wire(_ names: [String]) -> [UInt8] {
        names.flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) }
    }

    /// Where each name lies in a list; a malformed tail is ignored.
    static func nameRanges(_ list: UnsafeBufferPointer<UInt8>) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        var index = 0
        while index < list.count {
            let start = index + 1, end = start + Int(list[index])
            guard end > start, end <= list.count else { break }
            ranges.append(start..<end)
            index = end
        }
        return ranges
    }
}

/// What the proxy's TLS server selects from the client's ALPN offer, as gateways differ: `offer`
/// takes h2 (unless HTTP/2 is off) or http/1.1 as the client prefers; `http1` downgrades to
/// http/1.1; `none` selects nothing, as gateways reported to break gRPC do ("missing selected ALPN
/// property", grpc/grpc#32172); `origin` lets the origin choose: the upstream is dialled during
/// the client's handshake with the client's offer, and the client gets what the origin selected
/// (nothing when it selected nothing), as gateways that connect upstream first do. Without a
/// selected protocol the client leg speaks HTTP/1.1.
public enum ALPNPolicy: String, CaseIterable, Sendable {
    case offer, http1, none, origin
}
