import FoundationEssentials
import EssentialsSupport

/// The text `intercept-proxy explain` prints for people: aligned rows, then the fix, then where
/// the gateway's root comes from.
public enum ExplainReport {
    /// `caFile` is the user's gateway root (nil prints the placeholder and how to get the root);
    /// `caSubject` its subject, shown beside the path.
    public static func render(_ explanation: ErrorExplanation, caFile: String?, caSubject: String? = nil) -> String {
        // A block page's fix is the same for every client: no store, root or snippet to name.
        let root = explanation.cause.involvesTheRoot
        var client = explanation.family.name + (explanation.via.flatMap { ClientFamily.named($0)?.name }.map { " (via \($0))" } ?? "")
        if let line = explanation.clientLine { client += " (named on line \(line.number): \(line.excerpt))" }
        if !explanation.clientIsNamed, root {
            client = "could not tell: the text names no tool this knows, only \(explanation.family.name)'s wording shows; the fix below is that library's usual one"
        }
        var rows = [
            ("client", client),
            ("cause", explanation.cause.summary),
            ("keyed on", "line \(explanation.errorLine.number): \(explanation.errorLine.excerpt)"),
            ("context", explanation.context.summary),
        ]
        if let problem = explanation.caFileProblem { rows.append(("CA file", "\(explanation.configuredCAFile ?? "the one configured"): \(problem)")) }
        if root {
            rows.append(("store", explanation.family.store))
            if let caFile {
                rows.append(("root", caFile + (caSubject.map { " (\($0))" } ?? "")))
            } else {
                rows.append(("root", "not given: the fix says \(GatewayRoot.placeholder); pass --ca-file PATH (how to get it: below)"))
            }
        }
        var text = table(rows) + "\n\nfix:\n" + explanation.fix(caFile: caFile).map { "  " + $0 }.joined(separator: "\n") + "\n"
        if root, let snippet = explanation.snippet, case .shell = explanation.context {
            text += "  # more for this client: intercept-proxy snippet --client \(snippet)\(caFile.map { " --ca-file \($0)" } ?? "")\n"
        }
        if !explanation.clientIsNamed, root {
            text += "\nto name the client: \(nameTheClient)\n"
        }
        if explanation.cause == .untrustedUnknownShape {
            text += "\ncould not tell \(chainShapeUnknown(explanation))\n"
        }
        if caFile == nil, root {
            text += "\nhow to get your gateway's root certificate (PEM):\n"
            text += GatewayRoot.howToGet(vendor: explanation.gatewayVendor).map { "  " + $0 }.joined(separator: "\n") + "\n"
        }
        return text
    }

    /// What the text did not tell, each with what to paste next (for `--json`'s `couldNotTell`).
    public static func couldNotTell(_ explanation: ErrorExplanation) -> [String] {
        var notes: [String] = []
        if !explanation.clientIsNamed, explanation.cause.involvesTheRoot {
            notes.append("the client (only \(explanation.family.name)'s wording shows): \(nameTheClient)")
        }
        if explanation.cause == .untrustedUnknownShape { notes.append(chainShapeUnknown(explanation)) }
        return notes
    }

    static let nameTheClient = "paste the command you ran and the lines before the error (a whole log: intercept-proxy explain - < build.log)"

    static func chainShapeUnknown(_ explanation: ErrorExplanation) -> String {
        let host = explanation.host ?? "HOST"
        return "the chain's shape (whether the server sent its root, the chain is incomplete or the leaf came alone): "
            + "paste the output of  openssl s_client -showcerts -connect \(host):443 -servername \(host) </dev/null"
    }

    /// Lines of `label  value` with the labels padded to one width.
    static func table(_ rows: [(String, String)]) -> String {
        let width = rows.map(\.0.count).max() ?? 0
        return rows.map { $0.0.paddedRight(to: width) + "  " + $0.1 }.joined(separator: "\n")
    }
}
