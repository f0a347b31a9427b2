import EssentialsSupport
import Foundation
import Testing
import TestSupport

/// The stdlib/Glibc stand-ins for the full-Foundation APIs the binary no longer links (issue #15:
/// no ICU in the image), checked against Foundation itself, which the tests may still import.
@Suite struct EssentialsSupportTests {
    @Test func jsonTextIsWhatJSONSerializationReadsBack() throws {
        let document: [String: Any] = [
            "url": "https://a.test/x?y=1", "quote": "say \"hi\"\\\n\t\u{1}", "count": 3, "ratio": 0.25, "whole": 2.0,
            "ok": true, "list": [1, "two", false, [String: Any]()], "empty": [Any](), "nested": ["b": 1, "a": ["z": "é"]],
        ]
        for indent in [nil, 2] {
            let text = JSONText.encode(document, indent: indent)
            let parsed = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? NSDictionary)
            #expect(parsed == document as NSDictionary, "\(text)")
        }
        // Sorted keys and unescaped slashes, as the control API printed with JSONSerialization.
        #expect(JSONText.encode(["b": 1, "a": "x/y"]) == #"{"a":"x/y","b":1}"#)
        #expect(JSONText.encode(["a": [1, 2]], indent: 2) == "{\n  \"a\" : [\n    1,\n    2\n  ]\n}")
    }

    @Test func jsonTextDecodesAnyShapeAndRejectsNonJSON() throws {
        let value = try #require(JSONText.decode(Array(#"{"rules": ["a", 1, null, {"k": [true]}]}"#.utf8)) as? [String: Any])
        let rules = try #require(value["rules"] as? [Any])
        #expect(rules.count == 4 && rules[0] as? String == "a" && rules[1] as? Double == 1)
        #expect(JSONText.decode(Array(#"["x"]"#.utf8)) is [Any])
        #expect(JSONText.decode(Array(#""fragment""#.utf8)) as? String == "fragment")
        // JSONDecoder (and JSONSerialization) on this toolchain accept a trailing comma; RFC 8259 does not, nor does JSONText.
        for lenient in ["[1,]", #"{"a": 1 , }"#, "{\"rules\": [\"a\",\n]}"] {
            #expect(JSONText.decode(Array(lenient.utf8)) == nil, "\(lenient)")
        }
        #expect(JSONText.decode(Array(#"["a,]", "b\",}"]"#.utf8)) as? [String] == ["a,]", "b\",}"])  // commas inside strings
        for bad in ["", "{", "{\"a\":}", "rules=a", "[1,,]"] {
            #expect(JSONText.decode(Array(bad.utf8)) == nil, "\(bad)")
        }
    }

    @Test func percentDecodingMatchesFoundation() {
        for text in ["a%20b", "%E2%82%AC", "%e2%82%ac", "plain", "50%", "%2", "%zz", "%FF", "%C3", "a+b", "%25%32%30", ""] {
            #expect(text.percentDecoded == text.removingPercentEncoding, "\(text)")
        }
    }

    @Test func trimmingAndSearchMatchFoundation() {
        for text in ["  a b \t", "\n x \n", "", "   ", "\u{00A0}nbsp\u{2003}", "[::1]", "x"] {
            #expect(text.trimmingWhitespace() == text.trimmingCharacters(in: .whitespaces), "\(text.debugDescription)")
            #expect(text.trimmingWhitespaceAndNewlines() == text.trimmingCharacters(in: .whitespacesAndNewlines), "\(text.debugDescription)")
            #expect(text.trimming(charactersIn: "[]") == text.trimmingCharacters(in: CharacterSet(charactersIn: "[]")))
        }
        for (text, needle) in [("CAfile: /etc/x", "cafile:"), ("no match", "cafile:"), ("xxCAFILE:", "cafile:"), ("Ab", "ab"), ("a", "ab"),
                               ("ÉCOLE CAfile: é", "cafile:"), ("aaab", "aab"), ("x\r\nCAFILE:\r\n", "cafile:"), ("ÄB", "äb")] {
            let ours = text.caseInsensitiveRange(of: needle).map { String(text[$0]) }
            let theirs = text.range(of: needle, options: .caseInsensitive).map { String(text[$0]) }
            #expect(ours == theirs, "\(text) / \(needle)")
        }
        #expect("ab".paddedRight(to: 4) == "ab".padding(toLength: 4, withPad: " ", startingAt: 0))
        #expect(UInt(0xab).hex(width: 8) == String(format: "%08lx", UInt(0xab)))
        #expect(UInt8(0x0f).hex(width: 2, uppercase: true) == String(format: "%02X", UInt8(0x0f)))
        for value in [0.04, 0.06, 1.25, 12.0, 3.96] {
            #expect(value.oneDecimal == String(format: "%.1f", value), "\(value)")
        }
    }

    /// --ignore-hosts patterns were ICU regexes (NSRegularExpression) and are Swift `Regex` now:
    /// for the patterns people write for host:port, both find the same matches.
    @Test func ignoreHostsPatternsMatchAsWithICU() throws {
        let patterns = [#"^origin\.test:443$"#, "^c\\.test:", #"(^|\.)example\.com:\d+$"#, "bank", #"^[a-z0-9-]+\.internal:(443|8443)$"#,
                        #"^\[::1\]:"#, "(?i)^API\\.", #"\bcorp\b"#, "^.*$"]
        let targets = ["origin.test:443", "c.test:8080", "a.example.com:443", "example.com:80", "notexample.com:80", "mybank.test:443",
                       "svc-1.internal:8443", "svc_1.internal:443", "[::1]:443", "api.test:443", "API.test:1", "corp.test:443", "x.corporate:1"]
        for pattern in patterns {
            let icu = try NSRegularExpression(pattern: pattern)
            let swift = try icuCompatibleRegex(pattern)
            for target in targets {
                let icuMatch = icu.firstMatch(in: target, range: NSRange(target.startIndex..., in: target)) != nil
                #expect((target.firstMatch(of: swift) != nil) == icuMatch, "\(pattern) on \(target)")
            }
        }
        #expect(throws: (any Error).self) { try icuCompatibleRegex("(unclosed") }
    }

    @Test func fileStatusAndRunProcessStatuses() throws {
        #expect(FileStatus(path: "/")?.isDirectory == true)
        #expect(FileStatus(path: "/nonexistent-\(UUID())") == nil)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("essentials-\(UUID())").path
        try Data(repeating: 7, count: 1234).write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        #expect(FileStatus(path: file)?.size == 1234)
        #expect(FileStatus(path: file)?.isDirectory == false)
        #expect(try runProcess(["sh", "-c", "exit 3"], environment: ["PATH": "/usr/bin:/bin"]).status == 3)
        #expect(try runProcess(["sh", "-c", "kill -KILL $$"], environment: ["PATH": "/usr/bin:/bin"]).status == SIGKILL)
    }

    /// Output, status, a child that closes its output and goes on (waited for, not hung on), and a
    /// timeout that takes the child's own children with it.
    @Test func captureProcessReadsOutputAndBoundsTheWait() throws {
        let path = ["PATH": "/usr/bin:/bin"]
        let echoed = try captureProcess(["sh", "-c", "echo out; echo err >&2; exit 5"], environment: path)
        #expect(echoed.status == 5 && echoed.output == "out\n" && !echoed.timedOut)
        let closedEarly = try captureProcess(["sh", "-c", "exec >&-; sleep 1; exit 4"], environment: path, timeout: 20)
        #expect(closedEarly.status == 4 && !closedEarly.timedOut)
        let started = monotonicSeconds()
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("capture-\(UUID())").path
        let slow = try captureProcess(["sh", "-c", "sleep 60 & echo $! > \(scratch); echo started; wait"], environment: path, timeout: 5)  // room for sh to start its child under load
        #expect(slow.timedOut && slow.output == "started\n")
        #expect(monotonicSeconds() - started < 30, "the wait is bounded, far below the child's 60 s")
        let grandchild = Int32((try String(contentsOfFile: scratch, encoding: .utf8)).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        try? FileManager.default.removeItem(atPath: scratch)
        // Killed (a zombie until whoever adopted it reaps it: its state reads Z), or gone.
        func alive() -> Bool {
            guard let stat = try? String(contentsOfFile: "/proc/\(grandchild)/stat", encoding: .utf8) else { return false }
            return stat.split(separator: ")").last?.split(separator: " ").first != "Z"
        }
        eventually(timeout: 5) { !alive() }  // (a process that is not our child announces nothing: /proc is polled)
        #expect(grandchild > 0 && !alive(), "the group was killed, the grandchild too")
    }

    @Test func detachedThreadRunsAndConditionTimesOut() {
        let condition = PthreadCondition()
        nonisolated(unsafe) var ran = false
        condition.lock()
        detachThread {
            condition.withLock { ran = true }
            condition.broadcast()
        }
        while !ran { _ = condition.wait(until: Date().addingTimeInterval(5)) }
        let start = Date()
        #expect(condition.wait(until: Date().addingTimeInterval(0.05)) == false)
        #expect(Date().timeIntervalSince(start) >= 0.04)
        condition.unlock()
        #expect(ran)
    }
}
