import Dispatch
import FoundationEssentials

/// What an HTTP/1.1 connection is waiting for from its client, when the client is the one to act.
enum ClientWait: Equatable {
    /// A request head: some of it came, or nothing yet on a new connection or tunnel (slowloris).
    case head
    /// The next request on a keep-alive connection whose last response is complete.
    case idle
}

/// A request the proxy refuses before anything goes upstream: the status, the flow event's cause, the reason.
struct RequestRefusal: Error {
    let status: Int
    let cause: FlowCause
    let reason: String
}

extension HTTP1ClientLeg {
    /// What the client owes the proxy now, if anything: nothing while a response is due, while the
    /// TLS handshake runs (its own timeout) or for h2 (its leg has its own idle timeout).
    var clientWait: ClientWait? {
        guard current == nil, relay == nil, host.isServing(self) else { return nil }
        return requests.bufferedCount > 0 || !sawRequest ? .head : .idle
    }

    /// Re-arms the one wait timer when the kind of wait changes. A head's deadline is not pushed
    /// back by further bytes of the same head: dribbling a byte a second must not keep it open.
    func updateClientWait() {
        let wanted = clientWait
        guard wanted != waiting else { return }
        waitTimer?.cancel()
        waiting = wanted
        guard let wanted else { return }
        let timer = waitTimer ?? LoopTimer(loop: host.loop) { [weak self] in
            guard let self, let expired = self.waiting else { return }
            self.waiting = nil
            self.clientWaitExpired(expired, after: self.timeout(for: expired))
        }
        waitTimer = timer
        timer.arm(after: timeout(for: wanted))
    }

    private func timeout(for wait: ClientWait) -> TimeInterval {
        wait == .head ? host.requestHeadTimeout : host.keepAliveTimeout
    }

    private func clientWaitExpired(_ wait: ClientWait, after timeout: TimeInterval) {
        let seconds = Int(timeout)
        switch wait {
        case .head where requests.bufferedCount == 0:
            host.recordError(.requestHeadTimeout, "no request within \(seconds) s", status: nil, url: nil, streamId: nil)
            host.closeClient()
        case .head:
            host.reject(RequestRefusal(status: 408, cause: .requestHeadTimeout,
                                  reason: "the request head was not complete within \(seconds) s (\(requests.bufferedCount) bytes received)"))
        case .idle:
            host.recordError(.idleTimeout, "keep-alive connection idle for \(seconds) s", status: nil, url: nil, streamId: nil)
            host.closeClient()
        }
    }
}

extension ClientConnection {
    /// Refuses a request whose upstream would be this proxy: it would come back, again and again.
    func refuseLoop(_ route: UpstreamRoute, what: String) throws {
        guard core.isProxyItself(host: route.dial.host, port: route.dial.port) else { return }
        throw RequestRefusal(status: 508, cause: .loopDetected,
                             reason: "\(what) leads back to this proxy (\(SocketAddress(host: route.dial.host, port: route.dial.port))); refusing a request loop")
    }
}
