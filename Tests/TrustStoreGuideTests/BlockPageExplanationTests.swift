import Testing
import TrustStoreGuide

/// A gateway's block page is not a certificate error: the texts it makes clients print (as npm 10,
/// pip 24 and curl printed them through `run --block`) get their own cause, whose fix changes no
/// certificate; a certificate error in the same log still wins, since it came first.
@Suite struct BlockPageExplanationTests {
    typealias Cause = ErrorExplanation.Cause

    /// The page with a 403 (zscaler, netskope, fortinet, umbrella).
    static let npm403 = """
        npm error code E403
        npm error 403 403 Forbidden - GET https://registry.npmjs.org/left-pad
        npm error 403 In most cases, you or one of your dependencies are requesting
        npm error 403 a package version that is forbidden by your security policy, or
        npm error 403 on a server you do not have access to.
        """
    /// The page with a 200 (forcepoint): npm parses it as the registry's JSON.
    static let npmInvalidJSON = """
        npm error code FETCH_ERROR
        npm error errno FETCH_ERROR
        npm error invalid json response body at https://registry.npmjs.org/left-pad reason: Unexpected token '<', "<!DOCTYPE "... is not valid JSON
        """
    static let pip = """
        ERROR: Could not find a version that satisfies the requirement requests (from versions: none)
        ERROR: No matching distribution found for requests
        """
    static let curl = """
        <!DOCTYPE html>
        <html><head><meta charset="utf-8"><title>Website blocked</title></head>
        <body>
        <h1>Website blocked</h1>
        """

    static let texts: [(text: String, client: String, keyed: String)] = [
        (npm403, "npm", "403 Forbidden - GET https://registry.npmjs.org/left-pad"),
        (npmInvalidJSON, "npm", "invalid json response body at https://registry.npmjs.org/left-pad"),
        (pip, "pip", "(from versions: none)"),
        (curl, "curl", "<title>Website blocked</title>"),
        // The certificate-error page of `run --untrusted-upstream block`, as curl prints it.
        ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Untrusted server certificate</title></head>", "curl",
         "<title>Untrusted server certificate</title>"),
        ("ERR_PNPM_FETCH_403  GET https://registry.npmjs.org/left-pad: Forbidden - 403", "pnpm", "ERR_PNPM_FETCH_403"),
        ("npm ERR! Unexpected token < in JSON at position 0\nnpm ERR! <!DOCTYPE html>", "npm", "Unexpected token <"),
    ]

    @Test(arguments: texts)
    func theTextNamesTheClientAndTheBlock(text: String, client: String, keyed: String) throws {
        let explanation = try #require(ErrorExplanation.explain(text), "no explanation for: \(text)")
        #expect(explanation.cause == .blockedByPolicy && explanation.cause.rawValue == "blocked-by-policy", "\(text)")
        #expect(explanation.client == client, "\(text)")
        #expect(explanation.errorLine.text.contains(keyed), "\(explanation.errorLine.text)")
    }

    /// pip prints "(from versions: none)" after its SSL warnings too, and a client reads a page only
    /// over a connection it trusted: the certificate error is the one to fix.
    @Test func aCertificateErrorInTheSameLogWins() throws {
        let log = """
            WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None, status=None)) after connection broken by 'SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate (_ssl.c:1006)'))': /simple/requests/
            ERROR: Could not find a version that satisfies the requirement requests (from versions: none)
            """
        let explanation = try #require(ErrorExplanation.explain(log))
        #expect(explanation.cause == .untrustedRootNotSent && explanation.client == "pip")
    }

    /// A refused publish is a 403 on a PUT: a registry's permission, not a gateway's page.
    @Test func aRefusedPublishIsNotABlockPage() {
        let publish = """
            npm error code E403
            npm error 403 403 Forbidden - PUT https://registry.npmjs.org/left-pad - You do not have permission to publish "left-pad".
            """
        #expect(ErrorExplanation.explain(publish) == nil)
    }

    @Test func theFixChangesNoCertificateAndShowsThePage() throws {
        let explanation = try #require(ErrorExplanation.explain(Self.npmInvalidJSON))
        let fix = explanation.fix(caFile: "/etc/gw/root.pem")
        #expect(fix.first?.hasPrefix("# not a certificate problem") == true, "\(fix)")
        #expect(fix.contains { $0.hasPrefix("curl -sS https://registry.npmjs.org/ | head") }, "\(fix)")
        #expect(fix.contains { $0.contains("ask IT to allow registry.npmjs.org") && $0.contains("mirror") }, "\(fix)")
        #expect(!fix.joined().contains("/etc/gw/root.pem"), "\(fix)")
        // No store, root or how-to-get-the-root: none of them helps here.
        let report = ExplainReport.render(explanation, caFile: nil)
        #expect(report.contains("cause     the gateway's policy blocked the request") && report.contains("not a certificate problem"), "\(report)")
        #expect(!report.contains("\nstore ") && !report.contains("\nroot ") && !report.contains("how to get your gateway's root"), "\(report)")
        #expect(!report.contains(GatewayRoot.placeholder), "\(report)")
    }

    /// pip's words are also what a missing package gets: the fix says so and asks the index.
    @Test func pipsNoVersionsIsTheBlockOrAMissingPackage() throws {
        let fix = try #require(ErrorExplanation.explain(Self.pip)).fix(caFile: nil)
        #expect(fix.first?.contains("nor does an index without the package") == true, "\(fix)")
        #expect(fix.contains { $0.hasPrefix("curl -sS -o /dev/null -w '%{http_code}\\n' https://HOST/simple/requests/") && $0.contains("no such package") },
                "\(fix)")
        let npmFix = try #require(ErrorExplanation.explain(Self.npm403)).fix(caFile: nil)
        #expect(!npmFix.joined().contains("/simple/"), "\(npmFix)")
    }

    @Test func windowsGetsCurlExe() {
        let explanation = ErrorExplanation(family: ClientFamily.named("npm")!, cause: .blockedByPolicy, context: .windows, host: "registry.npmjs.org")
        #expect(explanation.fix(caFile: nil).contains { $0.hasPrefix("curl.exe -sS https://registry.npmjs.org/ | Select-Object -First 20") })
    }
}
