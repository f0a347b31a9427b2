/// The user's gateway root: the placeholder printed when `--ca-file` is not given, the product a
/// log mentions, and how to get the root's PEM on each OS.
public enum GatewayRoot {
    /// Stands for the root's PEM file in printed fixes; the `<>` makes a pasted command fail loudly.
    public static let placeholder = "<your-gateway-root.pem>"

    private static let vendors: [(name: String, root: String, needles: [String])] = [
        ("Zscaler", "Zscaler Root CA", ["zscaler"]),
        ("Netskope", "Netskope", ["netskope", "goskope"]),
        ("Fortinet", "Fortinet", ["fortinet", "fortigate"]),
        ("Palo Alto Networks", "Palo Alto", ["palo alto", "paloalto", "globalprotect"]),
        ("Cisco Umbrella", "Cisco Umbrella", ["cisco umbrella"]),
        ("Forcepoint", "Forcepoint", ["forcepoint", "websense"]),
        ("Symantec / Blue Coat", "Blue Coat", ["bluecoat", "blue coat"]),
        ("Sophos", "Sophos", ["sophos"]),
        ("Check Point", "Check Point", ["check point", "checkpoint"]),
    ]

    static func vendor(in text: ExplainText) -> String? {
        vendors.first { vendor in vendor.needles.contains { text.contains($0) } }?.name
    }

    /// One short way per OS to export the root as PEM.
    public static func howToGet(vendor: String?) -> [String] {
        let name = vendors.first { $0.name == vendor }?.root ?? "<root name>"
        var lines = [
            "macOS    security find-certificate -a -p -c \"\(name)\" /Library/Keychains/System.keychain > gateway-root.pem",
            "         (Keychain Access > System > Certificates shows the root's name; roots your company deploys live there)",
            "Windows  certmgr.msc > Trusted Root Certification Authorities > Certificates > \(name) > All Tasks > Export > Base-64 encoded X.509 (.CER)",
            "         PowerShell: Get-ChildItem Cert:\\LocalMachine\\Root | Where-Object Subject -like '*\(name)*' lists it",
            "Linux    openssl s_client -showcerts -connect pypi.org:443 -servername pypi.org </dev/null   (through the gateway) prints the chain it sends;",
            "         its last \"i:\" line names the root. Zscaler does not send its root: take it from the OS store",
            "         (trust list | grep -i -A3 \"\(name)\", or the file IT installed in /usr/local/share/ca-certificates or /etc/pki/ca-trust/source/anchors), or ask IT",
        ]
        lines.append("then: intercept-proxy explain --ca-file gateway-root.pem ... prints these fixes with its path")
        return lines
    }
}
