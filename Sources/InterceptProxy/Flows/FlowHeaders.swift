/// A flow event's header fields, each a `[name, value]` pair, in the order they crossed the proxy.
/// Packed: one string holds every name and value back to back, one array says where each ends. The
/// history keeps up to 10,000 events; as an array of two-string arrays the fields were most of an
/// event's memory (an allocation per field, another per long value) and most of its cost to build
/// and to free, for every request and response. Encodes as `[["name", "value"], ...]`.
public struct FlowHeaders: RandomAccessCollection, Sendable, Equatable, ExpressibleByArrayLiteral {
    private var text = ""
    /// The UTF-8 end offset of each name and each value: two per field.
    private var ends: [UInt32] = []

    public init() {}

    /// Fields as the decoders produce them, written into one exactly sized string in one pass
    /// (appending field by field cost more than parsing them): the history keeps up to 10,000.
    public init(_ fields: some Collection<(name: String, value: String)>) {
        let total = fields.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count }
        var ends: [UInt32] = []
        ends.reserveCapacity(2 * fields.count)
        text = String(unsafeUninitializedCapacity: total) { buffer in
            var offset = 0
            func copy(_ part: String) {
                let copied = part.utf8.withContiguousStorageIfAvailable { source in
                    if let from = source.baseAddress, source.count > 0 {
                        (buffer.baseAddress! + offset).update(from: from, count: source.count)
                    }
                    return source.count
                }
                if let copied {
                    offset += copied
                } else {  // a bridged or small string without contiguous UTF-8
                    for byte in part.utf8 {
                        buffer[offset] = byte
                        offset += 1
                    }
                }
                ends.append(UInt32(offset))
            }
            for field in fields {
                copy(field.name)
                copy(field.value)
            }
            return offset
        }
        self.ends = ends
    }

    /// `[name, value]` pairs; anything else is not a header field and is left out.
    public init(pairs: some Sequence<[String]>) {
        for pair in pairs where pair.count == 2 { append(name: pair[0], value: pair[1]) }
    }

    public init(arrayLiteral pairs: [String]...) {
        self.init(pairs: pairs)
    }

    public mutating func append(name: String, value: String) {
        text += name
        ends.append(UInt32(text.utf8.count))
        text += value
        ends.append(UInt32(text.utf8.count))
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { ends.count / 2 }

    /// `[name, value]`.
    public subscript(position: Int) -> [String] {
        [part(2 * position), part(2 * position + 1)]
    }

    /// UTF-8 bytes of the names and values (for the history's size estimate).
    var utf8Count: Int { text.utf8.count }

    private func part(_ index: Int) -> String {
        let start = index == 0 ? 0 : Int(ends[index - 1])
        let utf8 = text.utf8
        let lower = utf8.index(utf8.startIndex, offsetBy: start)
        let upper = utf8.index(utf8.startIndex, offsetBy: Int(ends[index]))
        return String(text[lower..<upper])
    }
}

extension FlowHeaders: Codable {
    public init(from decoder: Decoder) throws {
        let pairs = try decoder.singleValueContainer().decode([[String]].self)
        guard pairs.allSatisfy({ $0.count == 2 }) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "headers: each field must be [name, value]"))
        }
        self.init(pairs: pairs)
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(Array(self))
    }
}

extension FlowHeaders: CustomStringConvertible {
    public var description: String { Array(self).description }
}
