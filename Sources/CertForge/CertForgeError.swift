import FoundationEssentials

/// Everything that can go wrong in CertForge. Each message names the input at fault and what to do next.
public enum CertForgeError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The name is neither a DNS name in A-label form nor an IP literal.
    case invalidHostName(String, reason: String)
    /// A `--name-constraints` entry is neither a DNS name nor an IP range.
    case invalidNameConstraint(String, reason: String)
    /// A subject attribute breaks an X.520 upper bound or is not a known attribute type.
    case invalidNameAttribute(type: String, value: String, reason: String)
    /// PEM or DER input could not be parsed as the expected object.
    case invalidEncoding(what: String, source: String, detail: String)
    /// The private key does not belong to the certificate.
    case keyDoesNotMatchCertificate(certificate: String, key: String)
    /// The certificate cannot sign other certificates.
    case notACertificateAuthority(subject: String, source: String)
    /// The CA's validity period has ended.
    case authorityExpired(subject: String, notAfter: Date, source: String)
    /// The CA's validity period has not started.
    case authorityNotYetValid(subject: String, notBefore: Date, source: String)
    /// The key file is encrypted and no passphrase was given.
    case encryptedKeyWithoutPassphrase(source: String)
    /// The key file could not be decrypted with the passphrase given.
    case wrongPassphrase(source: String)
    /// The CA directory lacks a file the profile needs.
    case authorityMissing(directory: String, file: String)
    /// The CA directory already holds material for the profile.
    case authorityExists(directory: String)
    /// The stored hierarchy is inconsistent (an intermediate not signed by its parent, ...).
    case inconsistentAuthority(directory: String, detail: String)
    /// A file system call failed.
    case fileSystem(path: String, detail: String)
    /// An OpenSSL call failed; `detail` carries OpenSSL's own error queue.
    case openSSL(operation: String, detail: String)
    /// An unknown profile or failure mode name.
    case unknownName(kind: String, name: String, known: [String])
    /// `public` names the test world's stand-in for the public web PKI, which never signs as a gateway.
    case publicStandInIsNotAGateway
    /// A quirk changes a certificate the profile's chain does not have (an intermediate in a one-CA shape).
    case quirkNeedsIntermediate(quirk: String, profile: String)
    /// A quirk asked for some hosts only changes a certificate every host shares (the root).
    case quirkNotPerHost(quirk: String, reason: String)

    public var description: String {
        switch self {
        case let .invalidHostName(name, reason):
            return "invalid host name '\(name)': \(reason)"
        case let .invalidNameConstraint(entry, reason):
            return "invalid name constraint '\(entry)': \(reason)"
        case let .invalidNameAttribute(type, value, reason):
            return "subject attribute \(type)=\(value): \(reason)"
        case let .invalidEncoding(what, source, detail):
            return "\(source): not a valid \(what) (\(detail))"
        case let .keyDoesNotMatchCertificate(certificate, key):
            return "the private key in \(key) does not belong to the certificate in \(certificate); pass the key that was generated with that certificate"
        case let .notACertificateAuthority(subject, source):
            return "\(source): '\(subject)' is not a CA certificate (basicConstraints CA:TRUE and keyUsage keyCertSign are required); create one with `openssl req -x509 -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign` or let `intercept-proxy ca init` generate one"
        case let .authorityExpired(subject, notAfter, source):
            return "\(source): CA '\(subject)' expired on \(Self.format(notAfter)); renew it or run `intercept-proxy ca init --force`"
        case let .authorityNotYetValid(subject, notBefore, source):
            return "\(source): CA '\(subject)' is not valid before \(Self.format(notBefore)); check the system clock"
        case let .encryptedKeyWithoutPassphrase(source):
            return "\(source): the private key is encrypted; pass its passphrase with --ca-key-passphrase or INTERCEPT_PROXY_CA_KEY_PASSPHRASE"
        case let .wrongPassphrase(source):
            return "\(source): the passphrase does not decrypt this private key"
        case let .authorityMissing(directory, file):
            return "\(directory): no \(file); run `intercept-proxy ca init` to create the CA"
        case let .authorityExists(directory):
            return "\(directory) already holds a CA; pass --force to replace it (clients that trust the old root will then fail)"
        case let .inconsistentAuthority(directory, detail):
            return "\(directory): \(detail); run `intercept-proxy ca init --force` to regenerate the hierarchy"
        case let .fileSystem(path, detail):
            return "\(path): \(detail)"
        case let .openSSL(operation, detail):
            return "OpenSSL \(operation) failed: \(detail)"
        case let .unknownName(kind, name, known):
            return "unknown \(kind) '\(name)'; choose one of: \(known.joined(separator: ", "))"
        case let .quirkNeedsIntermediate(quirk, profile):
            return "quirk \(quirk) changes the intermediates, and profile \(profile) has none; choose zscaler or netskope"
        case let .quirkNotPerHost(quirk, reason):
            return "quirk \(quirk) cannot be given per host: \(reason)"
        case .publicStandInIsNotAGateway:
            return "'public' is the test world's stand-in for the public web PKI, not a gateway profile; choose one of: \(ChainProfile.presets.map(\.name).joined(separator: ", ")) (the stand-in signs bypassed hosts and the direct world on its own: see --bypass and --world)"
        }
    }

    private static func format(_ date: Date) -> String {
        date.formatted(.iso8601)
    }
}
