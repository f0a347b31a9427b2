import FoundationEssentials
import EssentialsSupport

/// The user and password a client must send as `Proxy-Authorization: Basic` (`--proxy-auth`).
/// Its description and mirror hide the password, so it can be printed, dumped or logged.
public struct ProxyCredentials: Sendable, Equatable, CustomStringConvertible, CustomReflectable {
    public let user: String
    public let password: String
    /// `user:password` as UTF-8: what a valid header's token decodes to (RFC 7617).
    let expected: [UInt8]

    public init(user: String, password: String) throws {
        guard !user.isEmpty, !password.isEmpty, !user.contains(":") else {
            throw ConfigurationError("--proxy-auth takes USER:PASS with a non-empty user (no colon in it) and password")
        }
        guard !(user + password).unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) else {
            throw ConfigurationError("--proxy-auth: control characters are not allowed in the user or password")
        }
        self.user = user
        self.password = password
        expected = Array("\(user):\(password)".utf8)
    }

    /// `USER:PASS`, split at the first colon (the password may contain colons, the user may not).
    public init(parsing text: String) throws {
        guard let colon = text.firstIndex(of: ":") else {
            throw ConfigurationError("--proxy-auth takes USER:PASS, got a value without a colon")
        }
        try self.init(user: String(text[..<colon]), password: String(text[text.index(after: colon)...]))
    }

    public var description: String { "\(user):***" }
    /// `dump` and debuggers show the same.
    public var customMirror: Mirror { Mirror(self, children: ["user": user, "password": "***"]) }

    enum Verdict: Equatable {
        case accepted
        /// No Proxy-Authorization field.
        case missing
        /// One that is not Basic, not valid base64, or holds other credentials (or several fields).
        case wrong(String)
    }

    /// Checks a request's Proxy-Authorization fields. The credentials are compared in constant time
    /// (for their length), so the time taken does not tell how much of a guess was right.
    func verdict(for head: HTTPRequestHead) -> Verdict {
        let fields = head.headers.filter { $0.name.equalsIgnoringASCIICase("Proxy-Authorization") }
        guard let field = fields.first else { return .missing }
        guard fields.count == 1 else { return .wrong("\(fields.count) Proxy-Authorization fields") }
        let parts = field.value.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "basic" else { return .wrong("not the Basic scheme") }
        guard let decoded = Data(base64Encoded: parts[1].trimmingWhitespace()) else {
            return .wrong("the Basic credentials are not valid base64")
        }
        return Self.constantTimeEqual(Array(decoded), expected) ? .accepted : .wrong("wrong user or password")
    }

    static func constantTimeEqual(_ given: [UInt8], _ expected: [UInt8]) -> Bool {
        var difference: UInt8 = given.count == expected.count ? 0 : 1
        for index in expected.indices { difference |= expected[index] ^ (index < given.count ? given[index] : 0) }
        return difference == 0
    }
}

extension ClientConnection {
    static let proxyAuthRealm = "intercept-proxy"

    /// For a request to the proxy itself (CONNECT or absolute-form): whether it may proceed. When
    /// not, the client has its `407` with a challenge, the event is recorded, and the connection closes.
    func authorizesProxyRequest(_ head: HTTPRequestHead) -> Bool {
        // A redirected client that does not know it meets a proxy (an origin-form request) cannot
        // authenticate (--transparent); a CONNECT or absolute URL is a proxy request, redirected or not.
        guard let credentials = core.configuration.proxyAuth, redirectedTo == nil || !head.target.hasPrefix("/") else { return true }
        let cause: FlowCause
        let detail: String
        switch credentials.verdict(for: head) {
        case .accepted:
            return true
        case .missing:
            (cause, detail) = (.proxyAuthRequired, "\(head.method) without Proxy-Authorization; this proxy requires --proxy-auth credentials")
        case let .wrong(reason):
            (cause, detail) = (.proxyAuthFailed, "\(head.method) with Proxy-Authorization refused: \(reason)")
        }
        recordError(cause, detail, status: 407, url: String(head.target.prefix(200)))
        var response = HTTPResponse.text(407, "intercept-proxy: proxy authentication required; send the credentials given to --proxy-auth (for example curl --proxy-user USER:PASS, or http://USER:PASS@host:port as the proxy URL)", close: true)
        response.headers.append(("Proxy-Authenticate", "Basic realm=\"\(Self.proxyAuthRealm)\""))
        sendToClient(response.serialized())
        closeClient()
        return false
    }
}
