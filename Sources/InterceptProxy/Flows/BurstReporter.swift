import Dispatch
import FoundationEssentials

/// Turns a burst of like occurrences (refused connections) into at most one report per interval,
/// so a flood cannot flood the flow log: the first occurrence is reported at once, the others of
/// the interval are counted and reported together when it ends.
final class BurstReporter: @unchecked Sendable {
    private let interval: TimeInterval
    private let queue = DispatchQueue(label: "intercept-proxy.burst-reporter")
    private let report: @Sendable (_ count: Int, _ last: SocketAddress?) -> Void
    // Touched only on `queue`.
    private var windowOpen = false
    private var pending = 0
    private var lastPeer: SocketAddress?

    init(interval: TimeInterval = 1, report: @escaping @Sendable (_ count: Int, _ last: SocketAddress?) -> Void) {
        self.interval = interval
        self.report = report
    }

    func note(_ peer: SocketAddress?) {
        queue.async { [self] in
            guard windowOpen else {
                report(1, peer)
                openWindow()
                return
            }
            pending += 1
            lastPeer = peer
        }
    }

    private func openWindow() {
        windowOpen = true
        queue.asyncAfter(deadline: .now() + interval) { [self] in
            guard pending > 0 else {
                windowOpen = false
                return
            }
            report(pending, lastPeer)
            pending = 0
            lastPeer = nil
            openWindow()
        }
    }
}
