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
    func serialized(target: String? = nil, droppingHeaders dropped: Set<String> = []) -> [UInt8] {
        var text = "\(method) \(target ?? self.target) \(version)\r\n"
        for (name, value) in headers where !dropped.contains(name.lowercased()) { text += "\(name): \(value)\r\n" }
        return Array((text + "\r\n").utf8)
    }

    /// HTTP/1.1 keeps the connection unless told to close; HTTP/1.0 only when asked to keep it.
    var keepAlive: Bool {
        if headerContains("Connection", token: "close") { return false }
        return version == "HTTP/1.1" || headerContains("Connection", token: "keep-alive")
    }
}

import Foundation

/// Why a request could not be parsed; each maps to the status the client gets.
enum HTTPParseError: Error, Equatable {
    case headTooLarge
    case malformed(String)

    var status: Int {
        switch self {
        case .headTooLarge: return 431
        case .malformed: return 400
        }
    }

    var reason: String {
        switch self {
        case .headTooLarge: return "request head larger than \(HTTPRequestDecoder.maximumHeadSize / 1024) KiB"
        case let .malformed(detail): return detail
        }
    }
}
