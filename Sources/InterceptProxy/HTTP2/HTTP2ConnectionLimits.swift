import Dispatch

/// Counts the client's stream resets in one-second windows. HEADERS then RST_STREAM, again and
/// again (CVE-2023-44487 "rapid reset"), costs the client two small frames and the server a
/// stream's worth of work; beyond `limit` resets in a window the connection ends with GOAWAY
/// ENHANCE_YOUR_CALM. A client can have at most 100 streams open, so cancelling all of them at
/// once (a closed browser tab) stays well below the limit.
struct ResetRateLimit {
    static let limit = 200
    private var windowStart: UInt64 = 0
    private var count = 0

    /// Counts one reset; true once the window holds more than `limit`.
    mutating func exceeded(now: UInt64 = DispatchTime.now().uptimeNanoseconds) -> Bool {
        if now - windowStart >= 1_000_000_000 {
            windowStart = now
            count = 0
        }
        count += 1
        return count > Self.limit
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
