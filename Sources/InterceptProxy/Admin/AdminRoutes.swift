import CertForge
import FoundationEssentials
import EssentialsSupport

/// The control API's endpoints, each a thin layer over the InterceptProxy operation of the same
/// name (see InterceptProxy+Control.swift), so the HTTP API and the Swift API cannot drift apart.
final class AdminRoutes: @unchecked Sendable {
    /// Called with the answer and, for a shutdown, what to run once the answer is sent.
    typealias Completion = @Sendable (AdminReply, (@Sendable () -> Void)?) -> Void

    private weak var proxy: InterceptProxy?

    init(proxy: InterceptProxy) {
        self.proxy = proxy
    }

    static let certificateFormats: [String: (TrustAnchorFormat, String)] = [
        "ca.pem": (.pem, "application/x-pem-file"), "ca.crt": (.crt, "application/x-x509-ca-cert"),
        "ca.der": (.der, "application/pkix-cert"), "ca.p12": (.p12, "application/x-pkcs12"),
    ]

    func handle(_ head: HTTPRequestHead, body: [UInt8], reply: @escaping Completion) {
        guard let proxy else { return reply(AdminReply.error(503, field: "proxy", "the proxy is stopping"), nil) }
        guard head.target.hasPrefix("/") else {
            return reply(AdminReply.error(400, field: "target", "the control API takes origin-form targets (/v1/...), got '\(head.target.prefix(200))'"), nil)
        }
        if let refusal = Self.browserGuard(head, listening: proxy.adminAddress) { return reply(refusal, nil) }
        let parts = head.target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = String(parts[0])
        let query: [(String, String)]
        do { query = try Self.query(parts.count > 1 ? String(parts[1]) : "") } catch let error as AdminInputError {
            return reply(error.reply, nil)
        } catch { return reply(AdminReply.error(400, field: "query", "\(error)"), nil) }
        let isFlowView = FlowView.paths.contains(path)
        let name = path.hasPrefix("/v1/") ? String(path.dropFirst(4)) : ""
        let allowed = isFlowView ? ["GET"] : Self.methods[name] ?? Self.methods[Self.certificate(name) == nil ? "" : "ca"]
        guard let allowed else {
            return reply(AdminReply.error(404, field: "path", "no endpoint \(path.prefix(200)); the control API's are under /v1: health, ready, ca.pem, ca.crt, ca.der, ca.p12, public-ca.pem (and .crt, .der, .p12), flows, reset, failures, map-remote, bypass, world, shutdown; the flow view is at /ui"), nil)
        }
        guard allowed.contains(head.method) else {
            var answer = AdminReply.error(405, field: "method", "\(path) takes \(allowed.joined(separator: ", ")), not \(head.method.prefix(20))")
            answer.extraHeaders = [("Allow", allowed.joined(separator: ", "))]
            return reply(answer, nil)
        }
        if name != "flows", let (key, _) = query.first {
            return reply(AdminReply.error(400, field: key, "\(path) takes no query parameter '\(key.prefix(100))'"), nil)
        }
        if isFlowView, let page = FlowView.reply(for: path) { return reply(page, nil) }
        do {
            switch (head.method, name) {
            case ("GET", "health"): reply(AdminReply.json(200, ["status": "ok"]), nil)
            case ("GET", "ready"): reply(AdminReply(status: 200, body: Array(proxy.readyJSON) + [10]), nil)
            case ("GET", _) where Self.certificate(name) != nil:
                let (format, type, isPublic) = Self.certificate(name)!
                let body = try isPublic ? proxy.publicRootCertificate(format: format) : proxy.rootCertificate(format: format)
                reply(AdminReply(status: 200, contentType: type, body: body,
                                 extraHeaders: [("Content-Disposition", "attachment; filename=\"intercept-proxy-\(name)\"")]), nil)
            case ("GET", "flows"): try flows(proxy, query: query, reply: reply)
            case ("POST", "reset"):
                proxy.reset()
                reply(AdminReply.json(200, ["status": "reset", "next": proxy.lastFlowSequence]), nil)
            case (_, "failures"): reply(try failures(proxy, method: head.method, body: body), nil)
            case (_, "map-remote"): reply(try mapRemote(proxy, method: head.method, body: body), nil)
            case (_, "bypass"): reply(try bypass(proxy, method: head.method, body: body), nil)
            case (_, "world"): reply(try world(proxy, method: head.method, body: body), nil)
            case ("POST", "shutdown"):
                let stop = proxy.onShutdownRequest
                reply(AdminReply.json(202, ["status": "stopping"]), stop)
            default: reply(AdminReply.error(405, field: "method", "\(path) does not take \(head.method)"), nil)
            }
        } catch let error as AdminInputError {
            reply(error.reply, nil)
        } catch {
            reply(AdminReply.error(500, field: "proxy", "\(error)"), nil)
        }
    }

    /// What a web page in a browser on this machine could otherwise do (the flow view made the
    /// control API a browser's neighbour): a DNS-rebound name reaching a loopback listener, refused
    /// by its Host; a cross-site form or fetch changing state, refused by its Origin. Harnesses send
    /// neither a foreign Host (on loopback) nor an Origin.
    static func browserGuard(_ head: HTTPRequestHead, listening address: SocketAddress?) -> AdminReply? {
        let host = head.header("Host") ?? ""
        let name = host.hasPrefix("[") ? String(host.prefix { $0 != "]" }.dropFirst()) : String(host.prefix { $0 != ":" })
        if let address, ClientAllowList.isLoopback(listenHost: address.host),
           !name.isEmpty, name.lowercased() != "localhost", !SocketAddress.isIPLiteral(name) {
            return AdminReply.error(403, field: "Host", "the control API on loopback answers only a Host of localhost or an IP address, not '\(host.prefix(100))' (DNS rebinding)")
        }
        if head.method != "GET", let origin = head.header("Origin"), origin != "http://\(host)" {
            return AdminReply.error(403, field: "Origin", "a request from the web page \(origin.prefix(100)) may not change the proxy; send it without an Origin (curl, a harness)")
        }
        return nil
    }

    private static let methods: [String: [String]] = [
        "health": ["GET"], "ready": ["GET"], "ca": ["GET"], "flows": ["GET"], "reset": ["POST"],
        "failures": ["GET", "PUT", "DELETE"], "map-remote": ["GET", "PUT", "DELETE"], "bypass": ["GET", "PUT", "DELETE"],
        "world": ["GET", "PUT"], "shutdown": ["POST"],
    ]

    /// `ca.pem` (the gateway's root) or `public-ca.pem` (the public stand-in's), in each format.
    private static func certificate(_ name: String) -> (TrustAnchorFormat, String, isPublic: Bool)? {
        let isPublic = name.hasPrefix("public-")
        guard let (format, type) = certificateFormats[isPublic ? String(name.dropFirst(7)) : name] else { return nil }
        return (format, type, isPublic)
    }

    /// `GET /v1/flows?since=N&wait=S&limit=L`: `{"events": [{"sequence": n, "event": {...}}], "next": n}`.
    private func flows(_ proxy: InterceptProxy, query: [(String, String)], reply: @escaping Completion) throws {
        var since = 0, wait = 0.0, limit = InterceptProxy.maximumFlowPageCount
        for (key, value) in query {
            switch key {
            case "since": since = try Self.number(value, field: key, in: 0...Int.max)
            case "limit": limit = try Self.number(value, field: key, in: 1...InterceptProxy.maximumFlowPageCount)
            case "wait":
                guard let seconds = Double(value), seconds.isFinite, (0...InterceptProxy.maximumFlowWait).contains(seconds) else {
                    throw AdminInputError(field: key, "wait must be 0 to \(Int(InterceptProxy.maximumFlowWait)) seconds, got '\(value.prefix(40))'")
                }
                wait = seconds
            default: throw AdminInputError(field: key, "flows takes since, wait and limit, not '\(key.prefix(100))'")
            }
        }
        proxy.flows(since: since, wait: wait, limit: limit) { page in
            var body = Array("{\"events\":[".utf8)
            for (index, item) in page.events.enumerated() {
                if index > 0 { body.append(UInt8(ascii: ",")) }
                body += Array("{\"event\":".utf8) + (proxy.core.recorder.line(for: item.event)?.dropLast() ?? Array("{}".utf8))
                body += Array(",\"sequence\":\(item.sequence)}".utf8)
            }
            // `last`: the newest sequence so far; below `since`, a new proxy numbers from 1 again.
            body += Array("],\"last\":\(proxy.lastFlowSequence),\"next\":\(page.next)}\n".utf8)
            reply(AdminReply(status: 200, body: body), nil)
        }
    }

    /// GET lists the rules, PUT replaces them (`{"rules": ["HOSTPATTERN=MODE", ...]}`, the `--failure`
    /// syntax; a bare array too), DELETE removes them all.
    private func failures(_ proxy: InterceptProxy, method: String, body: [UInt8]) throws -> AdminReply {
        switch method {
        case "PUT": proxy.failureRules = try Self.rules(body) { try FailureRule(parsing: $0) }
        case "DELETE": proxy.failureRules = []
        default: break
        }
        return AdminReply.json(200, ["rules": proxy.failureRules.map(\.text)])
    }

    /// As `failures`, in the `--map-remote` syntax (`HOST[:PORT]=ADDRESS:PORT`).
    private func mapRemote(_ proxy: InterceptProxy, method: String, body: [UInt8]) throws -> AdminReply {
        switch method {
        case "PUT":
            let rules = try Self.rules(body) { try MapRemoteRule(parsing: $0) }
            if proxy.configuration.offline && !rules.isEmpty {
                throw AdminInputError(status: 409, field: "rules", "the proxy runs with --offline and contacts no upstream: map-remote rules would have no effect")
            }
            proxy.mapRemoteRules = rules
        case "DELETE": proxy.mapRemoteRules = []
        default: break
        }
        return AdminReply.json(200, ["rules": proxy.mapRemoteRules.map(\.text)])
    }

    /// As `failures`, in the `--bypass` syntax (a host glob: `*.bank.test`).
    private func bypass(_ proxy: InterceptProxy, method: String, body: [UInt8]) throws -> AdminReply {
        switch method {
        case "PUT": proxy.bypassRules = try Self.rules(body) { try BypassRule(parsing: $0) }
        case "DELETE": proxy.bypassRules = []
        default: break
        }
        return AdminReply.json(200, ["rules": proxy.bypassRules.map(\.pattern)])
    }

    /// GET names the world; PUT `{"world": "direct"}` (or "gateway") changes it for new tunnels.
    private func world(_ proxy: InterceptProxy, method: String, body: [UInt8]) throws -> AdminReply {
        if method == "PUT" {
            guard let object = JSONText.decode(body) as? [String: Any], object.count == 1, let text = object["world"] as? String else {
                throw AdminInputError(field: "body", "the body must be {\"world\": \"gateway\"} or {\"world\": \"direct\"}")
            }
            do { proxy.world = try World(parsing: text) } catch let error as ConfigurationError {
                throw AdminInputError(field: "world", error.description)
            }
        }
        return AdminReply.json(200, ["world": proxy.world.rawValue])
    }

    /// The rules of a PUT body, each parsed by `parse`; an error names the body or the rule (`rules[2]`).
    private static func rules<Rule>(_ body: [UInt8], parse: (String) throws -> Rule) throws -> [Rule] {
        guard let value = JSONText.decode(body) else {
            throw AdminInputError(field: "body", "the body must be JSON: {\"rules\": [\"...\", ...]}")
        }
        let list: Any? = (value as? [String: Any]).map { object -> Any? in
            object.keys.contains { $0 != "rules" } ? nil : object["rules"]
        } ?? value
        guard let items = list as? [Any] else {
            throw AdminInputError(field: "rules", "the body must be {\"rules\": [\"...\", ...]} (a list of strings, nothing else)")
        }
        guard items.count <= RuntimeRules.maximumCount else {
            throw AdminInputError(field: "rules", "at most \(RuntimeRules.maximumCount) rules, got \(items.count)")
        }
        return try items.enumerated().map { index, item in
            guard let text = item as? String else { throw AdminInputError(field: "rules[\(index)]", "each rule is a string") }
            do { return try parse(text) } catch let error as ConfigurationError {
                throw AdminInputError(field: "rules[\(index)]", error.description)
            }
        }
    }

    private static func number(_ text: String, field: String, in range: ClosedRange<Int>) throws -> Int {
        guard let value = Int(text), range.contains(value), !text.hasPrefix("+") else {
            throw AdminInputError(field: field, "\(field) must be a whole number from \(range.lowerBound)\(range.upperBound == .max ? " up" : " to \(range.upperBound)"), got '\(text.prefix(40))'")
        }
        return value
    }

    /// `a=1&b=2`, percent-decoded; a key given twice is an error (which one counts would be a guess).
    static func query(_ text: String) throws -> [(String, String)] {
        guard !text.isEmpty else { return [] }
        var seen = Set<String>()
        return try text.split(separator: "&", omittingEmptySubsequences: false).map { pair in
            let sides = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard let key = sides[0].percentDecoded, !key.isEmpty,
                  let value = (sides.count > 1 ? sides[1] : "").replacing("+", with: " ").percentDecoded else {
                throw AdminInputError(field: "query", "malformed query '\(text.prefix(200))'")
            }
            guard seen.insert(key).inserted else { throw AdminInputError(field: key, "\(key.prefix(100)) given more than once") }
            return (key, value)
        }
    }
}

/// A bad control API request: its status (4xx) and the field at fault.
struct AdminInputError: Error {
    var status = 400
    let field: String
    let message: String

    init(status: Int = 400, field: String, _ message: String) {
        self.status = status
        self.field = field
        self.message = message
    }

    var reply: AdminReply { AdminReply.error(status, field: field, message) }
}

extension FailureRule {
    /// The `--failure` form.
    public var text: String { "\(pattern)=\(mode.rawValue)" }
}

extension MapRemoteRule {
    /// The `--map-remote` form.
    public var text: String {
        let bracketed = { (host: String) in host.contains(":") ? "[\(host)]" : host }
        return "\(bracketed(host))\(port.map { ":\($0)" } ?? "")=\(bracketed(address)):\(addressPort)"
    }
}
