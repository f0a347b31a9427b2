// The targets reach internal parsers (@testable): a debug or fuzzing build only (see FuzzEntry.swift).
#if DEBUG || FUZZING
import TrustStoreGuide

/// `explain`: any pasted text, any size; the classification ignores ASCII case, and every
/// explanation renders a fix.
enum ExplainTarget {
    static func run(_ data: [UInt8]) {
        let text = String(decoding: data, as: UTF8.self)
        let explanation = ErrorExplanation.explain(text)
        if let explanation {
            precondition(!explanation.fix(caFile: nil).isEmpty, "an explanation without a fix")
            _ = ExplainReport.render(explanation, caFile: "/ca.pem")
        }
        if data.allSatisfy({ $0 < 0x80 }) {
            let upper = ErrorExplanation.explain(text.uppercased())
            precondition(upper.map(classification) == explanation.map(classification), "explain depends on case")
        }
    }

    /// What explain decided, without the quoted text (which keeps the pasted case).
    private static func classification(_ explanation: ErrorExplanation) -> String {
        "\(explanation.client) \(explanation.cause.rawValue) \(explanation.context.id) \(explanation.errorLine.number) \(explanation.clientLine?.number ?? 0)"
    }
}
#endif
