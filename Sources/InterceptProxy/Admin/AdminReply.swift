import FoundationEssentials
import EssentialsSupport

/// A control API answer: JSON (or the CA's bytes) with its status, as HTTP/1.1.
struct AdminReply: Sendable {
    var status: Int
    var contentType = "application/json"
    var body: [UInt8]
    var extraHeaders: [(String, String)] = []

    static let reasons: [Int: String] = [
        200: "OK", 202: "Accepted", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
        408: "Request Timeout", 409: "Conflict", 413: "Content Too Large", 415: "Unsupported Media Type",
        431: "Request Header Fields Too Large", 500: "Internal Server Error", 501: "Not Implemented",
        503: "Service Unavailable", 505: "HTTP Version Not Supported",
    ]

    /// A JSON object with sorted keys.
    static func json(_ status: Int, _ object: [String: Any]) -> AdminReply {
        let data = Data(JSONText.encode(object).utf8)
        return AdminReply(status: status, body: Array(data) + [UInt8(ascii: "\n")])
    }

    /// `{"error": message, "field": field}`: a harness can tell which part of its request was wrong.
    static func error(_ status: Int, field: String, _ message: String) -> AdminReply {
        json(status, ["error": message, "field": field])
    }

    func serialized(keepAlive: Bool = false) -> [UInt8] {
        var head = "HTTP/1.1 \(status) \(Self.reasons[status] ?? "Status")\r\nContent-Type: \(contentType)\r\n"
        for (name, value) in extraHeaders { head += "\(name): \(value)\r\n" }
        head += "Content-Length: \(body.count)\r\nCache-Control: no-store\r\n"
        head += keepAlive ? "\r\n" : "Connection: close\r\n\r\n"
        return Array(head.utf8) + body
    }
}
