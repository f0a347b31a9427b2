import ArgumentParser
import CertForge
import FoundationEssentials
import Glibc
import EssentialsSupport

struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Audit an image, a root filesystem or this machine: does every runtime trust the gateway root?",
        discussion: """
        Finds the runtimes of the target (the OS store and its update tool, curl, wget, git, Python and
        each certifi copy, pip's and npm's settings, node, every JDK's cacerts, Go, Ruby, .NET, and the
        target's CA variables) and says for each which store it reads and whether the root is in it,
        by public key (a re-encoded copy counts). A setting that replaces a runtime's roots with a file
        holding few certificates is flagged: hosts the gateway does not inspect fail there.

        --prove confirms curl and Python with a real handshake through a fresh offline proxy: on this
        machine behind the gateway and with no gateway (verify --worlds gateway,direct); in a root
        filesystem or an image under chroot, with its own variables, behind the gateway.
        Exit 0 when every cell is green, 1 when one is red, 2 when the target cannot be read.

          intercept-proxy doctor --image myapp:latest
          intercept-proxy doctor --rootfs /srv/chroot --ca-file corp-root.pem --json
          intercept-proxy doctor --prove
        """)

    @OptionGroup var ca: CAOptions

    @Option(help: ArgumentHelp("An image to audit (mounted with buildah; root).", valueName: "name"))
    var image: String?

    @Option(help: ArgumentHelp("A root filesystem to audit.", valueName: "dir"))
    var rootfs: String?

    @Option(name: .customLong("ca-file"), help: ArgumentHelp("The gateway root to look for (PEM; default: this project's CA).", valueName: "file"))
    var caFile: String?

    @Option(name: .customLong("env"), help: ArgumentHelp("With --rootfs: a variable the runtimes there get (an image's ENV). Repeatable.", valueName: "NAME=VALUE"))
    var variables: [String] = []

    @Flag(help: "Prove curl and Python with real handshakes through a fresh proxy: on this machine behind the gateway and without it, in a target under chroot behind the gateway.")
    var prove = false

    @Flag(help: "Print the result as JSON.")
    var json = false

    func validate() throws {
        if image != nil && rootfs != nil { throw ValidationError("give --image or --rootfs, not both") }
        if let rootfs, FileStatus(path: rootfs)?.isDirectory != true { throw ValidationError("--rootfs \(rootfs) is not a directory") }
        if !variables.isEmpty && rootfs == nil { throw ValidationError("--env gives a root filesystem's variables: add --rootfs (an image brings its own ENV)") }
    }

    func run() throws {
        let rootFile = try caFile ?? ca.directory.rootCertificateURL(for: ca.resolvedProfile()).path
        guard let text = FileManager.default.contents(atPath: rootFile).map({ String(decoding: $0, as: UTF8.self) }),
              let anchors = try? Certificate.parsePEM(text, source: rootFile), !anchors.isEmpty else {
            Terminal.error("doctor: \(rootFile) holds no PEM certificate to look for (give the gateway root with --ca-file, or run ca init)")
            throw ExitCode(2)
        }
        var mounted: MountedImage?
        let root: String, environment: [String: String], target: String
        if let image {
            do { mounted = try MountedImage(image) } catch let error as MountedImage.Unavailable {
                Terminal.error(error.description)
                throw ExitCode(2)
            }
            (root, environment, target) = (mounted!.path, mounted!.environment, "image \(image)")
        } else if let rootfs {
            var given: [String: String] = [:]
            for variable in variables {
                let parts = variable.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2, !parts[0].isEmpty else { throw ValidationError("--env takes NAME=VALUE, got '\(variable)'") }
                given[parts[0]] = parts[1]
            }
            (root, environment, target) = (rootfs, given, "root filesystem \(rootfs)")
        } else {
            (root, environment, target) = ("", ProcessInfo.processInfo.environment, "this machine")
        }
        defer { mounted?.remove() }
        let findings = TrustAudit(root: root, environment: environment, anchors: anchors, caFile: rootFile).run()
        let prover = Prover(caDirectory: ca.directory.url.path, profile: try ca.resolvedProfile().name,
                            chroot: root.isEmpty ? nil : (root, environment))
        let proofs = prove ? prover.run(findings) : []
        let report = DoctorReport(target: target, root: rootFile, findings: findings, proofs: proofs)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            report.printTable(image: image != nil)
        }
        if !report.healthy { throw ExitCode.failure }
    }
}

/// An image's root filesystem, mounted for reading (`buildah from` + `buildah mount`), and its ENV.
struct MountedImage {
    let container: String
    let path: String
    let environment: [String: String]

    struct Unavailable: Error, CustomStringConvertible {
        let description: String
    }

    init(_ image: String) throws {
        let environment = ProcessInfo.processInfo.environment
        func run(_ arguments: [String]) throws -> String {
            let result = try captureProcess(["/bin/sh", "-c", #""$@" 2>&1"#, "sh"] + arguments, environment: environment, timeout: 120)
            guard result.status == 0 else {
                throw Unavailable(description: "doctor --image: \(arguments.joined(separator: " ")) failed: \(result.output.trimmingWhitespaceAndNewlines()) "
                                  + "(buildah must be installed, and mounting needs root)")
            }
            return result.output.trimmingWhitespaceAndNewlines()
        }
        container = try run(["buildah", "from", "--pull-never", "--quiet", image])
        do {
            path = try run(["buildah", "mount", container])
            let lines = try run(["buildah", "inspect", "--type", "image", "--format", "{{range .OCIv1.Config.Env}}{{println .}}{{end}}", image])
            var variables: [String: String] = [:]
            for line in lines.split(separator: "\n") {
                let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
                if parts.count == 2 { variables[parts[0]] = parts[1] }
            }
            self.environment = variables
        } catch {
            _ = try? captureProcess(["buildah", "rm", container], environment: environment)
            throw error
        }
    }

    func remove() {
        let environment = ProcessInfo.processInfo.environment
        _ = try? captureProcess(["buildah", "umount", container], environment: environment)
        _ = try? captureProcess(["buildah", "rm", container], environment: environment)
    }
}
