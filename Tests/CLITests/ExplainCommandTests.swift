import Foundation
import Testing
import TestSupport

/// `intercept-proxy explain` as people use it: a quoted error, a whole log on stdin, text that
/// starts with `-`, and `--ca-file` naming their gateway's root (checked to be a CA, no key).
@Suite struct ExplainCommandTests {
    /// A real BuildKit log (gorse-io/gitrec#31) as a build prints it.
    static let buildLog = """
        #19 [5/6] RUN pip install -r requirements.txt
        #19 9.900 ERROR: Could not install packages due to an OSError: HTTPSConnectionPool(host='files.pythonhosted.org', port=443): Max retries exceeded with url: /packages/80/f1/cd7626c763e58f967317023c3dd01a2fab5d6f00f8e1c672ccceb3aae5cb/amqp-5.0.6-py3-none-any.whl (Caused by SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self signed certificate in certificate chain (_ssl.c:1129)')))
        #19 ERROR: process "/bin/sh -c pip install -r requirements.txt" did not complete successfully: exit code: 1

        """

    /// A root CA, a server certificate and the root's key, made with openssl.
    static func makeCertificates(in scratch: TemporaryDirectory) throws -> (root: String, leaf: String, key: String) {
        let openssl = try requireTool("openssl")
        let root = scratch.path("root.pem"), key = scratch.path("root.key"), leaf = scratch.path("leaf.pem")
        for (subject, file, constraints) in [("/CN=Acme Gateway Root", root, "critical,CA:TRUE"), ("/CN=pypi.org", leaf, "critical,CA:FALSE")] {
            let result = try run(openssl, ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                                           "-keyout", file == root ? key : scratch.path("leaf.key"), "-out", file, "-days", "30",
                                           "-subj", subject, "-addext", "basicConstraints=\(constraints)"])
            try #require(result.status == 0, "\(result)")
        }
        return (root, leaf, key)
    }

    @Test func aPastedErrorGetsClientCauseKeyedLineContextAndAPlaceholderFix() throws {
        let result = try CLI.run(["explain", "npm ERR! request to https://registry.npmjs.org/ansi-regex/-/ansi-regex-2.1.1.tgz failed, reason: self signed certificate in certificate chain"])
        #expect(result.status == 0, "\(result)")
        for wanted in ["client    npm\n", "shape S3", "keyed on  line 1: npm ERR! request to", "context   your shell",
                       "export NODE_EXTRA_CA_CERTS=<your-gateway-root.pem>", "how to get your gateway's root certificate",
                       "security find-certificate", "certmgr.msc", "openssl s_client -showcerts"] {
            #expect(result.stdout.contains(wanted), "\(wanted)\n\(result)")
        }
        #expect(!result.stdout.contains("root-ca.pem") && !result.stdout.contains("zscaler/"))
    }

    @Test func aWholeBuildLogOnStdinGetsTheDockerfileFix() throws {
        let result = try CLI.run(["explain", "-"], input: Self.buildLog)
        #expect(result.status == 0, "\(result)")
        for wanted in ["client    pip\n", "keyed on  line 2: ...", "self signed certificate in certificate chain (_ssl.c:1129)", "context   a docker build step",
                       "ARG PROXY_CA_B64=\"\"", "ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt",
                       "docker build --build-arg PROXY_CA_B64=\"$(base64 < <your-gateway-root.pem> | tr -d '\\n')\" ."] {
            #expect(result.stdout.contains(wanted), "\(wanted)\n\(result)")
        }
        #expect(!result.stdout.contains("\n  export "), "host exports for a failure inside a build\n\(result)")
    }

    /// Up to 1 MiB is read; one byte more is refused with a way out, not truncated silently.
    @Test func stdinIsBoundedToOneMebibyte() throws {
        let filler = String(repeating: "#12 3.4 Collecting a package from the index, line after line of build output\n", count: 14_000)
        let error = "curl: (60) SSL certificate problem: unable to get local issuer certificate\n"
        let fits = String(decoding: filler.utf8.prefix((1 << 20) - error.utf8.count - 1), as: UTF8.self) + "\n" + error
        #expect(fits.utf8.count == 1 << 20)
        let accepted = try CLI.run(["explain", "-"], input: fits)
        #expect(accepted.status == 0 && accepted.stdout.contains("client    curl\n"), "\(accepted.stderr)")
        let refused = try CLI.run(["explain", "-"], input: fits + "x")
        #expect(refused.status == 1, "\(refused)")
        #expect(refused.stderr == "intercept-proxy: error: the text is longer than 1 MiB; pass the end of the log instead: tail -c 1000000 build.log | intercept-proxy explain -\n")
        let empty = try CLI.run(["explain", "-"], input: "")
        #expect(empty.status == 1 && empty.stderr.contains("stdin is empty"), "\(empty)")
    }

    @Test func textStartingWithADashWorksAsArgumentAndOnStdin() throws {
        let dnf = "  - Curl error (60): SSL peer certificate or SSH remote key was not OK for https://localhost:41333/repodata/repomd.xml [SSL certificate OpenSSL verify result: self-signed certificate in certificate chain (19)]"
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\ncurl: (60) SSL certificate problem: self-signed certificate in certificate chain"
        for arguments in [["explain", "--", dnf], ["explain", "- Curl error (77): Problem with the SSL CA cert (path? access rights?)"], ["explain", "--", pem]] {
            let result = try CLI.run(arguments)
            #expect(result.status == 0, "\(arguments)\n\(result)")
            #expect(!result.stdout.contains("keyed on  line 1: --"), "\(result)")
        }
        let piped = try CLI.run(["explain", "-"], input: dnf)
        #expect(piped.status == 0 && piped.stdout.contains("client    dnf/yum (libcurl)"), "\(piped)")
        #expect(piped.stdout.contains("update-ca-trust extract"))
    }

    /// The unrecognised-text message says what to paste; it points to no file users lack.
    @Test func unrecognisedTextSaysWhatToPaste() throws {
        let result = try CLI.run(["explain", "Segmentation fault (core dumped)"])
        #expect(result.status == 1)
        #expect(result.stderr == "intercept-proxy: error: no TLS certificate error found in this text. Paste what the failing command printed: the lines with the tool's name and the certificate error (a whole log works: cmd 2>&1 | intercept-proxy explain -)\n")
        #expect(!result.stderr.contains(".md"))
        let nothing = try CLI.run(["explain"])
        #expect(nothing.status == 2 && nothing.stderr.contains("paste the error text"), "\(nothing)")
    }

    @Test func caFileNamesTheGatewayRootInEveryFix() throws {
        let scratch = try TemporaryDirectory()
        let (root, _, _) = try Self.makeCertificates(in: scratch)
        let result = try CLI.run(["explain", "--ca-file", root, "-"], input: Self.buildLog)
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout.contains("root      \(root) (CN=Acme Gateway Root)"), "\(result)")
        #expect(result.stdout.contains("base64 < \(root) | tr -d"))
        #expect(!result.stdout.contains("<your-gateway-root.pem>") && !result.stdout.contains("how to get your gateway"))
        let snippet = try CLI.run(["snippet", "--client", "node", "--ca-file", root])
        #expect(snippet.status == 0 && snippet.stdout.contains("export NODE_EXTRA_CA_CERTS=\(root)"), "\(snippet)")
    }

    /// An intermediate is accepted with a note: Python and node need the root itself.
    @Test func anIntermediateAsCAFileGetsANote() throws {
        let scratch = try TemporaryDirectory()
        let (root, _, key) = try Self.makeCertificates(in: scratch)
        let openssl = try requireTool("openssl")
        let request = try run(openssl, ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                                        "-keyout", scratch.path("issuing.key"), "-out", scratch.path("issuing.csr"), "-subj", "/CN=Acme Issuing CA"])
        try #require(request.status == 0, "\(request)")
        let extensions = try scratch.write("ca.ext", "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n")
        let issuing = scratch.path("issuing.pem")
        let signed = try run(openssl, ["x509", "-req", "-in", scratch.path("issuing.csr"), "-CA", root, "-CAkey", key, "-CAcreateserial",
                                       "-out", issuing, "-days", "30", "-extfile", extensions])
        try #require(signed.status == 0, "\(signed)")
        let result = try CLI.run(["explain", "--ca-file", issuing, "curl: (60) SSL certificate problem: unable to get local issuer certificate"])
        #expect(result.status == 0, "\(result)")
        #expect(result.stderr.contains("note: --ca-file \(issuing) is an intermediate (issued by CN=Acme Gateway Root); Python and node need the root itself"), "\(result)")
        #expect(result.stdout.contains("cat \"$base\" \(issuing) > \"$HOME/.local/share/gateway-ca/ca-bundle.pem\""), "\(result)")
        #expect(result.stdout.contains("export CURL_CA_BUNDLE=\"$HOME/.local/share/gateway-ca/ca-bundle.pem\""), "\(result)")
    }

    /// A certificate alone, and a CA: keys, server certificates, DER and missing files are refused
    /// with what to do instead, by explain and by snippet alike.
    @Test func caFileMustBeACACertificateWithoutKey() throws {
        let scratch = try TemporaryDirectory()
        let (root, leaf, key) = try Self.makeCertificates(in: scratch)
        let withKey = try scratch.write("with-key.pem", String(contentsOfFile: root, encoding: .utf8) + String(contentsOfFile: key, encoding: .utf8))
        let der = scratch.path("root.der")
        try #require(run(try requireTool("openssl"), ["x509", "-in", root, "-outform", "der", "-out", der]).status == 0)
        let cases: [(String, String)] = [
            (withKey, "holds a private key: pass the root certificate alone"),
            (leaf, "CN=pypi.org is not a CA certificate"),
            (der, "is DER; the fixes need PEM: openssl x509 -inform der"),
            (scratch.path("missing.pem"), "no such file"),
            (try scratch.write("notes.txt", "my gateway root\n"), "holds no certificate"),
        ]
        for (file, message) in cases {
            for command in [["explain", "--ca-file", file, "curl: (60) SSL certificate problem: unable to get local issuer certificate"],
                            ["snippet", "--client", "curl", "--ca-file", file]] {
                let result = try CLI.run(command)
                #expect(result.status == 1 && result.stderr.contains(message), "\(command)\n\(result)")
                #expect(result.stdout.isEmpty)
            }
        }
    }

    /// For machines: the ids the corpus uses, the keyed line and the fix as lines.
    @Test func jsonCarriesTheIdsTheKeyedLineAndTheFix() throws {
        let text = "web-1  | npm error code UNABLE_TO_GET_ISSUER_CERT_LOCALLY"
        let result = try CLI.run(["explain", "--json", text])
        #expect(result.status == 0, "\(result)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(object["client"] as? String == "npm" && object["cause"] as? String == "root-not-sent" && object["context"] as? String == "container")
        #expect(object["clientNamed"] as? Bool == true)
        #expect((object["keyedLine"] as? [String: Any])?["number"] as? Int == 1)
        let fix = try #require(object["fix"] as? [String])
        #expect(fix.contains { $0.hasPrefix("docker run -v <your-gateway-root.pem>:/usr/local/share/ca-certificates/gateway-root.crt:ro") }, "\(fix)")
    }

    /// What the text does not tell is in the JSON too, each with what to paste next; a named client
    /// with a known chain shape has none.
    @Test func jsonSaysWhatTheTextCouldNotTell() throws {
        let bare = try CLI.run(["explain", "--json", "x509: certificate signed by unknown authority"])
        let unknown = try #require((try JSONSerialization.jsonObject(with: Data(bare.stdout.utf8)) as? [String: Any])?["couldNotTell"] as? [String], "\(bare)")
        #expect(unknown.count == 2, "\(unknown)")
        #expect(unknown.first?.hasPrefix("the client (only a Go program") == true, "\(unknown)")
        #expect(unknown.last?.contains("openssl s_client -showcerts -connect HOST:443") == true, "\(unknown)")

        let named = try CLI.run(["explain", "--json", "npm error code UNABLE_TO_GET_ISSUER_CERT_LOCALLY"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(named.stdout.utf8)) as? [String: Any], "\(named)")
        #expect(object["couldNotTell"] == nil, "\(named.stdout)")
    }

    /// A CA file the client could not load is named with why, in the report and the JSON.
    @Test func anUnusableCAFileIsNamedWithWhy() throws {
        let text = "--2026-12-07 03:57:05--  https://pkg.example/\nERROR: Failed to open cert /etc/corp/ca.pem: (-64).\n"
        let json = try CLI.run(["explain", "--json", "-"], input: text)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any], "\(json)")
        #expect(object["client"] as? String == "wget" && object["cause"] as? String == "ca-file-unusable", "\(json.stdout)")
        #expect(object["caFileNamed"] as? String == "/etc/corp/ca.pem", "\(json.stdout)")
        #expect(object["caFileProblem"] as? String == "missing or unreadable (GnuTLS could not read it)", "\(json.stdout)")
        let report = try CLI.run(["explain", "-"], input: "requests: OSError: Could not find a suitable TLS CA certificate bundle, invalid path: /opt/ca.pem\n")
        #expect(report.stdout.split(separator: "\n").contains { $0.hasPrefix("CA file ") && $0.hasSuffix(" /opt/ca.pem: missing (no such file)") }, "\(report.stdout)")
        #expect(report.stdout.contains("# /opt/ca.pem: missing (no such file)"), "\(report.stdout)")
    }
}
