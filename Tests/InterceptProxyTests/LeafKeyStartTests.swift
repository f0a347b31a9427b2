import CertForge
import Foundation
@testable import InterceptProxy
import Logging
import Testing
import TestSupport

/// A proxy start generates no key once its CA directory exists: the leaf key is kept beside each
/// CA (the gateway's and the public stand-in's), so every start, in-process or not, shares it.
@Suite struct LeafKeyStartTests {
    @Test func proxiesOnOneCADirectoryShareTheKeptLeafKeys() throws {
        let scratch = try TemporaryDirectory()
        var configuration = ProxyConfiguration()
        configuration.port = 0
        configuration.offline = true
        configuration.caDirectory = scratch.path("certs")
        var logger = Logger(label: "leaf-key-test")
        logger.logLevel = .critical
        let first = try InterceptProxy(configuration: configuration, logger: logger)
        let second = try InterceptProxy(configuration: configuration, logger: logger)
        defer { first.core.waitForBackgroundWork(); second.core.waitForBackgroundWork() }
        let directory = CADirectory(path: configuration.caDirectory)
        for (profile, forge) in [(configuration.profile, \ProxyCore.forges), (.publicStandIn, \ProxyCore.publicForges)] {
            let kept = try directory.leafKey(for: profile)
            #expect(try first.core[keyPath: forge].forge.sharedKey.publicKeyFingerprint == kept.publicKeyFingerprint, "\(profile.name)")
            #expect(try second.core[keyPath: forge].forge.sharedKey.publicKeyFingerprint == kept.publicKeyFingerprint, "\(profile.name)")
        }
    }
}
