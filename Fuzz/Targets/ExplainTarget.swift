import TrustStoreGuide

/// `explain`: any pasted text, any size; matching ignores ASCII case.
enum ExplainTarget {
    static func run(_ data: [UInt8]) {
        let text = String(decoding: data, as: UTF8.self)
        let explanation = ErrorExplanation.explain(text)
        if let explanation { _ = "\(explanation.client) \(explanation.cause.rawValue) \(explanation.snippet ?? "")" }
        if data.allSatisfy({ $0 < 0x80 }) {
            precondition(ErrorExplanation.explain(text.uppercased()) == explanation, "explain depends on case")
        }
    }
}
