/// A request line plus headers, as received (names keep their case; lookups ignore it).
public struct HTTPRequestHead: Sendable, Equatable, HTTPHeaderFields {
    public var method: String
    public var target: String
    public var version: String
    public var headers: [(name: String, value: String)]

    public static func == (lhs: HTTPRequestHead, rhs: HTTPRequestHead) -> Bool {
        lhs.method == rhs.method && lhs.target == rhs.target && lhs.version == rhs.version
            && lhs.headers.map(\.name) == rhs.headers.map(\.name) && lhs.headers.map(\.value) == rhs.headers.map(\.value)
    }

    /// The head as sent on the wire, with another request target if given (origin-form upstream).
    /// `dropped` holds lowercased names. Written straight into one byte array of the right size.
    func serialized(target: String? = nil, droppingHeaders dropped: Set<String> = []) -> [UInt8] {
        let target = target ?? self.target
        let kept = { (name: String) in dropped.isEmpty || !dropped.contains { name.equalsIgnoringASCIICase($0) } }
        var size = method.utf8.count + target.utf8.count + version.utf8.count + 6
        for (name, value) in headers { size += name.utf8.count + value.utf8.count + 4 }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(size)
        bytes += method.utf8
        bytes.append(32)
        bytes += target.utf8
        bytes.append(32)
        bytes += version.utf8
        bytes.append(13); bytes.append(10)
        for (name, value) in headers where kept(name) {
            bytes += name.utf8
            bytes.append(58); bytes.append(32)
            bytes += value.utf8
            bytes.append(13); bytes.append(10)
        }
        bytes.append(13); bytes.append(10)
        return bytes
    }

    /// HTTP/1.1 keeps the connection unless told to close; HTTP/1.0 only when asked to keep it.
    var keepAlive: Bool {
        if headerContains("Connection", token: "close") { return false }
        return version == "HTTP/1.1" || headerContains("Connection", token: "keep-alive")
    }
}

import FoundationEssentials

/// Why a request could not be parsed; each maps to the status the client gets. The response
/// decoder throws these too, and the pipeline answers any of them from upstream with a 502.
enum HTTPParseError: Error, Equatable {
    case headTooLarge
    /// More header fields than `HTTPRequestDecoder.maximumFieldCount`.
    case tooManyFields
    /// A trailer section beyond `HTTPRequestDecoder.maximumTrailerSize` bytes or the field count.
    case trailersTooLarge
    case malformed(String)
    /// Valid HTTP the proxy does not implement (a transfer coding other than chunked).
    case notImplemented(String)
    /// A protocol version other than HTTP/1.0 and HTTP/1.1 (HTTP/2 prior knowledge, for one).
    case versionNotSupported(String)

    var status: Int {
        switch self {
        case .headTooLarge, .tooManyFields, .trailersTooLarge: return 431
        case .malformed: return 400
        case .notImplemented: return 501
        case .versionNotSupported: return 505
        }
    }

    /// The flow event's cause.
    var cause: FlowCause {
        switch self {
        case .headTooLarge, .tooManyFields, .trailersTooLarge: return .headTooLarge
        case .malformed: return .badRequest
        case .notImplemented: return .notImplemented
        case .versionNotSupported: return .versionNotSupported
        }
    }

    var reason: String {
        switch self {
        case .headTooLarge: return "request head larger than \(HTTPRequestDecoder.maximumHeadSize / 1024) KiB"
        case .tooManyFields: return "request head with more than \(HTTPRequestDecoder.maximumFieldCount) header fields"
        case .trailersTooLarge:
            return "request trailer section larger than \(HTTPRequestDecoder.maximumTrailerSize / 1024) KiB or with more than \(HTTPRequestDecoder.maximumFieldCount) fields"
        case let .malformed(detail), let .notImplemented(detail), let .versionNotSupported(detail): return detail
        }
    }
}
