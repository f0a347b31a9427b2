import Dispatch

/// Meters the client's stream resets: HEADERS then RST_STREAM, again and again (CVE-2023-44487
/// "rapid reset"), costs the client two small frames and the server a stream's worth of work.
/// A token bucket like nghttp2's own (burst 1000, 33 a second), with a smaller burst so that it
/// decides first and the connection ends with GOAWAY ENHANCE_YOUR_CALM: more than `burst` resets
/// at once, or more than `perSecond` a second for long. A client can have at most 100 streams
/// open, so cancelling all of them at once (a closed browser tab) stays below the burst.
struct ResetRateLimit {
    static let burst = 200.0
    static let perSecond = 33.0
    private var tokens = burst
    private var last = DispatchTime.now().uptimeNanoseconds

    /// Counts one reset; true once the bucket is empty.
    mutating func exceeded(now: UInt64 = DispatchTime.now().uptimeNanoseconds) -> Bool {
        tokens = min(Self.burst, tokens + Double(now - min(now, last)) / 1e9 * Self.perSecond)
        last = now
        tokens -= 1
        return tokens < 0
    }
}

/// When an idle h2 connection ends: one rolling deadline per connection. Activity only stores
/// a time stamp; the one timer, when it fires, either ends the connection or re-arms for the
/// rest of the period (not a timer per frame).
struct IdleDeadline {
    let timeout: Double
    private(set) var lastActivity = DispatchTime.now().uptimeNanoseconds

    init(timeout: Double) { self.timeout = timeout }

    mutating func touch() { lastActivity = DispatchTime.now().uptimeNanoseconds }

    /// Seconds until the deadline (<= 0 once it passed), measured from the last activity.
    func remaining(now: UInt64 = DispatchTime.now().uptimeNanoseconds) -> Double {
        timeout - Double(now - min(now, lastActivity)) / 1e9
    }
}
