@testable import InterceptProxy
import Foundation

/// An upstream connection in memory: the test connects it (`connect`), reads what the proxy sent
/// (`sent`), answers as the origin (`respond`) and closes it, on the loop.
final class MemoryUpstream: UpstreamTransport, @unchecked Sendable {
    weak var delegate: UpstreamConnectionDelegate?
    let loop: EventLoop
    /// What the pool offered by ALPN.
    let offered: [String]?
    private(set) var sent: [UInt8] = []
    private(set) var isReady = false
    private(set) var isClosed = false
    private(set) var negotiatedProtocol: String?
    private(set) var isReadingPaused = false
    var pendingOutbound: Int { 0 }

    init(loop: EventLoop, offered: [String]?) {
        self.loop = loop
        self.offered = offered
    }

    var sentText: String { String(decoding: sent, as: UTF8.self) }

    /// The connection (and TLS) is up; `alpn` is what the origin chose.
    func connect(alpn: String? = nil) {
        negotiatedProtocol = alpn
        isReady = true
        delegate?.upstreamReady(self)
    }

    /// Bytes from the origin.
    func respond(_ bytes: [UInt8]) { delegate?.upstream(self, received: bytes) }
    func respond(_ text: String) { respond(Array(text.utf8)) }

    /// Takes what the proxy sent so far.
    func takeSent() -> [UInt8] {
        defer { sent = [] }
        return sent
    }

    /// The origin closes (or the connection breaks with `failure`).
    func closeFromOrigin(failure: UpstreamFailure? = nil) {
        guard !isClosed else { return }
        isClosed = true
        delegate?.upstreamClosed(self, failure: failure)
    }

    func send(_ bytes: [UInt8]) { if !isClosed { sent += bytes } }
    func pauseReading() { isReadingPaused = true }
    func resumeReading() { isReadingPaused = false }
    func close() {
        isClosed = true
        delegate = nil
    }

    func fail(_ failure: UpstreamFailure) {
        guard !isClosed else { return }
        isClosed = true
        delegate?.upstreamClosed(self, failure: failure)
    }
}

/// Dials `MemoryUpstream`s and keeps them, in order, for the test to play the origin.
final class MemoryDialer: UpstreamDialer, @unchecked Sendable {
    let loop: EventLoop
    private(set) var dialled: [MemoryUpstream] = []

    init(loop: EventLoop) { self.loop = loop }

    func dial(alpn: [String]?) -> UpstreamTransport {
        let made = MemoryUpstream(loop: loop, offered: alpn)
        dialled.append(made)
        return made
    }
}

/// Timers on a clock the test advances: `advance(by:)` fires what is due, in deadline order.
final class ManualClock: @unchecked Sendable {
    final class Timer: ExchangeTimer {
        let clock: ManualClock
        let handler: () -> Void
        var deadline: TimeInterval?
        init(clock: ManualClock, handler: @escaping () -> Void) {
            self.clock = clock
            self.handler = handler
        }
        func arm(after seconds: TimeInterval) { deadline = clock.now + seconds }
        func cancel() { deadline = nil }
    }

    private(set) var now: TimeInterval = 0
    private var timers: [WeakTimer] = []
    private struct WeakTimer { weak var timer: Timer? }

    func timer(_ handler: @escaping () -> Void) -> ExchangeTimer {
        let made = Timer(clock: self, handler: handler)
        timers.append(WeakTimer(timer: made))
        return made
    }

    /// Timers armed now.
    var armed: Int { timers.compactMap(\.timer).filter { $0.deadline != nil }.count }

    func advance(by seconds: TimeInterval) {
        let end = now + seconds
        while let next = timers.compactMap(\.timer).filter({ ($0.deadline ?? .infinity) <= end }).min(by: { $0.deadline! < $1.deadline! }) {
            now = next.deadline!
            next.deadline = nil
            next.handler()
        }
        now = end
    }
}
