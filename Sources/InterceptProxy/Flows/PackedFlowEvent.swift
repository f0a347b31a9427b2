import FoundationEssentials

/// A flow event as the history keeps it: one byte array (one allocation) instead of a ~350-byte
/// struct of optionals plus a heap object per long string. The history holds 10,000 events, so this
/// is most of what the proxy's memory grows by under load. The headers are kept as they are: a
/// `FlowHeaders` is already packed (two allocations, shared, not copied), and reading its fields out
/// one by one through its public API would cost more than everything else here together.
///
/// Layout: kind (1 byte), time (the Double's bits, 8 bytes, little-endian), connection, each present
/// optional field in declaration order (but `headers`), then the presence bitmask of the optional
/// fields (4 bytes). Integers are zigzag varints, strings a varint byte count and their UTF-8,
/// `durationMs` its 8-byte bits, `cause` its raw value.
struct PackedFlowEvent: Sendable {
    private let bytes: [UInt8]
    private let headers: FlowHeaders?

    /// Packs `event`: one pass measures it, a second writes it into the exactly sized array (the one
    /// allocation; no scratch buffer, no copy).
    init(_ event: FlowEvent) {
        var counter = PackWriter(sink: ByteCounter())
        counter.write(event)
        bytes = [UInt8](unsafeUninitializedCapacity: counter.sink.count) { buffer, count in
            var writer = PackWriter(sink: ByteWriter(start: buffer.baseAddress!))
            writer.write(event)
            assert(writer.sink.written == buffer.count, "the same walk over the same event")
            count = writer.sink.written
        }
        headers = event.headers
    }

    /// The kind alone, without unpacking the rest (eviction counts responses).
    var type: FlowEvent.Kind { PackedKind.kind(bytes[0]) }

    /// The event as it was packed, field for field.
    var event: FlowEvent {
        bytes.withUnsafeBufferPointer { buffer in
            var reader = PackReader(bytes: buffer)
            var event = reader.readEvent()
            event.headers = headers
            return event
        }
    }
}

/// The kind's byte; exhaustive both ways, so a new kind does not compile until it has one.
private enum PackedKind {
    static func byte(_ kind: FlowEvent.Kind) -> UInt8 {
        switch kind {
        case .tunnelOpened: 0
        case .tlsEstablished: 1
        case .tlsFailed: 2
        case .request: 3
        case .response: 4
        case .error: 5
        case .tunnelClosed: 6
        }
    }

    static func kind(_ byte: UInt8) -> FlowEvent.Kind {
        switch byte {
        case 0: .tunnelOpened
        case 1: .tlsEstablished
        case 2: .tlsFailed
        case 3: .request
        case 4: .response
        case 5: .error
        default: .tunnelClosed  // 6: only `byte(_:)` writes this byte
        }
    }
}

/// Where `PackWriter` puts bytes: counted first, then written.
private protocol PackSink {
    mutating func append(_ byte: UInt8)
    mutating func append(_ bytes: UnsafeBufferPointer<UInt8>)
}

private struct ByteCounter: PackSink {
    var count = 0
    mutating func append(_ byte: UInt8) { count += 1 }
    mutating func append(_ bytes: UnsafeBufferPointer<UInt8>) { count += bytes.count }
}

/// Writes into memory `ByteCounter` measured (so it needs no bounds check of its own).
private struct ByteWriter: PackSink {
    let start: UnsafeMutablePointer<UInt8>
    var written = 0
    mutating func append(_ byte: UInt8) {
        start[written] = byte
        written += 1
    }
    mutating func append(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let source = bytes.baseAddress else { return }
        (start + written).update(from: source, count: bytes.count)
        written += bytes.count
    }
}

private struct PackWriter<Sink: PackSink> {
    var sink: Sink
    /// The bit of the next optional field in the presence mask.
    private var bit: UInt32 = 1
    private var mask: UInt32 = 0

    init(sink: Sink) { self.sink = sink }

    /// The optional fields in the order `PackReader.readEvent` reads them; the mask is known once
    /// they are written, so it comes last.
    mutating func write(_ event: FlowEvent) {
        sink.append(PackedKind.byte(event.type))
        fixed(event.time.timeIntervalSinceReferenceDate.bitPattern, bytes: 8)
        integer(event.connection)
        fields(event)
        fixed(UInt64(mask), bytes: 4)
    }

    private mutating func fields(_ event: FlowEvent) {
        optional(event.client) { $0.string($1) }
        optional(event.host) { $0.string($1) }
        optional(event.port) { $0.integer($1) }
        optional(event.sni) { $0.string($1) }
        optional(event.cause) { $0.string($1.rawValue) }
        optional(event.detail) { $0.string($1) }
        optional(event.tlsVersion) { $0.string($1) }
        optional(event.cipher) { $0.string($1) }
        optional(event.alpn) { $0.string($1) }
        optional(event.method) { $0.string($1) }
        optional(event.url) { $0.string($1) }
        optional(event.status) { $0.integer($1) }
        optional(event.bodyBytes) { $0.integer($1) }
        optional(event.requestBodyBytes) { $0.integer($1) }
        optional(event.httpVersion) { $0.string($1) }
        optional(event.streamId) { $0.integer($1) }
        optional(event.upstreamHttpVersion) { $0.string($1) }
        optional(event.durationMs) { $0.fixed($1.bitPattern, bytes: 8) }
        optional(event.count) { $0.integer($1) }
        optional(event.interception) { $0.string($1.rawValue) }
        optional(event.world) { $0.string($1.rawValue) }
        optional(event.ja4) { $0.string($1) }
        optional(event.tlsStack) { $0.string($1) }
        optional(event.destination) { $0.string($1) }
        optional(event.chain) { $0.string($1) }
    }

    @inline(__always)
    private mutating func optional<Value>(_ value: Value?, _ write: (inout PackWriter, Value) -> Void) {
        if let value {
            mask |= bit
            write(&self, value)
        }
        bit <<= 1
    }

    private mutating func varint(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            sink.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        sink.append(UInt8(rest))
    }

    /// Zigzag: small negative numbers stay short too.
    mutating func integer(_ value: Int) {
        let wide = Int64(value)
        varint(UInt64(bitPattern: (wide << 1) ^ (wide >> 63)))
    }

    /// Little-endian, the low `bytes` bytes.
    mutating func fixed(_ value: UInt64, bytes: Int) {
        for index in 0..<bytes { sink.append(UInt8(truncatingIfNeeded: value >> (8 * index))) }
    }

    mutating func string(_ text: String) {
        let utf8 = text.utf8
        varint(UInt64(utf8.count))
        // Native strings (all the proxy makes) are contiguous UTF-8: one copy, no per-byte loop.
        if utf8.withContiguousStorageIfAvailable({ sink.append($0) }) == nil {
            for byte in utf8 { sink.append(byte) }
        }
    }
}

private struct PackReader {
    let bytes: UnsafeBufferPointer<UInt8>
    private var offset = 0
    private var bit: UInt32 = 1
    private var mask: UInt32 = 0

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    mutating func readEvent() -> FlowEvent {
        let kind = PackedKind.kind(bytes[0])
        offset = bytes.count - 4
        mask = UInt32(fixed(bytes: 4))
        offset = 1
        let time = Date(timeIntervalSinceReferenceDate: Double(bitPattern: fixed(bytes: 8)))
        var event = FlowEvent(type: kind, connection: integer(), time: time)
        event.client = optional { $0.string() }
        event.host = optional { $0.string() }
        event.port = optional { $0.integer() }
        event.sni = optional { $0.string() }
        event.cause = optional { FlowCause(rawValue: $0.string()) } ?? nil
        event.detail = optional { $0.string() }
        event.tlsVersion = optional { $0.string() }
        event.cipher = optional { $0.string() }
        event.alpn = optional { $0.string() }
        event.method = optional { $0.string() }
        event.url = optional { $0.string() }
        event.status = optional { $0.integer() }
        event.bodyBytes = optional { $0.integer() }
        event.requestBodyBytes = optional { $0.integer() }
        event.httpVersion = optional { $0.string() }
        event.streamId = optional { $0.integer() }
        event.upstreamHttpVersion = optional { $0.string() }
        event.durationMs = optional { Double(bitPattern: $0.fixed(bytes: 8)) }
        event.count = optional { $0.integer() }
        event.interception = optional { Interception(rawValue: $0.string()) } ?? nil
        event.world = optional { World(rawValue: $0.string()) } ?? nil
        event.ja4 = optional { $0.string() }
        event.tlsStack = optional { $0.string() }
        event.destination = optional { $0.string() }
        event.chain = optional { $0.string() }
        return event
    }

    @inline(__always)
    private mutating func optional<Value>(_ read: (inout PackReader) -> Value) -> Value? {
        defer { bit <<= 1 }
        return mask & bit != 0 ? read(&self) : nil
    }

    private mutating func next() -> UInt8 {
        defer { offset += 1 }
        return bytes[offset]
    }

    private mutating func varint() -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = next()
            value |= UInt64(byte & 0x7f) << shift
            if byte < 0x80 { return value }
            shift += 7
        }
    }

    mutating func integer() -> Int {
        let zigzag = varint()
        return Int(Int64(bitPattern: (zigzag >> 1) ^ (0 &- (zigzag & 1))))
    }

    mutating func fixed(bytes: Int) -> UInt64 {
        var value: UInt64 = 0
        for index in 0..<bytes { value |= UInt64(next()) << (8 * UInt64(index)) }
        return value
    }

    mutating func string() -> String {
        let count = Int(varint())
        defer { offset += count }
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[offset..<offset + count]), as: UTF8.self)
    }
}
