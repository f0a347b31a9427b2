import Testing
import TrustStoreGuide

/// Every error text of the reference table (shared/reference/trust-stores.md, section 1) maps to
/// the client that prints it and the cause behind it.
@Suite struct ErrorExplanationTests {
    typealias Cause = ErrorExplanation.Cause

    static let table: [(text: String, client: String, cause: Cause)] = [
        // openssl s_client
        ("verify error:num=20:unable to get local issuer certificate\nVerify return code: 20 (unable to get local issuer certificate)", "openssl s_client", .untrustedRootNotSent),
        ("verify error:num=21:unable to verify the first certificate\nVerify return code: 21 (unable to verify the first certificate)", "openssl s_client", .leafAloneUntrusted),
        ("verify error:num=19:self-signed certificate in certificate chain", "openssl s_client", .untrustedRootSent),
        // curl
        ("curl: (60) SSL certificate problem: unable to get local issuer certificate", "curl", .untrustedRootNotSent),
        ("curl: (60) SSL certificate problem: self-signed certificate in certificate chain", "curl", .untrustedRootSent),
        // Python
        ("ssl.SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate (_ssl.c:1006)", "Python (ssl, urllib, requests, pip)", .untrustedRootNotSent),
        ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate in certificate chain (_ssl.c:1006)", "Python (ssl, urllib, requests, pip)", .untrustedRootSent),
        ("requests.exceptions.SSLError: HTTPSConnectionPool(host='pypi.org', port=443): Max retries exceeded with url: / (Caused by SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate (_ssl.c:1006)')))", "Python requests", .untrustedRootNotSent),
        // pip
        ("Could not fetch URL https://pypi.org/simple/six/: There was a problem confirming the ssl certificate: HTTPSConnectionPool(host='pypi.org', port=443): Max retries exceeded (Caused by SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate')))", "pip", .untrustedRootNotSent),
        // uv
        ("error: invalid peer certificate: UnknownIssuer\n  hint: use `--system-certs`", "uv (rustls)", .untrustedUnknownShape),
        ("invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))", "uv (rustls)", .caUsedAsLeaf),
        // node / npm
        ("Error: unable to get local issuer certificate\n  code: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY'", "node / npm", .untrustedRootNotSent),
        ("npm error code UNABLE_TO_VERIFY_LEAF_SIGNATURE", "node / npm", .leafAloneUntrusted),
        ("npm error code SELF_SIGNED_CERT_IN_CHAIN", "node / npm", .untrustedRootSent),
        ("code: 'DEPTH_ZERO_SELF_SIGNED_CERT'", "node / npm", .selfSignedLeaf),
        ("code: 'UNABLE_TO_GET_ISSUER_CERT'", "node / npm", .onlyIntermediateTrusted),
        // Go, Java, GnuTLS clients
        ("Error response from daemon: Get \"https://registry-1.docker.io/v2/\": tls: failed to verify certificate: x509: certificate signed by unknown authority", "a Go program (docker, kubectl, terraform ...)", .untrustedUnknownShape),
        ("javax.net.ssl.SSLHandshakeException: PKIX path building failed: sun.security.provider.certpath.SunCertPathBuilderException: unable to find valid certification path to requested target", "Java", .untrustedUnknownShape),
        ("fatal: unable to access 'https://github.com/x/y.git/': server certificate verification failed. CAfile: none CRLfile: none", "git (GnuTLS)", .untrustedUnknownShape),
        ("ERROR: The certificate of 'pypi.org' is not trusted.\nERROR: The certificate of 'pypi.org' doesn't have a known issuer.", "wget (GnuTLS)", .untrustedUnknownShape),
        ("Certificate verification failed: The certificate is NOT trusted. The certificate issuer is unknown.", "apt (GnuTLS)", .untrustedUnknownShape),
        // ruby, gem, cargo
        ("SSL_connect returned=1 errno=0 state=error: certificate verify failed (unable to get local issuer certificate)", "ruby (Net::HTTP, bundler)", .untrustedRootNotSent),
        ("SSL verification error at depth 1: unable to get local issuer certificate (20)\nYou must add /C=US/O=Zscaler Inc./CN=Zscaler Root CA to your local trusted store", "gem", .untrustedRootNotSent),
        ("SSL verification error at depth 0: unable to get local issuer certificate (20)", "gem", .leafAloneUntrusted),
        ("SSL verification error at depth 2: self-signed certificate in certificate chain (19)", "gem", .untrustedRootSent),
        ("[60] SSL peer certificate or SSH remote key was not OK (SSL certificate problem: unable to get local issuer certificate)", "cargo", .untrustedRootNotSent),
        // dotnet
        ("The SSL connection could not be established, see inner exception. ... RemoteCertificateChainErrors ... PartialChain", "dotnet / NuGet", .untrustedRootNotSent),
        ("The SSL connection could not be established ... UntrustedRoot", "dotnet / NuGet", .untrustedRootSent),
        // Other shapes
        ("verify error:num=18:self-signed certificate", "openssl s_client", .selfSignedLeaf),
        ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: Basic Constraints of CA cert not marked critical (_ssl.c:1028)", "a strict verifier (Python 3.13+, openssl -x509_strict)", .nonStrictCA),
        ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: Missing Authority Key Identifier", "a strict verifier (Python 3.13+, openssl -x509_strict)", .nonStrictCA),
        ("CA cert does not include key usage extension", "a strict verifier (Python 3.13+, openssl -x509_strict)", .nonStrictCA),
        ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get issuer certificate (_ssl.c:1006)", "Python (ssl, urllib, requests, pip)", .onlyIntermediateTrusted),
        ("verify error:num=2:unable to get issuer certificate", "openssl s_client", .onlyIntermediateTrusted),
        ("curl: (60) SSL certificate problem: self signed certificate in certificate chain", "curl", .untrustedRootSent),
        ("curl: (60) SSL certificate problem: certificate has expired", "curl", .expired),
    ]

    @Test(arguments: table)
    func mapsTheTextToClientAndCause(text: String, client: String, cause: Cause) throws {
        let explanation = try #require(ErrorExplanation.explain(text), "no explanation for: \(text)")
        #expect(explanation.client == client, "\(text)")
        #expect(explanation.cause == cause, "\(text)")
    }

    @Test func unrelatedTextsAreNotExplained() {
        #expect(ErrorExplanation.explain("connection refused") == nil)
        #expect(ErrorExplanation.explain("") == nil)
    }

    @Test func suggestedSnippetsExist() {
        for entry in Self.table {
            if let snippet = ErrorExplanation.explain(entry.text)?.snippet {
                #expect(ClientSnippet.named(snippet) != nil, "\(snippet)")
            }
        }
    }
}
