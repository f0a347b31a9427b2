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

/// Clients whose roots are compiled in, so that no store the sandbox can reach holds the public
/// stand-in: their rejections of the site's own certificate are not judged (they would be false failures).
struct CompiledInStore: Sendable, Equatable {
    let client: String
    let limit: String

    /// The clients of this kind the command names (its words, and those of a `sh -c` script),
    /// unless a setting points them at a store the sandbox reaches.
    static func detect(command: [String], environment: [String: String]) -> [CompiledInStore] {
        let words = Set(command.flatMap { argument in
            argument.split(whereSeparator: { " \t\n;|&()'\"`".contains($0) }).map { URL(fileURLWithPath: String($0)).lastPathComponent }
        })
        var found: [CompiledInStore] = []
        // A setting in the command itself counts too (a script that exports SSL_CERT_FILE).
        let setsAStore = words.contains { $0.hasPrefix("SSL_CERT_FILE=") || $0.hasPrefix("UV_SYSTEM_CERTS=") || $0.hasPrefix("UV_NATIVE_TLS=") }
        let uvReadsAStore = setsAStore || words.contains("--system-certs") || words.contains("--native-tls") || words.contains("--cert")
            || ["UV_SYSTEM_CERTS", "UV_NATIVE_TLS"].contains { ["1", "true", "yes"].contains(environment[$0]?.lowercased() ?? "") }
            || environment["SSL_CERT_FILE"].map { !$0.isEmpty } == true
        if !words.isDisjoint(with: ["uv", "uvx"]), !uvReadsAStore {
            found.append(CompiledInStore(client: "uv", limit: "uv reads the webpki roots compiled into it, which cannot hold the public stand-in root: its rejections of hosts that present the site's own certificate are not judged (give it SSL_CERT_FILE or --system-certs to judge them)"))
        }
        let denoReadsSystem = environment["DENO_TLS_CA_STORE"]?.contains("system") == true || environment["DENO_CERT"].map { !$0.isEmpty } == true
            || words.contains { $0.hasPrefix("DENO_TLS_CA_STORE=") || $0.hasPrefix("DENO_CERT=") }
        if words.contains("deno"), !denoReadsSystem {
            found.append(CompiledInStore(client: "deno", limit: "deno reads the Mozilla roots compiled into it: its rejections of the site's own certificate are not judged (DENO_TLS_CA_STORE=system to judge them)"))
        }
        return found
    }
}
