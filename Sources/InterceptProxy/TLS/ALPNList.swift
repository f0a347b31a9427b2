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
