/// What each TLS stack's verifier can say, taken from the stack's own source or documentation
/// (not from example threads), each entry mapped to a cause. `explain` reads a text's code or
/// number before its wording, so a translated, wrapped or wrapped-in-another-message text still
/// resolves. The tables are in TLSVocabulary+*.swift; VocabularyTests walks every entry.
public enum TLSStack: String, Sendable, CaseIterable {
    case openssl, node, go, rustls, java, gnutls, nss, schannel, dotnet, curl, libgit2

    /// The client family the stack's wording implies when the text names no tool.
    var impliedClient: String? {
        switch self {
        case .openssl: return "openssl-client"
        case .node: return "node"
        case .go: return "go"
        case .rustls: return "rustls"
        case .java: return "java"
        case .dotnet: return "dotnet"
        case .curl: return "curl"
        // libgit2's words are common phrases ("certificate is revoked"): its markers name it instead.
        case .gnutls, .nss, .schannel, .libgit2: return nil
        }
    }

    /// curl's exit codes wrap another stack's error (`curl: (60) SSL certificate problem: ...`):
    /// they decide only when no inner stack's code or words are in the text.
    var wrapsAnother: Bool { self == .curl }
}

public struct TLSVocabularyEntry: Sendable {
    public let stack: TLSStack
    /// The name as the stack spells it (`X509_V_ERR_CERT_HAS_EXPIRED`, `UnknownIssuer`, `0x800B0101`'s `CERT_E_EXPIRED`).
    public let code: String
    /// The stack's number for it, where it has one (OpenSSL's 10, NSS's -8181, schannel's HRESULT, curl's exit code).
    public let number: Int?
    /// The words the stack prints (the stable part, without the names or dates it fills in).
    public let text: String
    public let cause: ErrorExplanation.Cause

    init(_ stack: TLSStack, _ code: String, _ number: Int? = nil, _ text: String, _ cause: ErrorExplanation.Cause) {
        self.stack = stack
        self.code = code
        self.number = number
        self.text = text
        self.cause = cause
    }

    /// How the code shows in logs, folded (lower case): each form is matched as a whole token.
    public var codeForms: [String] {
        let name = code.lowercased()
        // A one-word name (`Expired`, `Revoked`) is an everyday word: only its qualified forms count.
        let distinctive = name.contains("_") || code != code.uppercased() && code.filter(\.isUppercase).count >= 2 && code.count >= 6
        var forms: [String] = []
        switch stack {
        case .openssl:
            forms = [name]
            if let number { forms += ["num=\(number)", "error \(number) at", "verify return code: \(number) ("] }
        case .node:
            forms = [name]
        case .go:
            forms = ["x509.\(name)"]
        case .rustls:
            forms = ["invalid peer certificate: \(name)", "certificateerror::\(name)", "error::\(name)", "(\(name))"] + (distinctive ? [name] : [])
        case .java:
            forms = distinctive ? [name] : ["basicreason.\(name)", "pkixreason.\(name)"]
        case .gnutls:
            forms = [name]
        case .nss:
            forms = [name] + (number.map { ["(\($0))", "error code: \($0)", "error \($0)"] } ?? [])
        case .schannel:
            forms = [name] + (number.map { [Self.hex($0), "\(Int32(bitPattern: UInt32($0)))"] } ?? [])
        case .dotnet:
            forms = ["x509chainstatusflags.\(name)", "sslpolicyerrors.\(name)"] + (distinctive ? [name] : [])
        case .libgit2:
            // Only the generic entry has a code; the others are worded (their names are ours).
            forms = number.map { ["code=certificate (\($0))", "git_ecertificate"] } ?? []
        case .curl:
            forms = [name] + (number.map { ["curl: (\($0))", "curl error (\($0))", "curl error \($0):", "curl error: \($0)", "curl: error (\($0))"] } ?? [])
        }
        return forms
    }

    /// The text as matched: lower case, one space for each run of whitespace, no final period.
    public var foldedText: String {
        var words = text.lowercased().split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).joined(separator: " ")
        while words.hasSuffix(".") { words.removeLast() }
        return words
    }

    /// .NET on Linux reports NotSignatureValid beside UntrustedRoot for a root it does not trust
    /// (dotnet/core#8955): there it decides only where nothing else does.
    var isDecisive: Bool { !(stack == .dotnet && cause == .staleRoot) }

    static func hex(_ value: Int) -> String {
        let digits = Array("0123456789abcdef")
        var rest = UInt32(truncatingIfNeeded: value), out = ""
        for _ in 0..<8 { out = String(digits[Int(rest & 0xF)]) + out; rest >>= 4 }
        return "0x" + out
    }
}

public enum TLSVocabulary {
    /// Every entry of every stack.
    public static let entries: [TLSVocabularyEntry] = openssl + node + go + rustls + java + gnutls + nss + schannel + dotnet + curl + libgit2

    /// Causes no root fixes, which a text states outright: read before the signatures, so a
    /// "certificate verify failed" around them does not turn them into "trust the root".
    static let decisiveCauses: Set<ErrorExplanation.Cause> = [.notYetValid, .staleRoot, .emptyTrustStore, .revoked]

    /// One way to find an entry in a text: a code form (a token) or its words.
    struct Needle: Sendable {
        let entry: TLSVocabularyEntry
        let needle: String
        let isCode: Bool
    }

    /// Codes before words, the inner stacks before curl's wrapper codes, and within each tier the
    /// longest needle first, so "crl has expired" is not read as a shorter "has expired".
    static let tiers: [[Needle]] = {
        func tier(_ wrapper: Bool, codes: Bool) -> [Needle] {
            entries.filter { $0.stack.wrapsAnother == wrapper }
                .flatMap { entry in (codes ? entry.codeForms : [entry.foldedText]).map { Needle(entry: entry, needle: $0, isCode: codes) } }
                .sorted { $0.needle.utf8.count > $1.needle.utf8.count }
        }
        return [tier(false, codes: true), tier(false, codes: false), tier(true, codes: true), tier(true, codes: false)]
    }()

    /// The entry the text states, with the needle and its line; `only` narrows to some causes.
    static func match(_ text: ExplainText, only causes: Set<ErrorExplanation.Cause>? = nil) -> (entry: TLSVocabularyEntry, needle: String, line: Int)? {
        for tier in tiers {
            for candidate in tier where causes.map({ candidate.entry.isDecisive && $0.contains(candidate.entry.cause) }) ?? true {
                let line = candidate.isCode ? text.line(ofToken: candidate.needle) : text.line(of: candidate.needle)
                guard let line else { continue }
                // A code in a stack trace, its words on the message line: quote the message.
                if candidate.isCode, let worded = text.line(of: candidate.entry.foldedText) { return (candidate.entry, candidate.entry.foldedText, worded) }
                return (candidate.entry, candidate.needle, line)
            }
        }
        return nil
    }
}
