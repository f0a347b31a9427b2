import CertForge
import Foundation
import Testing
import TestSupport

/// What the hostile-input suites check on the proxy binary (`ProxyProcess`, a process of its own,
/// so /proc measures it alone): that it still serves, and that it holds no more than before.
extension ProxyProcess {
    var openFDs: Int { status.openDescriptors }

    var residentKiB: Int { status.residentKiB }

    /// curl through the proxy: a plain request answered offline, or an https URL through a tunnel.
    func assertStillServes(url: String = "http://after.example/", sourceLocation: SourceLocation = #_sourceLocation) throws {
        let result = try run("curl", ["-sS", "--max-time", "20", "--http1.1", "-x", "http://127.0.0.1:\(port)", "--cacert", root, url])
        let host = URL(string: url)!.host!, path = URL(string: url)!.path
        #expect(result.status == 0 && (result.stdout.contains(host) || result.stdout.contains(path)), "\(result)", sourceLocation: sourceLocation)
    }

    /// One exchange through a tunnel first, so that what the proxy opens lazily counts in the
    /// baseline; taken once the proxy has closed that tunnel (its `tunnel_closed` event).
    func warmUp(url: String = "https://warm-up.example/") throws -> (fds: Int, rssKiB: Int) {
        try assertStillServes(url: url)
        let host = URL(string: url)!.host!
        try waitForEvent { $0["type"] as? String == "tunnel_closed" && $0["host"] as? String == host }
        return (openFDs, residentKiB)
    }

    /// Every connection the case opened is closed again: the fd count returns to the baseline
    /// within a few seconds, and the resident size has not run away (bounded, not exact: freed
    /// memory stays with the allocator; measured growth is under 2 MiB, the 1 MiB upload included).
    func assertBackToBaseline(_ baseline: (fds: Int, rssKiB: Int), sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(baseline.fds > 0 && baseline.rssKiB > 0, "no /proc entry for the proxy", sourceLocation: sourceLocation)
        // Nothing announces a plain connection's close: /proc is polled.
        eventually(timeout: 5, interval: 0.05) { openFDs <= baseline.fds }
        #expect(openFDs <= baseline.fds, "fds \(openFDs), baseline \(baseline.fds)", sourceLocation: sourceLocation)
        #expect(residentKiB - baseline.rssKiB < 16 * 1024, "RSS \(residentKiB) KiB, baseline \(baseline.rssKiB) KiB", sourceLocation: sourceLocation)
    }
}

extension RawClient {
    /// Sends `payload` (and a half-close if asked) and returns all the proxy answered before
    /// closing; `<<TIMEOUT>>` or `<<RESET>>` at the end when it did not close cleanly.
    static func exchange(port: Int, payload: [UInt8], halfClose: Bool = false) throws -> String {
        let outcome = try run(port: port, [.sendBytes(payload)] + (halfClose ? [.shutdownWrite] : []) + [.readToClose(timeout: 30)])
        return outcome.received + marker(outcome)
    }

    /// CONNECT to origin.test, TLS with the proxy's root, one well-formed request and its answer
    /// (unless `first` is empty), then `then` (and, three seconds later, a half-close if asked);
    /// returns everything read after the CONNECT's answer until the proxy closed.
    static func throughTunnel(port: Int, root: String, first: String, then payload: [UInt8], halfClose: Bool = false) throws -> String {
        var steps: [Step] = [.send("CONNECT origin.test:443 HTTP/1.1\r\nHost: origin.test:443\r\n\r\n"), .readHead,
                             .tls(serverName: "origin.test", caFile: root, alpn: ["http/1.1"])]
        if !first.isEmpty { steps += [.send(first), .readUntil("origin saw")] }
        steps.append(.sendBytes(payload))
        // The head and the first chunk reach the origin first: without a `first` request the proxy
        // dials it (TCP and TLS) in this time, 3 s to allow for a loaded machine. The client sees
        // nothing it could wait for instead until it closes.
        if halfClose { steps += [.sleep(3), .shutdownWrite] }
        let outcome = try run(port: port, steps + [.readToClose(timeout: 10)])
        guard let connected = outcome.received.range(of: "\r\n\r\n") else { return outcome.received + marker(outcome) }
        return String(outcome.received[connected.upperBound...]) + marker(outcome)
    }

    private static func marker(_ outcome: Outcome) -> String {
        guard let error = outcome.error else { return "" }
        if error.hasPrefix("TimeoutError") || error.contains("timed out") { return "<<TIMEOUT>>" }
        return error.hasPrefix("ConnectionResetError") ? "<<RESET>>" : "<<\(error)>>"
    }
}
