import FoundationEssentials

/// A flow event as the history keeps it: one byte array (one allocation) instead of a ~350-byte
/// struct of optionals plus a heap object per long string and two for the headers. The history
/// holds 10,000 events, so this is most of what the proxy's memory grows by under load.
///
/// Layout: kind (1 byte), a presence bitmask of the optional fields (4 bytes, little-endian), time
/// (the Double's bits, 8 bytes), connection, then each present optional field in declaration order.
/// Integers are zigzag varints, strings a varint byte count and their UTF-8, `durationMs` its 8-byte
/// bits, `cause` its raw value, headers a varint field count and each name and value as a string.
struct PackedFlowEvent: Sendable {
    private let bytes: [UInt8]

    /// Packs `event`; `scratch` is a reusable buffer (its capacity is kept between calls) so that
    /// packing allocates once, the exactly sized result.
    init(_ event: FlowEvent, scratch: inout [UInt8]) {
        scratch.removeAll(keepingCapacity: true)
        var writer = PackWriter(buffer: scratch)
        scratch = []  // the writer owns the buffer now: appending does not copy it
        writer.write(event)
        scratch = writer.buffer
        bytes = [UInt8](unsafeUninitializedCapacity: scratch.count) { target, count in
            count = scratch.withUnsafeBufferPointer { target.initialize(fromContentsOf: $0) }
        }
    }

    /// The kind alone, without unpacking the rest (eviction counts responses).
    var type: FlowEvent.Kind { PackedKind.kind(bytes[0]) }

    /// The event as it was packed, field for field.
    var event: FlowEvent {
        bytes.withUnsafeBufferPointer { buffer in
            var reader = PackReader(bytes: buffer)
            return reader.readEvent()
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
        default: .tunnelClosed
        }
    }
}

private struct PackWriter {
    var buffer: [UInt8]
    /// The bit of the next optional field in the presence mask.
    private var bit: UInt32 = 1
    private var mask: UInt32 = 0

    init(buffer: [UInt8]) { self.buffer = buffer }

    /// The optional fields in the order `PackReader.readEvent` reads them.
    mutating func write(_ event: FlowEvent) {
        buffer.append(PackedKind.byte(event.type))
        let maskOffset = buffer.count
        for _ in 0..<4 { buffer.append(0) }  // the mask, filled in at the end
        fixed(event.time.timeIntervalSinceReferenceDate.bitPattern)
        integer(event.connection)
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
        optional(event.headers) { $0.headers($1) }
        optional(event.bodyBytes) { $0.integer($1) }
        optional(event.requestBodyBytes) { $0.integer($1) }
        optional(event.httpVersion) { $0.string($1) }
        optional(event.streamId) { $0.integer($1) }
        optional(event.upstreamHttpVersion) { $0.string($1) }
        optional(event.durationMs) { $0.fixed($1.bitPattern) }
        optional(event.count) { $0.integer($1) }
        for index in 0..<4 { buffer[maskOffset + index] = UInt8(truncatingIfNeeded: mask >> (8 * index)) }
    }

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
            buffer.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        buffer.append(UInt8(rest))
    }

    /// Zigzag: small negative numbers stay short too.
    mutating func integer(_ value: Int) {
        let wide = Int64(value)
        varint(UInt64(bitPattern: (wide << 1) ^ (wide >> 63)))
    }

    mutating func fixed(_ value: UInt64) {
        for index in 0..<8 { buffer.append(UInt8(truncatingIfNeeded: value >> (8 * index))) }
    }

    mutating func string(_ text: String) {
        var text = text
        text.withUTF8 { utf8 in
            varint(UInt64(utf8.count))
            buffer.append(contentsOf: utf8)
        }
    }

    mutating func headers(_ headers: FlowHeaders) {
        varint(UInt64(headers.count))
        for field in headers {
            string(field[0])
            string(field[1])
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
        offset = 1
        for index in 0..<4 { mask |= UInt32(next()) << (8 * index) }
        let time = Date(timeIntervalSinceReferenceDate: Double(bitPattern: fixed()))
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
        event.headers = optional { $0.headers() }
        event.bodyBytes = optional { $0.integer() }
        event.requestBodyBytes = optional { $0.integer() }
        event.httpVersion = optional { $0.string() }
        event.streamId = optional { $0.integer() }
        event.upstreamHttpVersion = optional { $0.string() }
        event.durationMs = optional { Double(bitPattern: $0.fixed()) }
        event.count = optional { $0.integer() }
        return event
    }

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

    mutating func fixed() -> UInt64 {
        var value: UInt64 = 0
        for index in 0..<8 { value |= UInt64(next()) << (8 * UInt64(index)) }
        return value
    }

    mutating func string() -> String {
        let count = Int(varint())
        defer { offset += count }
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[offset..<offset + count]), as: UTF8.self)
    }

    mutating func headers() -> FlowHeaders {
        var headers = FlowHeaders()
        for _ in 0..<varint() {
            let name = string()
            headers.append(name: name, value: string())
        }
        return headers
    }
}
