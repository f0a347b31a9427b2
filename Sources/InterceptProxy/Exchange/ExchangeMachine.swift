import FoundationEssentials

/// The decisions of one exchange, whichever HTTP version either side speaks: events in (response
/// parts, an upstream failure, the response timer, the client leaving), actions out (what the
/// client leg writes, what happens to the upstream, what is recorded, the timer). It owns the
/// rules: interim responses reach HTTP/1.1 clients only, HEAD/204/304 have no body, 502 before the
/// head and an abort after it, 504 when the upstream is silent for the response timeout (unless
/// the client has not taken what it was sent), one end on record per request. No loop and no I/O:
/// `HTTPExchange` carries the actions out, and tests drive it as a table.
struct ExchangeMachine {
    enum State: Equatable {
        /// The request goes upstream (or waits for a connection); nothing came back yet.
        case awaitingResponse
        /// The final head is written; the body follows.
        case responding(status: Int)
        /// The end is on record.
        case ended(End)
    }

    enum End: Equatable {
        case completed
        /// Answered with 502/504 before a response started.
        case failed
        /// Cut after the head: the client sees a broken transfer.
        case aborted
        /// The connection (or an h2 client's reset) ended it.
        case cut
    }

    enum Event {
        /// The request is on its way upstream: the response timer starts (it also bounds the wait
        /// for a connection).
        case forwarded
        case upstreamAttached(version: String)
        case response(ResponsePart)
        case requestBody(bytes: Int)
        case upstreamFailed(UpstreamFailure)
        /// The upstream's certificate failed verification and the gateway answers with this page
        /// instead of a 502 (`--untrusted-upstream block`).
        case upstreamBlocked(UpstreamFailure, HTTPResponse)
        /// The response timer expired; `clientBacklogged`: the client has response bytes it has
        /// not taken, so the wait is on it, not on the upstream.
        case responseTimerFired(clientBacklogged: Bool)
        /// An answer the proxy gives itself (offline, catalogue, refusals).
        case answer(HTTPResponse)
        /// The client reset its h2 stream before the response ended.
        case clientReset(errorName: String)
        /// The connection is going: the client left, the proxy stopped, or refused another request.
        case connectionEnded(FlowCause, String, status: Int?, recorded: Bool)
    }

    enum Action {
        /// An interim (1xx) response, for HTTP/1.1 clients.
        case writeInterim(HTTPResponseHead, raw: [UInt8]?)
        case writeHead(HTTPResponseHead, raw: [UInt8]?, bodyless: Bool)
        case writeBody([UInt8])
        /// Chunk framing an HTTP/1.1 upstream sent (verbatim relay; h2 clients drop it).
        case writeFraming([UInt8])
        case writeTrailer(name: String, value: String, raw: [UInt8]?)
        case endResponse
        /// `101 Switching Protocols` is complete: the client leg relays bytes from now on.
        case switchProtocols
        case writeLocal(HTTPResponse, closeConnection: Bool)
        /// The response had started: the client must see a broken transfer.
        case abortResponse(UpstreamFailure)
        /// The response is complete: the upstream may serve another request.
        case releaseUpstream
        /// The upstream will not deliver this response: drain it, cancel its stream or close it.
        case abandonUpstream
        case armResponseTimer(TimeInterval)
        case cancelResponseTimer
        case recordResponse
        case recordError(FlowCause, String, status: Int?)
        /// Last, once the end is on record: the client leg may go on (`closeConnection`: the client
        /// connection must not carry another request). Not after a cut: the leg caused it.
        case finished(closeConnection: Bool)
    }

    let method: String
    /// HTTP/1.1 clients get interim responses and may switch protocols; h2 clients neither.
    let clientSpeaksHTTP1: Bool
    let keepAlive: Bool
    let responseTimeout: TimeInterval
    /// Who the 504 names ("waiting 60 s for a response from HOST").
    let upstreamName: String

    private(set) var state = State.awaitingResponse
    private(set) var status: Int?
    private(set) var responseHeaders: [(name: String, value: String)] = []
    private(set) var requestBodyBytes = 0
    private(set) var responseBodyBytes = 0
    private(set) var upstreamVersion: String?

    init(method: String, clientSpeaksHTTP1: Bool, keepAlive: Bool, responseTimeout: TimeInterval, upstreamName: String) {
        self.method = method
        self.clientSpeaksHTTP1 = clientSpeaksHTTP1
        self.keepAlive = keepAlive
        self.responseTimeout = responseTimeout
        self.upstreamName = upstreamName
    }

    var hasEnded: Bool { if case .ended = state { return true } else { return false } }

    /// RFC 9110 6.4.1: no body after HEAD, 204 or 304 (nor after 1xx).
    func isBodyless(_ status: Int) -> Bool {
        method == "HEAD" || status == 204 || status == 304 || (100..<200).contains(status)
    }

    mutating func receive(_ event: Event) -> [Action] {
        switch event {
        case .requestBody(let bytes):
            requestBodyBytes += bytes
            return []
        case .upstreamAttached(let version):
            upstreamVersion = version
            return []
        default:
            break
        }
        guard !hasEnded else { return [] }
        switch event {
        case .forwarded:
            return [.armResponseTimer(responseTimeout)]
        case .response(let part):
            return respond(part)
        case .upstreamFailed(let failure):
            return fail(failure)
        case let .upstreamBlocked(failure, page):
            guard case .responding = state else {
                return [.recordError(failure.cause, "\(failure.message); answered with the certificate-error page (--untrusted-upstream block)",
                                     status: page.status), .abandonUpstream] + answer(page, end: .failed)
            }
            return fail(failure)
        case .responseTimerFired(let clientBacklogged):
            if clientBacklogged, case .responding = state { return [.armResponseTimer(responseTimeout)] }
            return fail(.timeout("waiting \(Int(responseTimeout)) s for a response from \(upstreamName)"))
        case .answer(let response):
            return answer(response)
        case .clientReset(let errorName):
            state = .ended(.cut)
            return [.cancelResponseTimer, .recordError(.h2StreamReset, "the client reset the stream (\(errorName)) before its response ended", status: nil),
                    .abandonUpstream]
        case let .connectionEnded(cause, detail, status, recorded):
            state = .ended(.cut)
            return [.cancelResponseTimer] + (recorded ? [.recordError(cause, detail, status: status)] : []) + [.abandonUpstream]
        case .requestBody, .upstreamAttached:
            return []
        }
    }

    private mutating func respond(_ part: ResponsePart) -> [Action] {
        switch (part, state) {
        case let (.head(head, raw), .awaitingResponse):
            if (100..<200).contains(head.status) && head.status != 101 {
                return [.armResponseTimer(responseTimeout)] + (clientSpeaksHTTP1 ? [.writeInterim(head, raw: raw)] : [])
            }
            if head.status == 101 && !clientSpeaksHTTP1 {
                return fail(.protocolError("the upstream switched protocols (101) on an HTTP/2 request"))
            }
            status = head.status
            responseHeaders = head.headers
            if head.status != 101 && isBodyless(head.status) {
                // Complete with its head, whatever the upstream sends after it (an h2 origin's DATA
                // on a HEAD response is its error, not the client's).
                state = .ended(.completed)
                return [.cancelResponseTimer, .writeHead(head, raw: raw, bodyless: true), .endResponse, .recordResponse, .releaseUpstream,
                        .finished(closeConnection: !keepAlive)]
            }
            state = .responding(status: head.status)
            return [.armResponseTimer(responseTimeout), .writeHead(head, raw: raw, bodyless: head.status == 101)]
        case let (.body(bytes), .responding):
            responseBodyBytes += bytes.count
            return [.armResponseTimer(responseTimeout), .writeBody(bytes)]
        case let (.framing(bytes), .responding):
            return [.writeFraming(bytes)]
        case let (.trailer(name, value, raw), .responding):
            return [.writeTrailer(name: name, value: value, raw: raw)]
        case let (.end, .responding(status)):
            state = .ended(.completed)
            if status == 101 { return [.cancelResponseTimer, .endResponse, .recordResponse, .switchProtocols] }
            return [.cancelResponseTimer, .endResponse, .recordResponse, .releaseUpstream, .finished(closeConnection: !keepAlive)]
        case (.head, .responding):
            return fail(.protocolError("the upstream sent a second final response head"))
        case (.end, .awaitingResponse), (.body, .awaitingResponse), (.trailer, .awaitingResponse):
            return fail(.protocolError("the upstream sent a response without a head"))
        case (_, .awaitingResponse), (_, .ended), (.framing, _), (.head, _):
            return []
        }
    }

    /// Before the head: 502/504 saying why (RFC 9110 15.6.3, 15.6.5); after: an abort, so the
    /// client never takes a partial response for a whole one.
    private mutating func fail(_ failure: UpstreamFailure) -> [Action] {
        guard case .responding = state else {
            return [.recordError(failure.cause, failure.message, status: failure.status), .abandonUpstream]
                + answer(HTTPResponse.text(failure.status, "intercept-proxy: \(failure.message)", close: true), end: .failed)
        }
        state = .ended(.aborted)
        return [.cancelResponseTimer, .recordError(failure.cause, failure.message, status: nil), .abandonUpstream, .abortResponse(failure),
                .finished(closeConnection: true)]
    }

    private mutating func answer(_ response: HTTPResponse, end: End = .completed) -> [Action] {
        state = .ended(end)
        status = response.status
        let length = clientSpeaksHTTP1 ? "Content-Length" : "content-length"
        responseHeaders = response.headers.map { (name: $0.0, value: $0.1) } + [(length, String(response.body.count))]
        responseBodyBytes = method == "HEAD" ? 0 : response.body.count
        let close = response.closeConnection || !keepAlive
        return [.cancelResponseTimer, .writeLocal(response, closeConnection: close), .recordResponse, .finished(closeConnection: close)]
    }
}

extension ExchangeMachine.Action {
    /// One line per action, for table tests and logs: "writeHead 200", "recordError upstream_timeout 504".
    var summary: String {
        switch self {
        case let .writeInterim(head, _): return "writeInterim \(head.status)"
        case let .writeHead(head, _, bodyless): return "writeHead \(head.status)" + (bodyless ? " bodyless" : "")
        case let .writeBody(bytes): return "writeBody \(bytes.count)"
        case let .writeFraming(bytes): return "writeFraming \(bytes.count)"
        case let .writeTrailer(name, _, _): return "writeTrailer \(name)"
        case .endResponse: return "endResponse"
        case .switchProtocols: return "switchProtocols"
        case let .writeLocal(response, close): return "writeLocal \(response.status)" + (close ? " close" : "")
        case let .abortResponse(failure): return "abortResponse \(failure.cause.rawValue)"
        case .releaseUpstream: return "releaseUpstream"
        case .abandonUpstream: return "abandonUpstream"
        case let .armResponseTimer(seconds): return "armResponseTimer \(Int(seconds))"
        case .cancelResponseTimer: return "cancelResponseTimer"
        case .recordResponse: return "recordResponse"
        case let .recordError(cause, _, status): return "recordError \(cause.rawValue)" + (status.map { " \($0)" } ?? "")
        case let .finished(close): return "finished" + (close ? " close" : "")
        }
    }
}
