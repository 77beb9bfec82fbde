import Foundation
import Testing
import WeftTestSupport

/// Bad input: a CNI error JSON with the documented code, a non-zero exit, and the node exactly as before.
@Suite(.privileged)
struct BadInputTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let code: Int
        /// Environment changes: nil removes the variable. `NODE_NETNS` and `POD` stand for this test's paths.
        var environment: [String: String?] = [:]
        /// The config, with `SUBNET_FILE` and `DATA_DIR` standing for this test's files; nil means the good one.
        var config: String?
        var messageContains: String?
        var testDescription: String { name }
    }

    static let base = #"{"cniVersion":"0.3.1","name":"cbr0","type":"weft","subnetFile":"SUBNET_FILE","dataDir":"DATA_DIR""#

    static let cases: [Case] = [
        Case(name: "empty stdin", code: 6, config: ""),
        Case(name: "not JSON", code: 6, config: "hello"),
        Case(name: "truncated JSON", code: 6, config: #"{"cniVersion":"0.3.1","name":"#),
        Case(name: "top-level array", code: 6, config: "[1]"),
        Case(name: "top-level null", code: 6, config: "null"),
        Case(
            name: "mtu as a string", code: 7, config: base + #","delegate":{"mtu":"1500"}}"#, messageContains: #"delegate.mtu must be an integer, found "1500""#
        ),
        Case(name: "ipMasq as a string", code: 7, config: base + #","delegate":{"ipMasq":"yes"}}"#, messageContains: "delegate.ipMasq"),
        Case(name: "missing name", code: 7, config: #"{"cniVersion":"0.3.1","type":"weft"}"#, messageContains: "name is missing"),
        Case(name: "network name with a slash", code: 7, config: base.replacingOccurrences(of: "cbr0", with: "a/b") + "}", messageContains: "name \"a/b\""),
        Case(name: "unsupported cniVersion", code: 1, config: base.replacingOccurrences(of: "0.3.1", with: "9.9.9") + "}", messageContains: "9.9.9"),
        Case(name: "cniVersion abc", code: 1, config: base.replacingOccurrences(of: "0.3.1", with: "abc") + "}"),
        Case(name: "CNI_COMMAND unset", code: 4, environment: ["CNI_COMMAND": nil]),
        Case(name: "CNI_COMMAND lowercase", code: 4, environment: ["CNI_COMMAND": "add"]),
        Case(name: "CNI_COMMAND unknown", code: 4, environment: ["CNI_COMMAND": "FROB"]),
        Case(
            name: "every required variable missing", code: 4, environment: ["CNI_CONTAINERID": nil, "CNI_NETNS": nil, "CNI_IFNAME": nil],
            messageContains: "CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME"),
        Case(name: "CNI_NETNS a regular file", code: 4, environment: ["CNI_NETNS": "SUBNET_FILE"], messageContains: "not a usable network namespace"),
        Case(name: "CNI_NETNS a directory", code: 4, environment: ["CNI_NETNS": "/tmp"]),
        Case(name: "CNI_NETNS missing", code: 4, environment: ["CNI_NETNS": "/var/run/netns/does-not-exist"]),
        Case(name: "CNI_NETNS the plugin's own namespace", code: 4, environment: ["CNI_NETNS": "NODE_NETNS"], messageContains: "own network namespace"),
        // Refused as the init process's namespace, or earlier where the sandbox forbids opening it.
        Case(name: "CNI_NETNS the init process's namespace", code: 4, environment: ["CNI_NETNS": "/proc/1/ns/net"]),
        Case(name: "duplicate key", code: 6, config: base + #","mtu":1400,"mtu":1500}"#, messageContains: #"key "mtu" appears twice"#),
        Case(name: "CNI_IFNAME 16 bytes", code: 4, environment: ["CNI_IFNAME": "eth0123456789012"]),
        Case(name: "CNI_IFNAME with a slash", code: 4, environment: ["CNI_IFNAME": "a/b"]),
        Case(name: "CNI_IFNAME a template", code: 4, environment: ["CNI_IFNAME": "eth%d"]),
        Case(name: "CNI_IFNAME dot-dot", code: 4, environment: ["CNI_IFNAME": ".."]),
        Case(name: "CNI_IFNAME already in the pod", code: 101, environment: ["CNI_IFNAME": "lo"], messageContains: "lo already exists"),
        Case(name: "CNI_CONTAINERID path", code: 4, environment: ["CNI_CONTAINERID": "../x"]),
        Case(name: "CNI_CONTAINERID leading dash", code: 4, environment: ["CNI_CONTAINERID": "-x"]),
        Case(name: "CNI_ARGS unknown key", code: 2, environment: ["CNI_ARGS": "FOO=bar"], messageContains: "FOO"),
        Case(name: "CNI_ARGS malformed", code: 4, environment: ["CNI_ARGS": "A"]),
        Case(name: "delegate naming another plugin", code: 2, config: base + #","delegate":{"type":"macvlan"}}"#),
        Case(
            name: "hostPort 0", code: 7, config: base + #","runtimeConfig":{"portMappings":[{"hostPort":0,"containerPort":80}]}}"#,
            messageContains: "hostPort 0"),
        Case(
            name: "hostPort protocol with a rule in it", code: 7,
            config: base + #","runtimeConfig":{"portMappings":[{"hostPort":80,"containerPort":80,"protocol":"tcp;drop"}]}}"#, messageContains: "tcp;drop"),
        Case(name: "subnet /32", code: 7, config: base + #","ipam":{"subnet":"10.0.0.0/32"}}"#, messageContains: "10.0.0.0/32"),
        Case(name: "missing subnet file", code: 5, config: base.replacingOccurrences(of: "SUBNET_FILE", with: "/nonexistent/subnet.env") + "}"),
    ]

    @Test(arguments: cases)
    func isRefusedWithoutChangingTheNode(_ badCase: Case) throws {
        try withNode { node in
            // A node with one pod already wired, so "unchanged" covers a populated bridge and store.
            _ = try node.add(containerID: "existing", netns: try node.addPod())
            let pod = try node.addPod()
            var environment = [
                "PATH": "/usr/sbin:/usr/bin", "CNI_COMMAND": "ADD", "CNI_CONTAINERID": "bad",
                "CNI_NETNS": pod, "CNI_IFNAME": "eth0",
            ]
            for (key, value) in badCase.environment {
                environment[key] = value.map {
                    $0.replacingOccurrences(of: "NODE_NETNS", with: node.namespacePath).replacingOccurrences(of: "SUBNET_FILE", with: node.subnetFile)
                }
            }
            let config = (badCase.config ?? Self.base + "}")
                .replacingOccurrences(of: "SUBNET_FILE", with: node.subnetFile)
                .replacingOccurrences(of: "DATA_DIR", with: node.dataDir)
            let before = try node.snapshot()
            let result = try runProgram(
                "/usr/bin/nsenter", ["--net=\(node.namespacePath)", TestNode.weftBinary],
                input: config, environment: environment)
            #expect(result.status != 0)
            let json = try #require(result.json, "stdout is a JSON object: \(result.stdout)")
            #expect(json["code"] as? Int == badCase.code, "\(json)")
            #expect(!(json["msg"] as? String ?? "").isEmpty)
            if let expected = badCase.messageContains {
                #expect((json["msg"] as? String)?.contains(expected) == true, "\(json)")
            }
            #expect(try node.snapshot() == before)
            #expect(try node.execIn(pod, "ip", "-o", "link").stdout.split(separator: "\n").count == 1)
        }
    }

    @Test func oversizedStdinIsRefused() throws {
        try withNode { node in
            let pod = try node.addPod()
            let huge = #"{"name":"cbr0","type":"weft","pad":""# + String(repeating: "x", count: 5 << 20) + #""}"#
            let result = try node.weft("ADD", containerID: "big", netns: pod, config: huge)
            #expect(result.json?["code"] as? Int == 6)
            #expect((result.json?["msg"] as? String)?.contains("limit") == true)
        }
    }
}
