import COpenSSL

/// An X.509 name as an ordered list of attributes, most significant first (C, ST, L, O, OU, CN).
public struct DistinguishedName: Hashable, Sendable, CustomStringConvertible {
    /// One attribute, named by its OpenSSL short name (`C`, `ST`, `L`, `O`, `OU`, `CN`, `emailAddress`).
    public struct Attribute: Hashable, Sendable {
        public var type: String
        public var value: String

        public init(_ type: String, _ value: String) {
            self.type = type
            self.value = value
        }
    }

    public var attributes: [Attribute]

    public init(_ attributes: [Attribute]) {
        self.attributes = attributes
    }

    /// Builds a name from `(type, value)` pairs, e.g. `[("O", "Example"), ("CN", "Example CA")]`.
    public init(_ pairs: KeyValuePairs<String, String>) {
        attributes = pairs.map { Attribute($0.key, $0.value) }
    }

    /// The last common name, the usual display name of a certificate.
    public var commonName: String? {
        attributes.last(where: { $0.type == "CN" })?.value
    }

    /// The OpenSSL one-line form, e.g. `C=US, O=Example, CN=Example CA`.
    public var description: String {
        attributes.map { attribute in
            let escaped = attribute.value
                .replacing("\\", with: "\\\\")
                .replacing(",", with: "\\,")
            return "\(attribute.type)=\(escaped)"
        }.joined(separator: ", ")
    }

    /// X.520 upper bounds (RFC 5280 appendix A) for the attributes profiles use.
    private static let upperBounds: [String: Int] = ["C": 2, "ST": 128, "L": 128, "O": 64, "OU": 64, "CN": 64, "emailAddress": 255]

    /// How attribute values are encoded: UTF8String (RFC 5280's choice), or PrintableString where the
    /// characters allow it (older CAs; a gateway quirk when the issuer's own subject is UTF8String).
    enum StringType {
        case utf8, printable
    }

    /// A new OpenSSL X509_NAME owned by the caller.
    func makeX509Name(stringType: StringType = .utf8) throws -> OpaquePointer {
        for attribute in attributes {
            // Mimicked subjects carry any attribute a real CA wrote; OpenSSL must at least know the type.
            guard Self.upperBounds[attribute.type] != nil || OBJ_txt2nid(attribute.type) != NID_undef else {
                throw CertForgeError.invalidNameAttribute(
                    type: attribute.type, value: attribute.value,
                    reason: "unknown type; use one of \(Self.upperBounds.keys.sorted().joined(separator: ", "))")
            }
            let bound = Self.upperBounds[attribute.type] ?? 1024
            guard attribute.value.count <= bound, !attribute.value.isEmpty else {
                throw CertForgeError.invalidNameAttribute(
                    type: attribute.type, value: attribute.value, reason: "must be 1 to \(bound) characters long")
            }
        }
        guard let name = X509_NAME_new() else { throw openSSLFailure("X509_NAME_new") }
        for attribute in attributes {
            let added: Int32
            switch stringType {
            case .utf8: added = X509_NAME_add_entry_by_txt(name, attribute.type, MBSTRING_UTF8, attribute.value, -1, -1, 0)
            case .printable: added = Self.addPrintable(attribute, to: name)
            }
            if added != 1 {
                X509_NAME_free(name)
                throw CertForgeError.openSSL(
                    operation: "adding \(attribute.type)=\(attribute.value) to a subject name",
                    detail: openSSLErrorQueue())
            }
        }
        return name
    }

    /// Adds the attribute as a PrintableString, or as OpenSSL's default would (UTF8String; IA5String
    /// for emailAddress, as old CAs wrote it) when its characters are outside that set.
    private static func addPrintable(_ attribute: Attribute, to name: OpaquePointer) -> Int32 {
        let nid = OBJ_txt2nid(attribute.type)
        let bytes = Array(attribute.value.utf8)
        let printable = bytes.allSatisfy { byte in
            (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39)
                || Array(" '()+,-./:=?".utf8).contains(byte)
        }
        guard printable else { return X509_NAME_add_entry_by_txt(name, attribute.type, MBSTRING_UTF8, attribute.value, -1, -1, 0) }
        return X509_NAME_add_entry_by_NID(name, nid, V_ASN1_PRINTABLESTRING, bytes, Int32(bytes.count), -1, 0)
    }

    /// Reads an OpenSSL X509_NAME without taking ownership.
    init(x509Name name: OpaquePointer) {
        var attributes: [Attribute] = []
        for index in 0..<X509_NAME_entry_count(name) {
            guard let entry = X509_NAME_get_entry(name, index),
                  let object = X509_NAME_ENTRY_get_object(entry),
                  let data = X509_NAME_ENTRY_get_data(entry) else { continue }
            let nid = OBJ_obj2nid(object)
            let type = nid == NID_undef ? "UNDEF" : String(cString: OBJ_nid2sn(nid))
            var utf8: UnsafeMutablePointer<UInt8>?
            let length = ASN1_STRING_to_UTF8(&utf8, data)
            guard length >= 0, let utf8 else { continue }
            attributes.append(Attribute(type, String(decoding: UnsafeBufferPointer(start: utf8, count: Int(length)), as: UTF8.self)))
            shim_OPENSSL_free(utf8)
        }
        self.attributes = attributes
    }
}
