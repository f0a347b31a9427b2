import FoundationEssentials
import EssentialsSupport

/// What a pasted error (or a whole log) means: which client printed it, where it ran, why it
/// failed, which lines said so, and (see `fix(caFile:)`) what to do about it there.
public struct ErrorExplanation: Sendable, Equatable {
    /// A line of the pasted text: 1-based number and the text as pasted (trimmed, shortened).
    public struct Line: Sendable, Equatable {
        public let number: Int
        /// Trimmed, and cut after `limit` characters.
        public let text: String
        /// At most 160 characters of it, around the words that decided.
        public let excerpt: String
        static let limit = 1_000

        init(_ index: Int, in text: ExplainText, around needle: String?) {
            number = index + 1
            self.text = Self.window(of: text.trimmedLine(index), around: needle, limit: Self.limit)
            excerpt = Self.window(of: self.text, around: needle, limit: 160)
        }

        /// At most `limit` characters of `text`, starting a little before `needle` when it is far in.
        private static func window(of text: String, around needle: String?, limit: Int) -> String {
            guard text.count > limit else { return text }
            guard let needle, let found = text.caseInsensitiveRange(of: needle) else {
                return String(text.prefix(limit)) + "..."
            }
            let lead = max(0, min(text.distance(from: text.startIndex, to: found.lowerBound) - 40, text.count - limit))
            let start = text.index(text.startIndex, offsetBy: lead)
            let end = text.index(start, offsetBy: limit, limitedBy: text.endIndex) ?? text.endIndex
            return (lead > 0 ? "..." : "") + text[start..<end] + (end < text.endIndex ? "..." : "")
        }
    }

    /// The family id (see `ClientFamily`).
    public let client: String
    public let cause: Cause
    public let context: Context
    /// The line whose wording decided the cause.
    public let errorLine: Line
    /// The line that named the client, when it was not the error line's wording alone.
    public let clientLine: Line?
    /// The registry or host the failing request went to, when the text names one.
    public let host: String?
    /// The gateway product the text mentions (Zscaler, Netskope, ...), when it does.
    public let gatewayVendor: String?
    /// The CA file the error says the client was told to use (curl's `CAfile:`), when it says.
    public let configuredCAFile: String?
    /// Why that file could not be used, as far as the text tells: missing, unreadable, empty or not PEM.
    public let caFileProblem: String?
    /// The library inside the named tool whose words the error is in, when its setting differs
    /// from the tool's (cargo's git fetches go through libgit2): reported as "TOOL (via LIBRARY)".
    public let via: String?
    /// What the client's version, as the text shows it, changes in the fix (first in the fix).
    public let versionNotes: [String]
    /// Set when no marker of the family is in the text: the error's wording alone implied it.
    let clientImplied: Bool

    /// An explanation made directly rather than read from a text (another tool that knows the
    /// client, the cause and the place; tests that walk every combination).
    public init(family: ClientFamily, cause: Cause, context: Context, host: String? = nil) {
        self.init(client: family.id, cause: cause, context: context, errorLine: Line(0, in: ExplainText(""), around: nil),
                  clientLine: nil, host: host, gatewayVendor: nil, configuredCAFile: nil, caFileProblem: nil, via: nil, versionNotes: [], clientImplied: false)
    }

    private init(client: String, cause: Cause, context: Context, errorLine: Line, clientLine: Line?, host: String?,
                 gatewayVendor: String?, configuredCAFile: String?, caFileProblem: String?, via: String?, versionNotes: [String], clientImplied: Bool) {
        self.clientImplied = clientImplied
        self.client = client
        self.cause = cause
        self.context = context
        self.errorLine = errorLine
        self.clientLine = clientLine
        self.host = host
        self.gatewayVendor = gatewayVendor
        self.configuredCAFile = configuredCAFile
        self.caFileProblem = cause == .caFileUnusable ? caFileProblem : nil
        self.via = via
        self.versionNotes = versionNotes
    }

    public var family: ClientFamily { ClientFamily.named(client)! }
    /// Whether the text names the tool: false when only a library's wording placed it (OpenSSL,
    /// libcurl, rustls, Go's x509), which many tools share.
    public var clientIsNamed: Bool { !family.markers.isEmpty && !clientImplied }
    /// The `snippet --client` name with more detail, when there is one.
    public var snippet: String? { family.snippet }

    /// Classifies a pasted text; nil when it holds no TLS verification error this tool knows.
    /// A JSON-escaped text (an Engine API stream, a JSON log) is read unescaped, and one
    /// hard-wrapped at 80 columns is read with its cut words joined, before it is read as pasted.
    public static func explain(_ text: String) -> ErrorExplanation? {
        for candidate in ExplainInput.readings(of: text) {
            if let explanation = explainOnce(candidate) { return explanation }
        }
        return nil
    }

    /// Where the cause comes from, in order: what a verifier states that no root fixes (its
    /// vocabulary), the signatures tuned on real texts, every stack's vocabulary, and last the
    /// catch-all wordings ("certificate verify failed") that say only that verification failed,
    /// and a block page only after all of them (a client reads one only over a trusted connection).
    private static func explainOnce(_ text: String) -> ErrorExplanation? {
        let folded = ExplainText(text)
        guard let hit = decisiveHit(folded) ?? signatureHit(folded, causeSignatures) ?? vocabularyHit(folded)
                ?? signatureHit(folded, catchAllSignatures) ?? signatureHit(folded, blockPageSignatures)
                ?? signatureHit(folded, packageSignatures) else { return nil }
        let cause = refined(hit.cause, text: text, folded: folded)
        let line = hit.line
        let (family, clientLine) = client(in: folded, errorLine: line, implied: hit.impliedClient)
        return ErrorExplanation(
            client: family.id, cause: cause,
            context: Context.detect(in: folded, client: family.id),
            errorLine: Line(line, in: folded, around: hit.needle),
            clientLine: clientLine.flatMap { index in
                index == line ? nil : Line(index, in: folded, around: family.markers.first { folded.line(index, contains: $0) })
            },
            host: host(in: folded, line: line), gatewayVendor: GatewayRoot.vendor(in: folded),
            configuredCAFile: configuredCAFile(in: text), caFileProblem: caFileProblem(in: folded, near: line),
            via: ClientFamily.libraries.first { library in
                library != family.id && (hit.impliedClient == library || ClientFamily.named(library)!.markers.contains { folded.contains($0) })
            },
            versionNotes: versionNotes(client: family.id, cause: cause, text: folded), clientImplied: !family.markers.contains { folded.contains($0) })
    }

    private struct Hit {
        let cause: Cause
        let needle: String
        let line: Int
        let impliedClient: String?
    }

    private static func decisiveHit(_ text: ExplainText) -> Hit? {
        TLSVocabulary.match(text, only: TLSVocabulary.decisiveCauses).map {
            Hit(cause: $0.entry.cause, needle: $0.needle, line: $0.line, impliedClient: $0.entry.stack.impliedClient)
        }
    }

    private static func vocabularyHit(_ text: ExplainText) -> Hit? {
        // GnuTLS, NSS and schannel are inside many tools: the wording that names the tool (apt's
        // "Certificate verification failed:") implies it.
        TLSVocabulary.match(text).map {
            Hit(cause: $0.entry.cause, needle: $0.needle, line: $0.line,
                impliedClient: $0.entry.stack.impliedClient ?? signatureHit(text, catchAllSignatures)?.impliedClient)
        }
    }

    private static func signatureHit(_ text: ExplainText, _ signatures: [CauseSignature]) -> Hit? {
        for signature in signatures {
            guard let (needle, line) = text.first(of: signature.needles) else { continue }
            // A wording shared by stacks implies no client; the stack whose vocabulary the text uses
            // may (Go's "x509: certificate is valid for ...").
            return Hit(cause: signature.cause(text), needle: needle, line: line,
                       impliedClient: signature.impliedClient ?? TLSVocabulary.match(text)?.entry.stack.impliedClient)
        }
        return nil
    }

    /// What the words leave open: Go's "has expired or is not yet valid" says which end in its
    /// detail ("current time X is before Y"); a log whose clock reads before 2000 has no valid
    /// certificate at all, so the clock is the cause whatever an untrusted-root text says.
    private static func refined(_ cause: Cause, text: String, folded: ExplainText) -> Cause {
        if cause == .expired, let current = folded.line(of: "current time "), folded.line(of: " is before ") == current { return .notYetValid }
        if cause == .untrustedUnknownShape || cause == .expired, clockIsFarOff(text) { return .notYetValid }
        return cause
    }

    /// Timestamps (`1931-02-09 00:12:53`) that put the machine's clock before 2000: every
    /// certificate then looks not yet valid, whatever the client's words say.
    static func clockIsFarOff(_ text: String) -> Bool {
        let scalars = Array(text.unicodeScalars.prefix(200_000))
        var index = 0
        while index + 10 <= scalars.count {
            let window = scalars[index..<index + 10]
            let isDate = window.enumerated().allSatisfy { offset, scalar in
                offset == 4 || offset == 7 ? scalar == "-" : ("0"..."9").contains(scalar)
            }
            if isDate, (index == 0 || !("0"..."9").contains(scalars[index - 1])),
               let year = Int(String(String.UnicodeScalarView(window.prefix(4)))), year >= 1900, year < 2000 {
                return true
            }
            index += 1
        }
        return false
    }

    /// A tool named on the error line itself wins (a curl line inside a rustup log is curl's; a
    /// runtime's own wording there, like `SSLCertVerificationError`, does not decide); else the
    /// first family named anywhere; else the client the error's wording implies.
    private static func client(in text: ExplainText, errorLine: Int, implied: String?) -> (ClientFamily, Int?) {
        let errorText = ExplainText(text.lines.indices.contains(errorLine) ? String(text.lines[errorLine]) : "")
        // A command run by a wrapper (Terraform's local-exec) printed the error: the wrapper is not the client.
        let wrapper = errorText.contains("(local-exec):") ? "terraform" : nil
        let tools = ClientFamily.all.filter { !ClientFamily.runtimeOrder.contains($0.id) && $0.id != wrapper }
        if let family = tools.first(where: { $0.markers.contains { errorText.contains($0) } }) {
            return (family, nil)
        }
        for family in ClientFamily.all where family.id != wrapper {
            if let line = text.earliestLine(of: family.markers) { return (family, line) }
        }
        return (ClientFamily.named(implied ?? "openssl-client") ?? ClientFamily.named("openssl-client")!, nil)
    }

    /// The words before a CA file's path in each client's text: libcurl's `CAfile:` and its load
    /// error, wget's, requests' and pip's, OpenSSL's fopen, node's warning.
    private static let caFileLabels = ["cafile:", "error setting certificate file:", "failed to open cert ", "invalid path:",
                                       "calling fopen(", "ignoring extra certs from `", "loaded ca certificate '", "could not load certificates from "]

    /// The path after the first label, as pasted (paths are case-sensitive).
    private static func configuredCAFile(in text: String) -> String? {
        for label in caFileLabels {
            guard let found = text.caseInsensitiveRange(of: label) else { continue }
            // Spaces after the label, not line breaks (an empty label must not take the next line's
            // first word); isWhitespace ends the path, since "\r\n" in a string literal is one Character.
            var path = text[found.upperBound...].drop { $0 == " " || $0 == "\t" }.prefix { !$0.isWhitespace && !"'\"`,".contains($0) }
            while let last = path.last, ":.)".contains(last) { path = path.dropLast() }
            if !path.isEmpty, path.lowercased() != "none" { return String(path.prefix(300)) }
        }
        return nil
    }

    /// The words that say why a CA file was refused, most specific first (GnuTLS's -64 is its
    /// file error: missing or unreadable; wget's `(0)` is a file that held no certificate).
    private static let caFileProblems: [(needles: [String], problem: String)] = [
        (["permission denied", "eacces"], "unreadable (permission denied)"),
        (["no such file", "invalid path:", "enoent", "does not exist"], "missing (no such file)"),
        (["no certificate or crl found", "no certificate found", "cadata does not contain a certificate", ": (0)."],
         "empty, or not PEM (no certificate found in it)"),
        (["bad base64 decode", "pem_read_bio", "no start line", "asn1"], "not PEM (it could not be decoded)"),
        ([": (-64).", "error while reading file"], "missing or unreadable (GnuTLS could not read it)"),
    ]

    /// Read near the keyed line only: a "permission denied" elsewhere in a log is about something else.
    private static func caFileProblem(in text: ExplainText, near line: Int) -> String? {
        let window = ExplainText(text.lines[max(0, line - 3)..<min(text.lines.count, line + 4)].joined(separator: "\n"))
        return caFileProblems.first { entry in entry.needles.contains { window.contains($0) } }?.problem
    }

    /// The host of the first https URL on the error line, else in the text (the registry for
    /// dockerd's certs.d, the host to exempt from inspection).
    private static func host(in text: ExplainText, line: Int) -> String? {
        let errorText = ExplainText(text.lines.indices.contains(line) ? String(text.lines[line]) : "")
        for source in [errorText, text] {
            for end in source.ends(of: "https://") {
                let host = source.word(at: end).prefix { !"/\"'`)>],;\u{2019}".contains($0) }
                // The host goes into shell commands of the fix: a name, an address or host:port only.
                let isName = host.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || ".-:[]_".unicodeScalars.contains($0)) }
                if !host.isEmpty, isName { return String(host) }
            }
        }
        return nil
    }
}
