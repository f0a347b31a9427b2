import FoundationEssentials
import EssentialsSupport

/// Fixes for the causes where trusting the gateway's root again does not help (or must first
/// undo something): the clock, a rotated root, an empty store, a revoked certificate.
extension ErrorExplanation {
    var notYetValidFix: [String] {
        var lines = ["# a certificate is not valid yet: this machine's clock is almost always behind; trusting a root does not help"]
        if let dates = validityDates { lines.append("# the text says: \(dates)") }
        lines += [
            "date -u   # compare with the real time (UTC)",
            context == .windows ? "w32tm /resync   # or Settings > Time > Sync now" : "sudo timedatectl set-ntp true   # or once: sudo chronyd -q 'pool pool.ntp.org iburst'",
            "# in a container or VM the clock is the host's (or the VM's: restart it after a sleep); a board without a clock battery needs fake-hwclock or NTP at boot",
            peek("-dates") + "   # notBefore in the future for the real time too: the gateway issued it early, ask IT",
            "openssl x509 -noout -dates -in {CA}   # your gateway root's notBefore",
        ]
        return lines
    }

    /// Go's "current time X is before Y", or Java's "NotBefore: ...", as the text gives it.
    var validityDates: String? {
        let text = errorLine.text
        for label in ["current time ", "NotBefore: "] {
            guard let start = text.caseInsensitiveRange(of: label) else { continue }
            return String(text[start.lowerBound...].prefix(120))
        }
        return nil
    }

    var staleRootFix: [String] {
        [
            "# a root with the issuer's name but another key is installed: the gateway's CA was re-issued and this client still holds the old one",
            "openssl x509 -noout -subject -fingerprint -sha256 -ext subjectKeyIdentifier -in {CA}   # the root you are about to install (the current one)",
            "openssl s_client -showcerts -connect \(hostOrPlaceholder):443 -servername \(hostOrPlaceholder) </dev/null 2>/dev/null | openssl x509 -noout -issuer -ext authorityKeyIdentifier   # the key the gateway signs with now: its keyid must equal the root's subjectKeyIdentifier",
            "# remove the old copy where this client reads it (same subject, other fingerprint), then add the current root:",
        ] + trustFix + (["uv", "rustls"].contains(client)
            ? ["# rustls says BadSignature for an RSA key under 2048 bits too: intercept-proxy ca lint on the captured chain tells which (openssl s_client -showcerts ... > chain.pem)"]
            : [])
    }

    var emptyStoreFix: [String] {
        if client == "java" || ["maven", "gradle"].contains(client) {
            return [
                "# the JVM's trust store holds no certificate: its cacerts is empty or missing, or javax.net.ssl.trustStore names an empty file",
                "echo \"$JAVA_TOOL_OPTIONS $JAVA_OPTS\" | tr ' ' '\\n' | grep -i truststore   # a setting that points elsewhere: fix or remove it",
                "keytool -list -cacerts -storepass changeit | head -3   # 'Your keystore contains 0 entries' confirms it",
                "sudo apt-get install --reinstall ca-certificates-java && sudo update-ca-certificates -f   # Debian/Ubuntu fill cacerts from the OS bundle; RHEL: sudo update-ca-trust extract",
                "# then add the gateway root:",
            ] + trustFix
        }
        return [
            "# no CA bundle where this client looks: the OS package that provides it is missing (a slim or scratch image, a router, an unusual distro)",
            "sudo apt-get install -y ca-certificates   # Alpine: apk add ca-certificates; RHEL: dnf install ca-certificates; scratch images: COPY the bundle from a build stage",
            "# then add the gateway root:",
        ] + trustFix
    }

    var revokedFix: [String] {
        [
            "# a certificate in the chain was revoked by its CA: the revocation check worked and said no; no root, bundle or switch makes it valid",
            peek("-subject -issuer -serial") + "   # whose certificate it is",
            "# the gateway's own certificate: ask IT to re-issue it; the site's: its owner must replace it (turning revocation checks off would only hide this)",
        ]
    }
}
