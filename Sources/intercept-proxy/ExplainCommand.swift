import ArgumentParser
import FoundationEssentials
import EssentialsSupport
import TrustStoreGuide

struct ExplainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Explain a pasted TLS error: which client printed it, where it ran, why, and the fix there.",
        discussion: """
        Pass the error text (quoted), or - to read a whole log from stdin (up to 1 MiB):
          npm install 2>&1 | intercept-proxy explain --ca-file gateway-root.pem -
        Text that starts with - goes after --:  intercept-proxy explain -- "- Curl error (60): ..."
        --ca-file names your gateway's root certificate (PEM, no key) in every printed fix;
        without it the fix says \(GatewayRoot.placeholder) and explain tells how to get the root.
        """)

    @OptionGroup var gatewayCA: GatewayCAFile

    @Flag(help: "Print JSON for machines: client, cause, context (ids and sentences), the keyed line, store and fix.")
    var json = false

    @Argument(parsing: .allUnrecognized, help: ArgumentHelp("The error text (quoted), or - for stdin.", valueName: "text"))
    var text: [String] = []

    /// More than a whole failing build log needs, and bounded.
    static let inputLimit = 1 << 20

    /// The words after a leading `--` (which marks text that starts with `-`).
    private var words: [String] { text.first == "--" ? Array(text.dropFirst()) : text }

    func validate() throws {
        if words.isEmpty { throw ValidationError("paste the error text (quoted), or pass - and pipe the log: cmd 2>&1 | intercept-proxy explain -") }
    }

    func run() throws {
        let root = try gatewayCA.load()
        let input = words == ["-"] ? try Self.readStandardInput() : words.joined(separator: " ")
        guard input.utf8.count <= Self.inputLimit else { throw Self.tooLong }
        guard let explanation = ErrorExplanation.explain(input) else {
            Terminal.error("""
                no TLS certificate error found in this text. Paste what the failing command printed: the lines \
                with the tool's name and the certificate error (a whole log works: cmd 2>&1 | intercept-proxy explain -)
                """)
            throw ExitCode.failure
        }
        if json {
            print(Self.json(explanation, caFile: root?.path))
        } else {
            print(ExplainReport.render(explanation, caFile: root?.path, caSubject: root?.subject), terminator: "")
        }
    }

    /// The explanation's ids (stable words, as the corpus uses them) and its sentences.
    static func json(_ explanation: ErrorExplanation, caFile: String?) -> String {
        var object: [String: Any] = [
            "client": explanation.client, "clientName": explanation.family.name, "clientNamed": explanation.clientIsNamed,
            "cause": explanation.cause.rawValue, "causeSummary": explanation.cause.summary,
            "context": explanation.context.id, "contextSummary": explanation.context.summary,
            "keyedLine": ["number": explanation.errorLine.number, "text": explanation.errorLine.text] as [String: Any],
            "store": explanation.family.store, "fix": explanation.fix(caFile: caFile),
        ]
        if let host = explanation.host { object["host"] = host }
        if let vendor = explanation.gatewayVendor { object["gatewayVendor"] = vendor }
        if let via = explanation.via { object["via"] = via }
        if explanation.cause == .caFileUnusable, let file = explanation.configuredCAFile { object["caFileNamed"] = file }
        if let problem = explanation.caFileProblem { object["caFileProblem"] = problem }
        let unknown = ExplainReport.couldNotTell(explanation)
        if !unknown.isEmpty { object["couldNotTell"] = unknown }
        return JSONText.encode(object, indent: 2)
    }

    private static let tooLong = ExplainInputError(
        "the text is longer than 1 MiB; pass the end of the log instead: tail -c 1000000 build.log | intercept-proxy explain -")

    /// Reads stdin up to the limit plus one byte, so a longer log is refused instead of truncated.
    private static func readStandardInput() throws -> String {
        let data = StandardIO.readInput(upTo: inputLimit + 1)
        guard data.count <= inputLimit else { throw tooLong }
        guard !data.isEmpty else { throw ExplainInputError("stdin is empty: pipe the failing command's output, e.g. cmd 2>&1 | intercept-proxy explain -") }
        return String(decoding: data, as: UTF8.self)
    }
}

/// A problem with what explain was given: printed as one line, exit 1.
struct ExplainInputError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
