import Foundation

/// Polls `condition` every `interval` until it holds or `timeout` passes; returns whether it
/// held. Only for conditions nothing announces (a count in /proc, a file another process writes,
/// `InterceptProxy.openConnections`): a flow event is waited for with `ProxyFixture.waitForEvent`,
/// a child's output with `RunningProcess.waitFor`.
@discardableResult
public func eventually(timeout: TimeInterval = 10, interval: TimeInterval = 0.02, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date() + timeout
    while true {
        if try condition() { return true }
        if Date() >= deadline { return false }
        Thread.sleep(forTimeInterval: min(interval, max(0, deadline.timeIntervalSinceNow)))
    }
}

/// Reads `value` until it is the same twice `interval` apart (at most `timeout`) and returns it:
/// for a count that settles once something ends that nothing announces (connections another
/// process closes, its descriptors and threads).
public func settled(timeout: TimeInterval = 5, interval: TimeInterval = 0.1, _ value: () -> Int) -> Int {
    let deadline = Date() + timeout
    var last = value()
    while Date() < deadline {
        Thread.sleep(forTimeInterval: interval)
        let now = value()
        if now == last { return now }
        last = now
    }
    return last
}
