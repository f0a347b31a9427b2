/// What a pasted error means: which client printed it, the chain shape behind it, the cause and the fix.
public struct ErrorExplanation: Sendable, Equatable {
    /// S1: leaf + intermediates without the root; S2: leaf alone; S3: the self-signed root is sent too.
    public enum Cause: String, Sendable {
        case untrustedRootNotSent = "the client does not trust the proxy's root, and the chain it got does not contain the root (shape S1 or S2)"
        case untrustedRootSent = "the client does not trust the proxy's root, which the proxy sent along (shape S3: self-signed root in the chain)"
        case leafAloneUntrusted = "the server sent its leaf alone and the client cannot find the issuer (shape S2)"
        case untrustedUnknownShape = "the client does not trust the CA that issued the certificate (its message does not tell the chain shape)"
        case onlyIntermediateTrusted = "only an intermediate is trusted: this client insists on a chain that ends in a self-signed root; install the root"
        case selfSignedLeaf = "the certificate is self-signed (not issued by any CA)"
        case caUsedAsLeaf = "the server presented a CA certificate as its own certificate"
        case nonStrictCA = "the CA certificate breaks RFC 5280 rules that strict verifiers enforce (Python 3.13, -x509_strict)"
        case expired = "a certificate in the chain has expired (or the clock is wrong)"
    }

    public let client: String
    public let cause: Cause
    /// The client snippet to apply (a name accepted by `snippet --client`).
    public let snippet: String?

    /// Matches a pasted error text against what each client prints (most specific first).
    public static func explain(_ text: String) -> ErrorExplanation? {
        let lowered = text.lowercased()
        for rule in rules where rule.needles.allSatisfy({ lowered.contains($0.lowercased()) }) {
            return ErrorExplanation(client: rule.client, cause: rule.cause(lowered), snippet: rule.snippet)
        }
        return nil
    }

    private struct Rule {
        let needles: [String]
        let client: String
        let snippet: String?
        let cause: @Sendable (String) -> Cause
        init(_ needles: [String], client: String, snippet: String?, _ cause: @escaping @Sendable (String) -> Cause) {
            self.needles = needles
            self.client = client
            self.snippet = snippet
            self.cause = cause
        }
        init(_ needles: [String], client: String, snippet: String?, cause: Cause) {
            self.init(needles, client: client, snippet: snippet) { _ in cause }
        }
    }

    /// OpenSSL's wording decides the shape for every OpenSSL-based client.
    private static func opensslShape(_ text: String) -> Cause {
        if text.contains("self-signed certificate in certificate chain") || text.contains("self signed certificate in certificate chain") {
            return .untrustedRootSent
        }
        if text.contains("unable to verify the first certificate") { return .leafAloneUntrusted }
        if text.contains("self-signed certificate") || text.contains("self signed certificate") { return .selfSignedLeaf }
        if text.contains("certificate has expired") { return .expired }
        if text.contains("unable to get issuer certificate") && !text.contains("locally") && !text.contains("local issuer") {
            return .onlyIntermediateTrusted
        }
        return .untrustedRootNotSent
    }

    private static let rules: [Rule] = [
        Rule(["Missing Authority Key Identifier"], client: "a strict verifier (Python 3.13+, openssl -x509_strict)", snippet: nil, cause: .nonStrictCA),
        Rule(["Basic Constraints of CA cert not marked critical"], client: "a strict verifier (Python 3.13+, openssl -x509_strict)", snippet: nil, cause: .nonStrictCA),
        Rule(["CA cert does not include key usage extension"], client: "a strict verifier (Python 3.13+, openssl -x509_strict)", snippet: nil, cause: .nonStrictCA),
        Rule(["CaUsedAsEndEntity"], client: "uv (rustls)", snippet: "uv", cause: .caUsedAsLeaf),
        Rule(["UnknownIssuer"], client: "uv (rustls)", snippet: "uv", cause: .untrustedUnknownShape),
        Rule(["DEPTH_ZERO_SELF_SIGNED_CERT"], client: "node / npm", snippet: "node", cause: .selfSignedLeaf),
        Rule(["SELF_SIGNED_CERT_IN_CHAIN"], client: "node / npm", snippet: "node", cause: .untrustedRootSent),
        Rule(["UNABLE_TO_VERIFY_LEAF_SIGNATURE"], client: "node / npm", snippet: "node", cause: .leafAloneUntrusted),
        Rule(["UNABLE_TO_GET_ISSUER_CERT_LOCALLY"], client: "node / npm", snippet: "node", cause: .untrustedRootNotSent),
        Rule(["UNABLE_TO_GET_ISSUER_CERT"], client: "node / npm", snippet: "node", cause: .onlyIntermediateTrusted),
        Rule(["x509: certificate signed by unknown authority"], client: "a Go program (docker, kubectl, terraform ...)", snippet: "go", cause: .untrustedUnknownShape),
        Rule(["PKIX path building failed"], client: "Java", snippet: "java", cause: .untrustedUnknownShape),
        Rule(["unable to find valid certification path"], client: "Java", snippet: "java", cause: .untrustedUnknownShape),
        Rule(["server certificate verification failed"], client: "git (GnuTLS)", snippet: "git", cause: .untrustedUnknownShape),
        Rule(["Certificate verification failed: The certificate is NOT trusted"], client: "apt (GnuTLS)", snippet: nil, cause: .untrustedUnknownShape),
        Rule(["doesn't have a known issuer"], client: "wget (GnuTLS)", snippet: nil, cause: .untrustedUnknownShape),
        Rule(["is not trusted"], client: "wget (GnuTLS)", snippet: nil, cause: .untrustedUnknownShape),
        Rule(["PartialChain"], client: "dotnet / NuGet", snippet: "dotnet", cause: .untrustedRootNotSent),
        Rule(["UntrustedRoot"], client: "dotnet / NuGet", snippet: "dotnet", cause: .untrustedRootSent),
        Rule(["The SSL connection could not be established"], client: "dotnet / NuGet", snippet: "dotnet", cause: .untrustedUnknownShape),
        Rule(["SSL verification error at depth"], client: "gem", snippet: "ruby", opensslShapeFromCode),
        Rule(["SSL peer certificate or SSH remote key was not OK"], client: "cargo", snippet: "cargo", opensslShape),
        Rule(["There was a problem confirming the ssl certificate"], client: "pip", snippet: "pip", opensslShape),
        Rule(["HTTPSConnectionPool"], client: "Python requests", snippet: "requests", opensslShape),
        Rule(["CERTIFICATE_VERIFY_FAILED"], client: "Python (ssl, urllib, requests, pip)", snippet: "requests", opensslShape),
        Rule(["curl: (60)"], client: "curl", snippet: "curl", opensslShape),
        Rule(["certificate verify failed ("], client: "ruby (Net::HTTP, bundler)", snippet: "ruby", opensslShape),
        Rule(["verify error:num="], client: "openssl s_client", snippet: "curl", opensslShape),
        Rule(["Verify return code"], client: "openssl s_client", snippet: "curl", opensslShape),
        Rule(["unable to get local issuer certificate"], client: "an OpenSSL-based client", snippet: "curl", opensslShape),
        Rule(["self-signed certificate in certificate chain"], client: "an OpenSSL-based client", snippet: "curl", opensslShape),
        Rule(["self signed certificate in certificate chain"], client: "an OpenSSL-based client (OpenSSL 1.1)", snippet: "curl", opensslShape),
    ]

    /// gem names the depth and OpenSSL's code: (19) root sent; depth 0 means the leaf's own issuer is missing.
    private static func opensslShapeFromCode(_ text: String) -> Cause {
        if text.contains("(19)") { return .untrustedRootSent }
        if text.contains("at depth 0") { return .leafAloneUntrusted }
        return opensslShape(text)
    }
}
