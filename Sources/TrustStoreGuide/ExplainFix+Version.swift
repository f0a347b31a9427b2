import FoundationEssentials

/// Where the client's version, as the text shows it, changes the fix: node's system-store flag
/// (on Linux from 23.9 and 22.15) and variable (24.6 and 22.19), pip's use of the OS store (truststore, 24.2), the flag this uv names in its own hint,
/// and whether Python set VERIFY_X509_STRICT itself (3.13) or the code did.
extension ErrorExplanation {
    static func versionNotes(client: String, cause: Cause, text errorText: ExplainText) -> [String] {
        // A strictness defect under Python: which Python decides who set the flag (pip included).
        if cause == .nonStrictCA, ["python", "requests", "httpx", "pip", "aiohttp"].contains(client) {
            guard let (major, minor) = Self.version(after: ["python3.", "python 3."], in: errorText, majorGiven: 3) else { return [] }
            return minor >= 13
                ? ["# Python 3.\(minor) sets VERIFY_X509_STRICT by default: that is why this root fails here and passed on 3.12"]
                : ["# Python \(major).\(minor) does not set VERIFY_X509_STRICT by default: this code (or a library) sets it; on 3.13 every client will"]
        }
        switch client {
        case "node", "npm":
            guard let (major, minor) = Self.version(after: ["node.js v", "node v", "node/v"], in: errorText) else { return [] }
            let flag = major > 23 || major == 23 && minor >= 9 || major == 22 && minor >= 15
            let variable = major > 24 || major == 24 && minor >= 6 || major == 22 && minor >= 19
            if variable {
                return ["# node \(major).\(minor) can read the OS store: with the root there (update-ca-certificates), node --use-system-ca or NODE_USE_SYSTEM_CA=1 instead of NODE_EXTRA_CA_CERTS"]
            }
            if flag {
                return ["# node \(major).\(minor) can read the OS store with node --use-system-ca (or NODE_OPTIONS=--use-system-ca; NODE_USE_SYSTEM_CA needs 24.6 or 22.19), the root there (update-ca-certificates)"]
            }
            return ["# node \(major).\(minor) has no switch for the OS store (on Linux that came in 23.9 and 22.15): NODE_EXTRA_CA_CERTS is the way"]
        case "pip":
            guard let (major, minor) = Self.version(after: ["pip version ", "a new release of pip is available: "], in: errorText)
                    ?? Self.version(after: ["pip "], in: errorText, followedBy: " from ") else { return [] }
            return major > 24 || major == 24 && minor >= 2
                ? ["# pip \(major).\(minor) also reads the OS store (truststore, on Python 3.10+): the root in the OS store is enough, PIP_CERT is optional"]
                : ["# pip \(major).\(minor) reads certifi only (the OS store came in 24.2): PIP_CERT, or upgrade pip and put the root in the OS store"]
        case "uv":
            if errorText.contains("--system-certs") { return ["# this uv names --system-certs: UV_SYSTEM_CERTS=1 (not the older UV_NATIVE_TLS)"] }
            if errorText.contains("--native-tls") { return ["# this uv names --native-tls: UV_NATIVE_TLS=1 (UV_SYSTEM_CERTS is newer than this uv)"] }
            return []
        default:
            return []
        }
    }

    /// The first `major.minor` after one of the labels (lower case), e.g. "Node.js v20.20.2".
    /// With `majorGiven`, the label ends with the major and a dot ("python3.13").
    /// With `followedBy`, only a version the text follows with those words (`pip 24.3.1 from /usr/...`).
    static func version(after labels: [String], in text: ExplainText, majorGiven: Int? = nil, followedBy: String? = nil) -> (Int, Int)? {
        for label in labels {
            for end in text.ends(of: label) {
                let digits = text.word(at: end).prefix { $0.isNumber || $0 == "." }
                if let followedBy, !text.contains(label + digits + followedBy) { continue }
                let parts = digits.split(separator: ".", omittingEmptySubsequences: false).map { Int($0) }
                if let major = majorGiven, let minor = parts.first ?? nil { return (major, minor) }
                if parts.count >= 2, let major = parts[0], let minor = parts[1] { return (major, minor) }
            }
        }
        return nil
    }
}
