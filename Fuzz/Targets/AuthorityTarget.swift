// The targets reach internal parsers (@testable): a debug or fuzzing build only (see FuzzEntry.swift).
#if DEBUG || FUZZING
import CertForge
@testable import InterceptProxy

/// A CONNECT target (`host:port`, `[v6]:port`) and host names as they arrive in SNI or on the
/// command line. What is accepted must be canonical: parsing the result again gives it back.
enum AuthorityTarget {
    static func run(_ data: [UInt8]) {
        let text = String(decoding: data, as: UTF8.self)
        if let (host, port) = splitHostPort(text) {
            precondition((1...65535).contains(port) && !host.isEmpty, "splitHostPort gave \(host) \(port)")
        }
        if let (host, port) = ClientConnection.authority(text) {
            precondition((1...65535).contains(port), "port \(port)")
            guard let again = try? ServerName(host) else { preconditionFailure("authority gave '\(host)', which ServerName refuses") }
            precondition(again.text == host, "'\(host)' is not canonical: \(again.text)")
        }
        do {
            let name = try ServerName(text)
            let again = try ServerName(name.text)
            precondition(again == name, "ServerName('\(name.text)') is \(again), not \(name)")
            precondition(name.text.utf8.count <= 253 || { if case .ip = name { return true } else { return false } }(), "name too long")
        } catch {
            _ = String(describing: error)
        }
    }
}
#endif
