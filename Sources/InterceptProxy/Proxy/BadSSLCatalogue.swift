import CertForge

/// An offline catalogue of broken certificates in the manner of badssl.com: `<mode>.badssl.test`
/// is forged with that failure mode and answered by the proxy itself, so no upstream is needed.
enum BadSSLCatalogue {
    static let domain = "badssl.test"

    /// Whether the proxy itself answers requests for this host.
    static func contains(_ host: String) -> Bool {
        let host = host.lowercased()
        return host == domain || host.hasSuffix("." + domain)
    }

    /// The failure mode a catalogue host stands for (nil for `good.badssl.test` and the index).
    static func failureMode(for host: String) -> FailureMode? {
        let host = host.lowercased()
        guard host.hasSuffix("." + domain) else { return nil }
        return FailureMode(rawValue: String(host.dropLast(domain.count + 1)))
    }

    /// The hosts, each with what it demonstrates.
    static var entries: [(host: String, summary: String)] {
        [("good.\(domain)", "a valid certificate from the proxy's CA (the control)")]
            + FailureMode.allCases.map { ("\($0.rawValue).\(domain)", $0.summary) }
    }

    /// The index page at http(s)://badssl.test/.
    static func indexPage(profile: String) -> String {
        let width = entries.map(\.host.count).max() ?? 0
        let lines = entries.map { "  https://\($0.host.paddedRight(to: width))  \($0.summary)" }
        return """
            intercept-proxy badssl catalogue (profile \(profile)); trust the proxy's root CA, then try:

            \(lines.joined(separator: "\n"))

            Any host can get a failure mode with --failure 'HOSTPATTERN=MODE'.
            """
    }

    /// What a catalogue host answers when the client completed the handshake anyway.
    static func answer(host: String, profile: String) -> String {
        guard let mode = failureMode(for: host) else {
            return host.lowercased() == domain ? indexPage(profile: profile)
                : "intercept-proxy badssl: \(host) has a valid certificate (profile \(profile)); this client trusts the proxy's CA."
        }
        return "intercept-proxy badssl: this client accepted a certificate with the '\(mode.rawValue)' defect (\(mode.summary))."
    }
}
