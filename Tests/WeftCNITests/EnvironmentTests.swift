import Testing
import WeftCNI

@Suite struct EnvironmentTests {
    let add = ["CNI_COMMAND": "ADD", "CNI_CONTAINERID": "abc123", "CNI_NETNS": "/var/run/netns/pod", "CNI_IFNAME": "eth0"]

    @Test func parsesAnAddEnvironment() throws {
        let env = try CNIEnvironment(add.merging(["CNI_PATH": "/opt/cni/bin:/usr/lib/cni"]) { $1 })
        #expect(env.command == .add)
        #expect(env.path == ["/opt/cni/bin", "/usr/lib/cni"])
    }

    @Test(arguments: [nil, "", "add", "FROB"] as [String?])
    func refusesMissingOrUnknownCommands(command: String?) {
        var env = add
        env["CNI_COMMAND"] = command
        #expect(cniError { _ = try CNIEnvironment(env) }?.code == 4)
    }

    @Test func namesEveryMissingVariable() {
        let error = cniError { _ = try CNIEnvironment(["CNI_COMMAND": "ADD"]) }
        #expect(error?.code == 4)
        #expect(error?.msg.contains("CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME") == true)
    }

    @Test(arguments: [("DEL", "CNI_CONTAINERID, CNI_IFNAME"), ("CHECK", "CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME")])
    func otherCommandsNameTheirMissingVariables(command: String, missing: String) {
        let error = cniError { _ = try CNIEnvironment(["CNI_COMMAND": command]) }
        #expect(error?.code == 4)
        #expect(error?.msg.contains(missing) == true)
    }

    /// K8S_POD_NAMESPACE and K8S_POD_NAME become a path of the Kubernetes API (weftd asks for the pod):
    /// ADD and CHECK take only what the API server accepts; DEL takes anything, as it must never fail.
    @Test(arguments: ["../../secrets", "prod/x", "Prod", "-prod", "prod-", "a%2fb", String(repeating: "a", count: 64), "prod\n"])
    func podNamespacesTheAPIWouldRefuseAreRefused(namespace: String) throws {
        let args = "IgnoreUnknown=1;K8S_POD_NAMESPACE=\(namespace);K8S_POD_NAME=web-0"
        #expect(cniError { _ = try CNIEnvironment(add.merging(["CNI_ARGS": args]) { $1 }) }?.code == 4)
        var del = add
        del["CNI_COMMAND"] = "DEL"
        #expect(try CNIEnvironment(del.merging(["CNI_ARGS": args]) { $1 }).command == .del)
    }

    @Test(arguments: ["../x", "web/0", "Web", "web..0", ".web", String(repeating: "a", count: 254)])
    func podNamesTheAPIWouldRefuseAreRefused(name: String) {
        let args = "K8S_POD_NAMESPACE=prod;K8S_POD_NAME=\(name)"
        #expect(cniError { _ = try CNIEnvironment(add.merging(["CNI_ARGS": args]) { $1 }) }?.code == 4)
    }

    @Test func podIdentitiesTheAPIAcceptsAreTaken() throws {
        let long = (0..<4).map { _ in String(repeating: "a", count: 62) }.joined(separator: ".")  // 251 bytes
        for (namespace, name) in [("kube-system", "coredns-74ff55c5b-x7b2q"), ("a", "web-0.web.prod"), (String(repeating: "n", count: 63), long)] {
            let env = try CNIEnvironment(add.merging(["CNI_ARGS": "K8S_POD_NAMESPACE=\(namespace);K8S_POD_NAME=\(name)"]) { $1 })
            #expect(env.args["K8S_POD_NAME"] == name)
        }
    }

    @Test func gcAndStatusNeedOnlyTheCommand() throws {
        #expect(try CNIEnvironment(["CNI_COMMAND": "GC"]).command == .gc)
        #expect(try CNIEnvironment(["CNI_COMMAND": "STATUS"]).command == .status)
    }

    @Test func delNeedsNoNetns() throws {
        let env = try CNIEnvironment(["CNI_COMMAND": "DEL", "CNI_CONTAINERID": "abc", "CNI_IFNAME": "eth0"])
        #expect(env.netns == "")
    }

    @Test func versionNeedsNothingElse() throws {
        #expect(try CNIEnvironment(["CNI_COMMAND": "VERSION"]).command == .version)
    }

    /// libcni's conflist validation (podman runs it) calls VERSION with placeholder values.
    @Test func versionIgnoresLibcnisPlaceholders() throws {
        let env = ["CNI_COMMAND": "VERSION", "CNI_CONTAINERID": "dummy", "CNI_NETNS": "dummy", "CNI_IFNAME": "dummy", "CNI_PATH": "/opt/cni/bin"]
        #expect(try CNIEnvironment(env).command == .version)
    }

    @Test(arguments: ["", "aaaaaaaaaaaaaaaa", ".", "..", "a/b", "a:b", "a b", "eth%d", "a\tb"])
    func refusesBadInterfaceNames(name: String) {
        var env = add
        env["CNI_IFNAME"] = name
        let error = cniError { _ = try CNIEnvironment(env) }
        #expect(error?.code == 4)
    }

    @Test(arguments: ["../x", ".", "-x", "a/b", "a\u{0}b", String(repeating: "a", count: 300)])
    func refusesBadContainerIDs(id: String) {
        var env = add
        env["CNI_CONTAINERID"] = id
        let error = cniError { _ = try CNIEnvironment(env) }
        #expect(error?.code == 4)
        #expect(error?.msg.contains("CNI_CONTAINERID") == true)
    }

    @Test func refusesRelativeNetns() {
        var env = add
        env["CNI_NETNS"] = "netns/pod"
        #expect(cniError { _ = try CNIEnvironment(env) }?.code == 4)
    }
}

@Suite struct ArgsTests {
    @Test func acceptsKubernetesArgs() throws {
        let args = try CNIArgs("IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=abc;FOO=bar")
        #expect(args["K8S_POD_NAME"] == "web")
    }

    @Test func unknownKeyWithoutIgnoreUnknownIsUnsupported() {
        let error = cniError { _ = try CNIArgs("FOO=bar") }
        #expect(error?.code == 2)
        #expect(error?.msg.contains("FOO") == true)
    }

    @Test(arguments: ["A", "A=B=C", "=x"])
    func malformedEntriesAreEnvironmentErrors(text: String) {
        #expect(cniError { _ = try CNIArgs(text) }?.code == 4)
    }
}

@Suite struct VersionTests {
    @Test func missingVersionMeansTheFirstSpec() throws {
        #expect(try CNIVersion.negotiate(nil) == CNIVersion.implicit)
    }

    @Test(arguments: ["9.9.9", "abc", "1.0", "0.3.2", ""])
    func refusesUnsupportedVersions(text: String) {
        let error = cniError { _ = try CNIVersion.negotiate(text) }
        #expect(error?.code == 1)
        #expect(error?.msg.contains("\"\(text)\"") == true)
        #expect(error?.details.contains("1.1.0") == true)
    }

    @Test func supportsEveryReleasedVersion() {
        #expect(CNIVersion.supported.map(\.description) == ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"])
    }
}
