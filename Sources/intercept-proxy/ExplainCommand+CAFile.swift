import ArgumentParser
import CertForge
import FoundationEssentials
import EssentialsSupport
import TrustStoreGuide

/// `--ca-file`: the user's gateway root (a certificate alone, no key), checked to be a CA.
struct GatewayCAFile: ParsableArguments {
    @Option(name: .customLong("ca-file"), help: ArgumentHelp(
        "Your gateway's root certificate (PEM, no key): named in every printed fix.", valueName: "path"))
    var path: String?

    /// A trust bundle of the OS is a few hundred KiB; anything far larger is not a CA file.
    static let sizeLimit = 4 << 20

    /// The checked file and the subject of its first certificate; nil without --ca-file.
    func load() throws -> (path: String, subject: String)? {
        guard let path else { return nil }
        let url = URL(fileURLWithPath: path)
        guard let status = FileStatus(path: url.path), !status.isDirectory else {
            throw ExplainInputError("--ca-file \(path): no such file")
        }
        guard status.size <= Self.sizeLimit else { throw ExplainInputError("--ca-file \(path): \(status.size) bytes is not a certificate file") }
        guard let bytes = try? Data(contentsOf: url) else { throw ExplainInputError("--ca-file \(path): cannot read it (permissions?)") }
        let text = String(decoding: bytes, as: UTF8.self)
        if text.contains("PRIVATE KEY-----") {
            throw ExplainInputError("--ca-file \(path) holds a private key: pass the root certificate alone (explain never needs a key)")
        }
        let certificates: [Certificate]
        if text.contains("-----BEGIN CERTIFICATE-----") {
            certificates = try Certificate.parsePEM(text, source: path)
        } else if (try? Certificate(derBytes: Array(bytes), source: path)) != nil {
            throw ExplainInputError("--ca-file \(path) is DER; the fixes need PEM: openssl x509 -inform der -in \(path) -out gateway-root.pem")
        } else {
            throw ExplainInputError("--ca-file \(path) holds no certificate: export the gateway's root as PEM (Base-64), see intercept-proxy explain --help")
        }
        if let leaf = certificates.first(where: { !$0.isCertificateAuthority }) {
            throw ExplainInputError("--ca-file \(path): \(leaf.subject) is not a CA certificate (no basicConstraints CA:TRUE); it looks like a server's certificate: export the root that issued it")
        }
        let root = certificates[0]
        if certificates.count == 1, !root.isSelfIssued {
            Terminal.note("note: --ca-file \(path) is an intermediate (issued by \(root.issuer)); Python and node need the root itself")
        }
        if let expired = certificates.first(where: { $0.notAfter < Date() }) {
            Terminal.note("note: --ca-file \(path): \(expired.subject) expired on \(expired.notAfter)")
        }
        let subject = certificates.count == 1 ? root.subject.description : "\(certificates.count) CA certificates, the first \(root.subject)"
        return (path, subject)
    }
}
