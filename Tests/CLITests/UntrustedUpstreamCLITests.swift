import Testing
import TestSupport

/// `run --untrusted-upstream`: parsed, documented in --help, refused with the choices when unknown
/// (the behaviour itself: InterceptProxyTests' UntrustedUpstreamTests).
@Suite struct UntrustedUpstreamCLITests {
    @Test func anUnknownPolicyIsAUsageErrorThatListsTheChoices() throws {
        let result = try CLI.run(["run", "--offline", "--untrusted-upstream", "allow"])
        #expect(result.status == 2, "\(result)")
        #expect(result.stderr.contains("--untrusted-upstream takes one of resign-untrusted, block, block=VENDOR, pass, reject"), "\(result)")
        #expect(result.stderr.contains("got 'allow'"), "\(result)")
    }

    @Test func helpNamesEveryPolicyAndTheVendorDefaults() throws {
        let help = try CLI.run(["run", "--help"])
        let text = help.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(text.contains("--untrusted-upstream <POLICY>"), "\(help)")
        #expect(text.contains("zscaler, netskope: block; fortinet: resign-untrusted; plain: reject"), "\(help)")
    }
}
