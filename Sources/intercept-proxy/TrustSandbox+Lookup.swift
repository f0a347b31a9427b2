import FoundationEssentials
import EssentialsSupport

extension TrustSandbox {
    /// Finds programs as the command will: on its PATH.
    struct Lookup {
        let environment: [String: String]

        func find(_ name: String) -> String? {
            if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
            for directory in (environment["PATH"] ?? "").split(separator: ":") {
                let candidate = "\(directory)/\(name)"
                if FileManager.default.isExecutableFile(atPath: candidate), FileStatus(path: candidate)?.isDirectory == false { return candidate }
            }
            return nil
        }

        /// The Pythons whose certifi copies the command may read: python3 and python on PATH, the
        /// command itself when it is a Python or a script one runs (a venv's pip), and $VIRTUAL_ENV's.
        func pythons(command: [String]) -> [String] {
            var candidates = ["python3", "python"].compactMap(find)
            if let first = command.first, let program = find(first) {
                if URL(fileURLWithPath: program).lastPathComponent.hasPrefix("python") {
                    candidates.append(program)
                } else if let interpreter = Self.shebang(program), URL(fileURLWithPath: interpreter).lastPathComponent.hasPrefix("python") {
                    candidates.append(interpreter)
                }
            }
            if let virtualEnv = environment["VIRTUAL_ENV"], let python = find(virtualEnv + "/bin/python") { candidates.append(python) }
            var unique: [String] = []
            for candidate in candidates where !unique.contains(candidate) { unique.append(candidate) }
            return unique
        }

        /// The interpreter a script's `#!` line names (`#!/usr/bin/env python3` too).
        private static func shebang(_ path: String) -> String? {
            guard let handle = FileManager.default.contents(atPath: path)?.prefix(256), handle.starts(with: Array("#!".utf8)) else { return nil }
            let line = String(decoding: handle.dropFirst(2).prefix { $0 != 10 }, as: UTF8.self).trimmingWhitespace()
            let words = line.split(separator: " ").map(String.init)
            guard let first = words.first else { return nil }
            return first.hasSuffix("/env") ? words.dropFirst().first : first
        }
    }
}
