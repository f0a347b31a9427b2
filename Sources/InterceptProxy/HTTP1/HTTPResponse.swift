/// A complete response the proxy answers with itself (errors, offline mode).
struct HTTPResponse {
    var status: Int
    var headers: [(String, String)] = []
    var body: [UInt8] = []
    var closeConnection = false

    static let reasons: [Int: String] = [
        200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 407: "Proxy Authentication Required", 408: "Request Timeout", 421: "Misdirected Request",
        431: "Request Header Fields Too Large", 501: "Not Implemented", 502: "Bad Gateway",
        503: "Service Unavailable", 504: "Gateway Timeout", 505: "HTTP Version Not Supported", 508: "Loop Detected",
    ]

    /// A plain-text response whose body says what happened, for people reading curl's output.
    static func text(_ status: Int, _ message: String, close: Bool = false) -> HTTPResponse {
        HTTPResponse(status: status, headers: [("Content-Type", "text/plain; charset=utf-8")],
                     body: Array((message + "\n").utf8), closeConnection: close)
    }

    /// The bytes on the wire. HEAD responses keep Content-Length but carry no body.
    func serialized(forHEAD: Bool = false) -> [UInt8] {
        var head = "HTTP/1.1 \(status) \(Self.reasons[status] ?? "Status")\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "Content-Length: \(body.count)\r\n"
        head += closeConnection ? "Connection: close\r\n" : ""
        head += "Via: 1.1 intercept-proxy\r\n\r\n"
        return Array(head.utf8) + (forHEAD ? [] : body)
    }
}
