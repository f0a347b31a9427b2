import FoundationEssentials

/// JSON for the `[String: Any]` documents the control API and the HAR writer build, without
/// Foundation's JSONSerialization (it is not in FoundationEssentials). Keys sorted, `/` not escaped.
package enum JSONText {
    /// `value` as JSON text; `indent` pretty-prints with that many spaces a level.
    package static func encode(_ value: Any, indent: Int? = nil) -> String {
        var out = ""
        write(value, into: &out, indent: indent, depth: 0)
        return out
    }

    private static func write(_ value: Any, into out: inout String, indent: Int?, depth: Int) {
        switch value {
        case let text as String: writeString(text, into: &out)
        case let flag as Bool: out += flag ? "true" : "false"
        case let number as Int: out += String(number)
        case let number as Int64: out += String(number)
        case let number as UInt64: out += String(number)
        case let number as Int32: out += String(number)
        case let number as UInt16: out += String(number)
        case let number as Double: out += number.isFinite ? (number.rounded() == number && abs(number) < 1e15 ? String(Int64(number)) : String(number)) : "null"
        case let object as [String: Any]:
            let keys = object.keys.sorted()
            writeContainer(keys.count, open: "{", close: "}", into: &out, indent: indent, depth: depth) { index, out in
                writeString(keys[index], into: &out)
                out += indent == nil ? ":" : " : "
                write(object[keys[index]]!, into: &out, indent: indent, depth: depth + 1)
            }
        case let list as [Any]:
            writeContainer(list.count, open: "[", close: "]", into: &out, indent: indent, depth: depth) { index, out in
                write(list[index], into: &out, indent: indent, depth: depth + 1)
            }
        case let optional as Any? where optional == nil: out += "null"
        default: writeString(String(describing: value), into: &out)
        }
    }

    private static func writeContainer(_ count: Int, open: String, close: String, into out: inout String, indent: Int?,
                                       depth: Int, element: (Int, inout String) -> Void) {
        out += open
        guard count > 0 else { return out += close }
        let pad = indent.map { String(repeating: " ", count: $0) }
        for index in 0..<count {
            if index > 0 { out += "," }
            if let pad { out += "\n" + String(repeating: pad, count: depth + 1) }
            element(index, &out)
        }
        if let pad { out += "\n" + String(repeating: pad, count: depth) }
        out += close
    }

    private static func writeString(_ text: String, into out: inout String) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }

    /// Any JSON value (RFC 8259), decoded with JSONDecoder; objects and arrays as `[String: Any]` and
    /// `[Any]`. A trailing comma, which Essentials' JSONDecoder lets through, is refused first.
    package static func decode(_ bytes: [UInt8]) -> Any? {
        guard !hasTrailingComma(bytes) else { return nil }
        return (try? JSONDecoder().decode(JSONValue.self, from: Data(bytes)))?.value
    }

    /// A `,` whose next non-blank byte closes an array or object, outside strings.
    static func hasTrailingComma(_ bytes: [UInt8]) -> Bool {
        var inString = false, escaped = false, pendingComma = false
        for byte in bytes {
            if inString {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"): continue
            case UInt8(ascii: "]"), UInt8(ascii: "}"): if pendingComma { return true }
            case UInt8(ascii: "\""): inString = true
            default: break
            }
            pendingComma = byte == UInt8(ascii: ",")
        }
        return false
    }
}

/// One JSON value of any shape, for `JSONText.decode`.
private struct JSONValue: Decodable {
    let value: Any

    private struct Key: CodingKey {
        let stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        if let object = try? decoder.container(keyedBy: Key.self) {
            var result: [String: Any] = [:]
            for key in object.allKeys { result[key.stringValue] = try object.decode(JSONValue.self, forKey: key).value }
            value = result
        } else if var list = try? decoder.unkeyedContainer() {
            var result: [Any] = []
            while !list.isAtEnd { result.append(try list.decode(JSONValue.self).value) }
            value = result
        } else {
            let single = try decoder.singleValueContainer()
            if single.decodeNil() { value = Optional<Any>.none as Any }
            else if let flag = try? single.decode(Bool.self) { value = flag }
            else if let text = try? single.decode(String.self) { value = text }
            else { value = try single.decode(Double.self) }
        }
    }
}
