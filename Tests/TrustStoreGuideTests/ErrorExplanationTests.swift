import Testing
import TrustStoreGuide

/// Every error text of the reference table (shared/reference/trust-stores.md, section 1) maps to
/// the client that prints it and the cause behind it; and the parts of a report that do not
/// depend on the corpus: placeholder, how to get the root, vendors, PowerShell lines.
@Suite struct ErrorExplanationTests {
    typealias Cause = ErrorExplanation.Cause

    static let table: [(text: String, client: String, cause: Cause)] = [
        ("verify error:num=20:unable to get local issuer certificate\nVerify return code: 20 (unable to get local issuer certificate)", "openssl", .untrustedRootNotSent),
        ("verify error:num=21:unable to verify the first certificate\nVerify return code: 21 (unable to verify the first certificate)", "openssl", .leafAloneUntrusted),
        ("verify error:num=19:self-signed certificate in certificate chain", "openssl", .untrustedRootSent),
        ("verify error:num=18:self-signed certificate", "openssl", .selfSignedLeaf),
        ("verify error:num=2:unable to get issuer certificate", "openssl", .onlyIntermediateTrusted),
        ("curl: (60) SSL certificate problem: unable to get local issuer certificate", "curl", .untrustedRootNotSent),
        ("curl: (60) SSL certificate problem: self-signed certificate in certificate chain", "curl", .untrustedRootSent),
        ("ssl.SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate (_ssl.c:1006)", "python", .untrustedRootNotSent),
        ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get issuer certificate (_ssl.c:1006)", "python", .onlyIntermediateTrusted),
        ("requests.exceptions.SSLError: HTTPSConnectionPool(host='pypi.org', port=443): Max retries exceeded with url: / (Caused by SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate (_ssl.c:1006)')))", "requests", .untrustedRootNotSent),
        ("Could not fetch URL https://pypi.org/simple/six/: There was a problem confirming the ssl certificate: HTTPSConnectionPool(host='pypi.org', port=443): Max retries exceeded (Caused by SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate')))", "pip", .untrustedRootNotSent),
        ("error: invalid peer certificate: UnknownIssuer\n  hint: use `--system-certs`", "uv", .untrustedUnknownShape),
        ("invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))", "rustls", .caUsedAsLeaf),
        ("Error: unable to get local issuer certificate\n  code: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY'", "node", .untrustedRootNotSent),
        ("npm error code UNABLE_TO_VERIFY_LEAF_SIGNATURE", "npm", .leafAloneUntrusted),
        ("npm error code SELF_SIGNED_CERT_IN_CHAIN", "npm", .untrustedRootSent),
        ("code: 'DEPTH_ZERO_SELF_SIGNED_CERT'", "node", .selfSignedLeaf),
        ("code: 'UNABLE_TO_GET_ISSUER_CERT'", "node", .onlyIntermediateTrusted),
        ("Error response from daemon: Get \"https://registry-1.docker.io/v2/\": tls: failed to verify certificate: x509: certificate signed by unknown authority", "docker", .untrustedUnknownShape),
        ("javax.net.ssl.SSLHandshakeException: PKIX path building failed: sun.security.provider.certpath.SunCertPathBuilderException: unable to find valid certification path to requested target", "java", .untrustedUnknownShape),
        ("fatal: unable to access 'https://github.com/x/y.git/': server certificate verification failed. CAfile: none CRLfile: none", "git", .untrustedUnknownShape),
        ("ERROR: The certificate of 'pypi.org' is not trusted.\nERROR: The certificate of 'pypi.org' doesn't have a known issuer.", "wget", .untrustedUnknownShape),
        ("Certificate verification failed: The certificate is NOT trusted. The certificate issuer is unknown.", "apt", .untrustedUnknownShape),
        ("SSL_connect returned=1 errno=0 state=error: certificate verify failed (unable to get local issuer certificate)", "ruby", .untrustedRootNotSent),
        ("SSL verification error at depth 1: unable to get local issuer certificate (20)\nYou must add /C=US/O=Zscaler Inc./CN=Zscaler Root CA to your local trusted store", "gem", .untrustedRootNotSent),
        ("SSL verification error at depth 0: unable to get local issuer certificate (20)", "gem", .leafAloneUntrusted),
        ("SSL verification error at depth 2: self-signed certificate in certificate chain (19)", "gem", .untrustedRootSent),
        ("[60] SSL peer certificate or SSH remote key was not OK (SSL certificate problem: unable to get local issuer certificate)", "openssl-client", .untrustedRootNotSent),
        ("The SSL connection could not be established, see inner exception. ... RemoteCertificateChainErrors ... PartialChain", "dotnet", .untrustedRootNotSent),
        ("The SSL connection could not be established ... UntrustedRoot", "dotnet", .untrustedRootSent),
        ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: Missing Authority Key Identifier", "python", .nonStrictCA),
        ("CA cert does not include key usage extension", "python", .nonStrictCA),
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
        #expect(ErrorExplanation.explain("segmentation fault (core dumped)") == nil)
        #expect(ErrorExplanation.explain("") == nil)
    }

    @Test func suggestedSnippetsExist() {
        for family in ClientFamily.all {
            if let snippet = family.snippet { #expect(ClientSnippet.named(snippet) != nil, "\(family.id): \(snippet)") }
        }
    }

    @Test func withoutACAFileTheFixUsesThePlaceholderAndTheReportSaysHowToGetTheRoot() throws {
        let explanation = try #require(ErrorExplanation.explain("npm error code SELF_SIGNED_CERT_IN_CHAIN"))
        #expect(explanation.fix(caFile: nil).contains("export NODE_EXTRA_CA_CERTS=<your-gateway-root.pem>   # read at start only; node >= 23.9 (22.15): --use-system-ca with the root in the OS store (NODE_USE_SYSTEM_CA=1 from 24.6 and 22.19)") == false)
        #expect(explanation.fix(caFile: nil).joined().contains("NODE_EXTRA_CA_CERTS=<your-gateway-root.pem>"))
        let report = ExplainReport.render(explanation, caFile: nil)
        for os in ["macOS    security find-certificate", "Windows  certmgr.msc", "Linux    openssl s_client -showcerts", "Zscaler does not send its root"] {
            #expect(report.contains(os), "\(os)")
        }
        let withFile = ExplainReport.render(explanation, caFile: "/etc/gw/root.pem", caSubject: "CN=Example Gateway Root")
        #expect(withFile.contains("root      /etc/gw/root.pem (CN=Example Gateway Root)"))
        #expect(withFile.contains("NODE_EXTRA_CA_CERTS=/etc/gw/root.pem") && !withFile.contains(GatewayRoot.placeholder))
    }

    /// The vendor named in the log picks the root's name in the how-to; a Netskope user never
    /// reads "Zscaler" anywhere but in the sentence that Zscaler does not send its root.
    @Test func theHowToNamesTheGatewayTheLogMentions() throws {
        let zscaler = try #require(ErrorExplanation.explain("SSL verification error at depth 1: unable to get local issuer certificate (20)\nYou must add /C=US/O=Zscaler Inc./CN=Zscaler Root CA to your local trusted store"))
        #expect(zscaler.gatewayVendor == "Zscaler")
        #expect(ExplainReport.render(zscaler, caFile: nil).contains("-c \"Zscaler Root CA\""))
        let netskope = try #require(ErrorExplanation.explain("curl: (60) SSL certificate problem: self-signed certificate in certificate chain\n* issuer: CN=ca.acme.goskope.com; O=Netskope"))
        #expect(netskope.gatewayVendor == "Netskope")
        let report = ExplainReport.render(netskope, caFile: nil)
        #expect(report.contains("-c \"Netskope\""))
        #expect(report.components(separatedBy: "Zscaler").count == 2, "\(report)")
    }

    /// Every BuildKit log says "load metadata for" and "resolve image config": a tool failing in a
    /// RUN step is the build's (Dockerfile fix), not the daemon's. (Shaped like BuildKit's output.)
    @Test func aToolFailingInABuildStepIsNotTheDaemon() throws {
        let log = """
            #3 [internal] load metadata for docker.io/library/golang:1.22
            #3 DONE 0.8s
            #7 [builder 3/5] RUN go mod download
            #7 1.204 go: github.com/spf13/cobra@v1.8.0: Get "https://proxy.golang.org/github.com/spf13/cobra/@v/v1.8.0.mod": tls: failed to verify certificate: x509: certificate signed by unknown authority
            #7 ERROR: process "/bin/sh -c go mod download" did not complete successfully: exit code: 1
            """
        let explanation = try #require(ErrorExplanation.explain(log))
        #expect(explanation.client == "go" && explanation.context == .dockerBuild(distro: "debian"), "\(explanation)")
        #expect(explanation.fix(caFile: "/ca.pem").contains("ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"))
    }

    /// Found by the fuzzer: "\r\n" is one Character, so lines must be split on the byte.
    @Test func windowsLineEndingsKeepLineNumbers() throws {
        let text = "PS C:\\work> curl.exe https://pypi.org\r\n\r\ncurl: (60) schannel: SEC_E_UNTRUSTED_ROOT (0x80090325) - The certificate chain was issued by an authority that is not trusted.\r\n"
        let explanation = try #require(ErrorExplanation.explain(text))
        #expect(explanation.errorLine.number == 3 && explanation.errorLine.text.hasPrefix("curl: (60) schannel"))
        #expect(explanation.client == "curl" && explanation.context == .windows)
    }

    @Test func shellExportsBecomePowerShellAssignmentsOnWindows() throws {
        let explanation = try #require(ErrorExplanation.explain("C:\\work> npm install\nnpm ERR! code UNABLE_TO_GET_ISSUER_CERT_LOCALLY"))
        #expect(explanation.context == .windows)
        #expect(explanation.fix(caFile: "C:\\certs\\gw.pem").first?.hasPrefix("$env:NODE_EXTRA_CA_CERTS = \"C:\\certs\\gw.pem\"   # this session; for good: setx NODE_EXTRA_CA_CERTS") == true)
    }

    /// A client in a running container (compose's `web-1  |`, `docker run`, an image user's path)
    /// gets the image's fix and the container's, never host exports or the host store.
    @Test(arguments: [
        "web-1  | npm error code UNABLE_TO_GET_ISSUER_CERT_LOCALLY\nweb-1  | npm error errno UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
        "$ docker run --rm app:latest\nrequests.exceptions.SSLError: HTTPSConnectionPool(host='pypi.org', port=443): Max retries exceeded (Caused by SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate in certificate chain')))",
        "npm ERR! code SELF_SIGNED_CERT_IN_CHAIN\nnpm ERR! A complete log of this run can be found in:\nnpm ERR!     /root/.npm/_logs/2024-03-01T10_00_00_000Z-debug-0.log",
    ])
    func aClientInARunningContainerGetsTheImagesFix(text: String) throws {
        let explanation = try #require(ErrorExplanation.explain(text))
        #expect(explanation.context == .container, "\(text)")
        let fix = explanation.fix(caFile: "/gw.pem").joined(separator: "\n")
        #expect(fix.contains("snippet --dockerfile Dockerfile --write") && fix.contains("docker run -v /gw.pem:/usr/local/share/ca-certificates/gateway-root.crt:ro"), "\(fix)")
        #expect(!fix.contains("\nexport ") && !fix.hasPrefix("export ") && !fix.contains("sudo "), "no host exports or host store:\n\(fix)")
    }

    /// kubectl's API server, and a provider's cluster CA: the pin, not a store.
    @Test func aPinnedCAGetsThePinsFix() throws {
        for text in ["$ kubectl get pods\nUnable to connect to the server: x509: certificate signed by unknown authority",
                     "Error: Kubernetes cluster unreachable: Get \"https://10.0.0.1/version\": x509: certificate signed by unknown authority\n  with provider[\"registry.terraform.io/hashicorp/helm\"]"] {
            let explanation = try #require(ErrorExplanation.explain(text))
            #expect(explanation.context == .pinnedCA, "\(text)")
            let fix = explanation.fix(caFile: "/gw.pem").joined(separator: "\n")
            #expect(fix.contains("cat cluster-ca.pem /gw.pem > cluster-ca-and-gateway.pem") && fix.contains("cluster_ca_certificate"), "\(fix)")
            #expect(!fix.contains("SSL_CERT_FILE="), "no store applies to a pinned connection:\n\(fix)")
        }
    }

    /// A text that names no tool gets an honest "could not tell" and what to paste, not a guess.
    @Test func aTextThatNamesNoToolSaysSo() throws {
        let explanation = try #require(ErrorExplanation.explain("[ERROR] sync failed: certificate verify failed: unable to get local issuer certificate"))
        #expect(!explanation.clientIsNamed)
        let report = ExplainReport.render(explanation, caFile: nil)
        #expect(report.contains("client    could not tell: the text names no tool"), "\(report)")
        #expect(report.contains("to name the client: paste the command you ran"), "\(report)")
        let named = try #require(ErrorExplanation.explain("curl: (60) SSL certificate problem: unable to get local issuer certificate"))
        #expect(named.clientIsNamed && !ExplainReport.render(named, caFile: nil).contains("could not tell"))
    }

    /// A verifier whose words do not tell the chain's shape (Go, Java, GnuTLS): the report says so
    /// once, with the command whose output tells it, for the host the text names; a text that
    /// tells the shape gets no such line.
    @Test func anUnknownChainShapeSaysWhatToPasteNext() throws {
        let go = try #require(ErrorExplanation.explain("2024/05/01 12:00:00 Get \"https://pkg.example.test/\": tls: failed to verify certificate: x509: certificate signed by unknown authority"))
        // Go's wording only implies Go (any Go-built tool says it): both what could not be told are said.
        #expect(go.cause == .untrustedUnknownShape && !go.clientIsNamed)
        let report = ExplainReport.render(go, caFile: "/gw.pem")
        let lines = report.split(separator: "\n").filter { $0.hasPrefix("could not tell the chain's shape") }
        #expect(lines.count == 1, "\(report)")
        #expect(lines.first?.hasSuffix("paste the output of  openssl s_client -showcerts -connect pkg.example.test:443 -servername pkg.example.test </dev/null") == true, "\(report)")
        #expect(report.contains("\nto name the client: paste the command you ran"), "\(report)")
        let noHost = try #require(ErrorExplanation.explain("x509: certificate signed by unknown authority"))
        #expect(ExplainReport.render(noHost, caFile: nil).contains("-connect HOST:443 -servername HOST"))
        let shaped = try #require(ErrorExplanation.explain("curl: (60) SSL certificate problem: unable to get local issuer certificate"))
        #expect(shaped.cause == .untrustedRootNotSent && !ExplainReport.render(shaped, caFile: nil).contains("could not tell"))
    }

    /// A fix for a replacing setting says why it appends, in explain's own output.
    @Test func aReplacedBundleFixSaysWhyItAppends() throws {
        let explanation = try #require(ErrorExplanation.explain("requests.exceptions.SSLError: HTTPSConnectionPool(host='pypi.org', port=443): Max retries exceeded with url: / (Caused by SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate (_ssl.c:1006)')))"))
        let report = ExplainReport.render(explanation, caFile: "/gw.pem")
        #expect(report.contains("# REQUESTS_CA_BUNDLE replaces the client's roots; with the gateway root alone, hosts the gateway does not inspect and CI without it fail"), "\(report)")
        #expect(report.contains("base=\"$(python3 -m certifi)\" && [ -s \"$base\" ] && cat \"$base\" /gw.pem > \"$HOME/.local/share/gateway-ca/ca-bundle.pem\""), "\(report)")
        #expect(report.contains("export REQUESTS_CA_BUNDLE=\"$HOME/.local/share/gateway-ca/ca-bundle.pem\""), "\(report)")
    }
}
