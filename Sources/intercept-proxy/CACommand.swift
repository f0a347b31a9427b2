import ArgumentParser
import CertForge
import FoundationEssentials
import Glibc
import EssentialsSupport

struct CACommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ca",
        abstract: "Create, inspect and export the certificate authority clients must trust.",
        subcommands: [Init.self, Show.self, Export.self, Lint.self]
    )

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Generate the profile's CA hierarchy in the CA directory (keys 0600, directory 0700).")

        @OptionGroup var ca: CAOptions

        @Flag(help: "Replace an existing CA; clients that trust the old root will fail until they get the new one.")
        var force = false

        @Option(name: .customLong("name-constraints"), help: ArgumentHelp(
            "Let the CA sign only these names: DNS names (each with its subdomains; a leading dot is the same) and IP ranges, "
                + "comma-separated, e.g. .test,.example,corp.internal,10.0.0.0/8. Without an IP range it signs for no IP address.",
            valueName: "list"))
        var nameConstraints: String?

        @OptionGroup var publicStandIn: PublicStandInOption

        func validate() throws {
            if ca.isBringYourOwn { throw ValidationError("ca init generates a CA; --ca-cert/--ca-key are used as they are") }
            if publicStandIn.selected && nameConstraints != nil { throw ValidationError("--name-constraints shapes a gateway CA; the public stand-in has none") }
            _ = try parsedConstraints()
        }

        private func parsedConstraints() throws -> NameConstraints? {
            do {
                return try nameConstraints.map(NameConstraints.init(parsing:))
            } catch let error as CertForgeError {
                throw ValidationError("--name-constraints: \(error.description)")
            }
        }

        func run() throws {
            let profile = publicStandIn.selected ? .publicStandIn : try ca.resolvedProfile()
            let directory = ca.directory
            let authority: CertificateAuthority
            let constraints = try parsedConstraints()
            if directory.contains(profile) && !force {
                authority = try directory.load(profile)
                Terminal.note("CA for profile \(profile.storageName) already exists; keeping it (--force replaces it)")
                if constraints != nil {
                    Terminal.note("--name-constraints applies to a new CA only; the existing root has \(authority.rootCertificate.nameConstraintsText ?? "no name constraints")")
                }
            } else {
                authority = try directory.create(profile, force: force, nameConstraints: constraints)
            }
            print(Show.describe(authority, directory: directory))
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the root's subject, fingerprint, validity and files.")

        @OptionGroup var ca: CAOptions

        @Flag(help: "Print JSON for machines.")
        var json = false

        @OptionGroup var publicStandIn: PublicStandInOption

        func run() throws {
            let authority = publicStandIn.selected ? try ca.loadPublicStandIn() : try ca.loadAuthority(createIfMissing: false)
            let directory: CADirectory? = ca.isBringYourOwn && !publicStandIn.selected ? nil : ca.directory
            if json {
                print(try Self.json(authority, directory: directory))
            } else {
                print(Self.describe(authority, directory: directory))
            }
        }

        static func describe(_ authority: CertificateAuthority, directory: CADirectory?) -> String {
            let root = authority.rootCertificate
            let profile = authority.profile
            let date = Date.ISO8601FormatStyle()
            var rows: [(String, String)] = [
                ("profile", "\(profile.storageName): \(profile.summary)"),
                ("root", root.subject.description),
                ("sha256", root.sha256FingerprintText),
                ("valid", "\(date.format(root.notBefore)) to \(date.format(root.notAfter))"),
                ("key", root.publicKeyAlgorithm?.description ?? "unknown"),
            ]
            for intermediate in authority.intermediates {
                rows.append(("intermediate", intermediate.certificate.subject.description))
            }
            if let constraints = root.nameConstraintsText { rows.append(("names", constraints)) }
            if let directory {
                let pem = directory.rootCertificateURL(for: profile).path
                rows.append(("root file", pem))
                rows.append(("exports", TrustAnchorFormat.allCases.filter { $0 != .pem }
                    .map { directory.exportURL($0, for: profile, root: root).lastPathComponent }.joined(separator: " ")))
                if profile.name == ChainProfile.publicStandIn.name {
                    rows.append(("role", "the test world's public roots: bypassed hosts and the direct world present it; verify --worlds puts it in a sandbox's default stores"))
                } else {
                    rows.append(("trust it", "curl --cacert \(pem) ...   or   intercept-proxy ca export --format crt"))
                }
            }
            return Terminal.table(rows)
        }

        static func json(_ authority: CertificateAuthority, directory: CADirectory?) throws -> String {
            let root = authority.rootCertificate
            var object: [String: Any] = [
                "profile": authority.profile.storageName,
                "subject": root.subject.description,
                "sha256": root.sha256FingerprintText,
                "notBefore": root.notBefore.formatted(.iso8601),
                "notAfter": root.notAfter.formatted(.iso8601),
                "subjectHash": root.subjectHash,
                "intermediates": authority.intermediates.map { $0.certificate.subject.description },
            ]
            if let constraints = root.nameConstraintsText { object["nameConstraints"] = constraints }
            if let directory {
                var files: [String: String] = [:]
                for format in TrustAnchorFormat.allCases {
                    files[format.rawValue] = format == .pem
                        ? directory.rootCertificateURL(for: authority.profile).path
                        : directory.exportURL(format, for: authority.profile, root: root).path
                }
                object["files"] = files
            }
            return JSONText.encode(object, indent: 2)
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the root certificate in a format a client or trust store takes.",
            discussion: """
            pem/crt: PEM text (Debian's update-ca-certificates needs the .crt name). der: binary .cer.
            base64: the PEM as one line, for `docker build --build-arg`. hashed: PEM named <subject_hash>.0
            for an SSL_CERT_DIR (--out names the directory). p12: a certificate-only PKCS#12 trust store,
            password 'changeit', that Java lists as a trustedCertEntry.
            """)

        @OptionGroup var ca: CAOptions

        @Option(help: ArgumentHelp("pem, crt, der, base64, hashed or p12.", valueName: "format"))
        var format: String

        @Option(help: ArgumentHelp("Write to this file (a directory for --format hashed) instead of stdout.", valueName: "path"))
        var out: String?

        @OptionGroup var publicStandIn: PublicStandInOption

        func validate() throws {
            guard TrustAnchorFormat(rawValue: format) != nil else {
                throw ValidationError("unknown format '\(format)'; choose one of: \(TrustAnchorFormat.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }

        func run() throws {
            let format = TrustAnchorFormat(rawValue: format)!
            let authority = publicStandIn.selected ? try ca.loadPublicStandIn() : try ca.loadAuthority(createIfMissing: false)
            let root = authority.rootCertificate
            let bytes = try format.encode(root, friendlyName: root.subject.commonName ?? authority.profile.name)
            guard var destination = out else {
                if (format == .der || format == .p12) && isatty(STDOUT_FILENO) == 1 {
                    throw ValidationError("--format \(format.rawValue) is binary; pass --out FILE or redirect stdout")
                }
                StandardIO.write(bytes, to: STDOUT_FILENO)
                if format == .hashed { Terminal.note("save it as \(format.fileName(for: root, base: "root-ca")) in a directory listed in SSL_CERT_DIR") }
                return
            }
            if format == .hashed {
                try FileManager.default.createDirectory(atPath: destination, withIntermediateDirectories: true)
                destination = URL(fileURLWithPath: destination).appendingPathComponent(format.fileName(for: root, base: "root-ca")).path
            }
            guard FileManager.default.createFile(atPath: destination, contents: Data(bytes)) else {
                throw CertForgeError.fileSystem(path: destination, detail: "cannot write the file")
            }
            Terminal.note("wrote \(destination)")
        }
    }
}

/// `--public`: the public stand-in root instead of the gateway's, for ca init, show and export.
struct PublicStandInOption: ParsableArguments {
    @Flag(name: .customLong("public"), help: "The public stand-in root (what bypassed hosts and the direct world present; created on first use) instead of the gateway's.")
    var selected = false
}
