import Foundation
import Testing
import TestSupport

/// The flow view in a real browser (issue 31): Debian's headless Chromium, driven by Selenium from
/// PyPI (both installed by the Makefile), opens `/ui`; one client trusts the proxy's root and one
/// rejects it, and both hosts must show with their outcomes within a few seconds; a request
/// whose header values and path hold markup shows them as text and runs nothing; the proxy is
/// restarted under the page, which says "reconnecting" and then follows the new proxy. The script
/// (Resources/flow_view_browser.py) runs the proxy itself so that it can restart it, and prints
/// what the page showed as JSON; the judging is here. The screenshot is kept in
/// .build/test-output/flow-view.png; INTERCEPT_PROXY_WRITE_SCREENSHOT=1 also writes the README's
/// docs/images/flow-view.png.
@Suite struct FlowViewBrowserTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func bothHostsShowWithTheirOutcomesAndHostileValuesStayText() throws {
        for tool in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
            try #require(FileManager.default.isExecutableFile(atPath: tool), "\(tool) is missing: `make test` installs chromium and chromium-driver")
        }
        let python = try toolsVenv(requiring: ["python3"]) + "/bin/python3"
        let output = Self.packageRoot.appendingPathComponent(".build/test-output")
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        let screenshot = output.appendingPathComponent("flow-view.png").path
        try? FileManager.default.removeItem(atPath: screenshot)

        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Resources/flow_view_browser.py").path
        let result = try run(python, [script, "--proxy-binary", CLI.binary, "--screenshot", screenshot], environment: cleanEnvironment(), timeout: 240)
        try #require(result.status == 0, "\(result)")
        let last = try #require(result.stdout.split(separator: "\n").last, "\(result)")
        let page = try #require(try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any], "\(result)")

        #expect(page["trustingClientStatus"] as? Int == 0 && page["rejectingClientStatus"] as? Int != 0, "the clients did not behave: \(page)")
        #expect(page["liveBeforeClients"] as? Bool == true, "\(page)")
        #expect(page["outcomes"] as? [String: String] == ["trusted.example": "trusted", "rejected.example": "rejected"], "\(page)")
        let seconds = try #require(page["secondsUntilBothHosts"] as? Double, "both hosts did not show within 10 s: \(page)")
        #expect(seconds < 10, "a few seconds, with room for a loaded machine")
        let rows = page["rows"] as? [String: [String]] ?? [:]
        #expect(rows["rejected.example"] == ["rejected.example", "gateway", "rejected", "unknown_ca", "OpenSSL", "0", "1"], "\(rows)")
        #expect(rows["trusted.example"]?[2...6] == ["trusted", "", "OpenSSL", "1", "0"], "\(rows)")

        #expect(page["hostileShownAsText"] as? Bool == true && page["longValueShown"] as? Bool == true && page["pathShownAsText"] as? Bool == true, "\(page)")
        #expect(page["chainShown"] as? Bool == true, "the chain the client was shown: \(page)")
        #expect(page["pwned"] is NSNull, "a value ran as script: \(page)")
        #expect((page["scriptElements"] as? [String])?.count == 1 && page["imgElements"] as? Int == 0 && page["boldElements"] as? Int == 0, "\(page)")
        let fix = page["rejectionFix"] as? String ?? ""
        #expect(fix.contains("alert unknown_ca") && fix.contains("intercept-proxy snippet --client") && fix.contains("intercept-proxy explain -"), "\(fix)")
        #expect(page["filteredHosts"] as? [String] == ["rejected.example"], "\(page)")

        #expect(page["reconnectingShown"] as? Bool == true && page["liveAfterRestart"] as? Bool == true, "\(page)")
        #expect(page["hostsAfterRestart"] as? [String] == ["after-restart.example"], "the old proxy's hosts stay after a restart: \(page)")

        let png = try Data(contentsOf: URL(fileURLWithPath: screenshot))
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]) && png.count > 10_000, "screenshot \(screenshot): \(png.count) bytes")
        print("flow view screenshot: \(screenshot)")
        if ProcessInfo.processInfo.environment["INTERCEPT_PROXY_WRITE_SCREENSHOT"] == "1" {
            let images = Self.packageRoot.appendingPathComponent("docs/images")
            try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
            let target = images.appendingPathComponent("flow-view.png")
            try? FileManager.default.removeItem(at: target)
            try FileManager.default.copyItem(atPath: screenshot, toPath: target.path)
        }
    }
}
