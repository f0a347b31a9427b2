import FoundationEssentials

/// Clients whose roots are compiled in, so that no store the sandbox can reach holds the public
/// stand-in: their rejections of the site's own certificate are not judged (they would be false failures).
struct CompiledInStore: Sendable, Equatable {
    let client: String
    let limit: String

    /// The clients of this kind the command names (its words, and those of a `sh -c` script),
    /// unless a setting points them at a store the sandbox reaches.
    static func detect(command: [String], environment: [String: String]) -> [CompiledInStore] {
        // Raw tokens for settings (SSL_CERT_FILE=/x/b.pem), their last path component for programs (/usr/bin/uv).
        let tokens = command.flatMap { $0.split(whereSeparator: { " \t\n;|&()'\"`".contains($0) }).map(String.init) }
        let words = Set(tokens.map { URL(fileURLWithPath: $0).lastPathComponent })
        func sets(_ name: String) -> Bool { tokens.contains { $0.hasPrefix(name + "=") } }
        var found: [CompiledInStore] = []
        // A setting in the command itself counts too (a script that exports SSL_CERT_FILE).
        let setsAStore = sets("SSL_CERT_FILE") || sets("UV_SYSTEM_CERTS") || sets("UV_NATIVE_TLS")
        let uvReadsAStore = setsAStore || words.contains("--system-certs") || words.contains("--native-tls") || words.contains("--cert")
            || ["UV_SYSTEM_CERTS", "UV_NATIVE_TLS"].contains { ["1", "true", "yes"].contains(environment[$0]?.lowercased() ?? "") }
            || environment["SSL_CERT_FILE"].map { !$0.isEmpty } == true
        if !words.isDisjoint(with: ["uv", "uvx"]), !uvReadsAStore {
            found.append(CompiledInStore(client: "uv", limit: "uv reads the webpki roots compiled into it, which cannot hold the public stand-in root: its rejections of hosts that present the site's own certificate are not judged (give it SSL_CERT_FILE or --system-certs to judge them)"))
        }
        // DENO_CERT adds to deno's compiled-in roots; only the OS store (DENO_TLS_CA_STORE=system) is one the sandbox reaches.
        let denoReadsSystem = environment["DENO_TLS_CA_STORE"]?.contains("system") == true
            || tokens.contains { $0.hasPrefix("DENO_TLS_CA_STORE=") && $0.contains("system") }
        if words.contains("deno"), !denoReadsSystem {
            found.append(CompiledInStore(client: "deno", limit: "deno reads the Mozilla roots compiled into it: its rejections of the site's own certificate are not judged (DENO_TLS_CA_STORE=system to judge them)"))
        }
        // The sandbox reaches bun through NODE_EXTRA_CA_CERTS and node through NODE_OPTIONS: a command that sets them itself replaces the sandbox's.
        if words.contains("bun") || words.contains("bunx"), sets("NODE_EXTRA_CA_CERTS") {
            found.append(CompiledInStore(client: "bun", limit: "bun: the command sets NODE_EXTRA_CA_CERTS itself, so the sandbox's stand-in root does not reach bun's compiled-in roots: its rejections of the site's own certificate are not judged"))
        }
        if sets("NODE_OPTIONS") {
            found.append(CompiledInStore(client: "node", limit: "node: the command sets NODE_OPTIONS itself, which drops the sandbox's preload: node's rejections of the site's own certificate are not judged"))
        }
        return found
    }
}
