import FoundationEssentials
import EssentialsSupport

/// The certificates of a PEM bundle as their base64 bodies with the line breaks removed: enough to
/// tell whether one bundle holds another's certificates, whatever line length each was written with.
struct PEMBundle: Sendable {
    let bodies: [String]

    /// Bundles larger than this are not read (the Mozilla bundle is about 220 KB).
    static let maximumBytes = 16 << 20

    init(text: String) {
        var bodies: [String] = []
        var current: String?
        for line in text.split(whereSeparator: \.isNewline) {
            let trimmed = line.trimmingWhitespace()
            if trimmed == "-----BEGIN CERTIFICATE-----" || trimmed == "-----BEGIN TRUSTED CERTIFICATE-----" {
                current = ""
            } else if trimmed.hasPrefix("-----END"), let body = current {
                bodies.append(body)
                current = nil
            } else if current != nil {
                current! += trimmed
            }
        }
        self.bodies = bodies
    }

    /// The bundle in a file; nil when it cannot be read or is too large to be a bundle.
    init?(file path: String) {
        guard let status = FileStatus(path: path), !status.isDirectory, status.size <= Self.maximumBytes,
              let data = FileManager.default.contents(atPath: path) else { return nil }
        self.init(text: String(decoding: data, as: UTF8.self))
    }

    /// How many of `other`'s certificates this bundle holds.
    func sharedCount(with other: PEMBundle) -> Int {
        let mine = Set(bodies)
        return Set(other.bodies).filter { mine.contains($0) }.count
    }
}
