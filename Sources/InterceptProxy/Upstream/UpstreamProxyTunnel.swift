/// The step before TLS when `--upstream-proxy` is set: a CONNECT to the target through that
/// proxy, and its answer read with the same strict decoder as any response. Only a 2xx opens the
/// tunnel (RFC 9110 9.3.6); what follows the answer's head belongs to the tunnel.
struct UpstreamProxyTunnel {
    enum Step: Equatable {
        case needsMore
        /// The tunnel is open; `rest` arrived after the answer (the origin's first bytes).
        case established(rest: [UInt8])
        case refused(String)
    }

    let target: (host: String, port: Int)
    private var answer = HTTPResponseDecoder()

    init(target: (host: String, port: Int)) {
        self.target = target
        answer.expectResponse(toMethod: "CONNECT")
    }

    /// The request that asks for the tunnel.
    var request: [UInt8] {
        let authority = HTTPWire.authority(host: target.host, port: target.port, defaultPort: nil)
        return HTTPRequestHead(method: "CONNECT", target: authority, version: "HTTP/1.1", headers: [("Host", authority)]).serialized()
    }

    /// Reads the upstream proxy's answer.
    mutating func receive(_ bytes: [UInt8]) -> Step {
        let events: [HTTPResponseDecoder.Event]
        do { events = try answer.feed(bytes) } catch let error as HTTPParseError {
            return .refused("its answer to CONNECT is not HTTP: \(error.reason)")
        } catch {
            return .refused("its answer to CONNECT is not HTTP: \(error)")
        }
        for case let .head(head, _) in events where !(100..<200).contains(head.status) {
            guard (200..<300).contains(head.status) else {
                return .refused(head.reason.isEmpty ? "\(head.version) \(head.status)" : "\(head.version) \(head.status) \(head.reason)")
            }
            // A 2xx to CONNECT has no body (RFC 9110 9.3.6): everything after the head is the tunnel's.
            return .established(rest: answer.takeBuffered())
        }
        return .needsMore
    }
}
