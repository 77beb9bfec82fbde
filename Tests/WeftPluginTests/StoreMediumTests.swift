import Foundation
import Testing
import WeftTestSupport

/// The store on a real tmpfs (mounted in a private mount namespace, never the host's) and on a full one.
@Suite(.privileged)
struct StoreMediumTests {
    /// Runs `script` with bash in a private mount namespace where `$STORE` is a fresh tmpfs of `options`.
    func inPrivateTmpfs(_ options: String, _ script: String, node: TestNode) throws -> String {
        let store = "\(node.directory)/tmpfs"
        try FileManager.default.createDirectory(atPath: store, withIntermediateDirectories: true)
        let wrapped = """
            set -u
            mount -t tmpfs -o \(options) weft-test "$STORE"
            IPAM=\(TestNode.binary("weft-ipam"))
            WEFTCTL=\(TestNode.binary("weftctl"))
            conf() { printf '{"cniVersion":"1.0.0","name":"net","type":"bridge","ipam":{"type":"weft-ipam","subnet":"10.40.0.0/16","dataDir":"%s"}}' "$STORE"; }
            run() { conf | env CNI_COMMAND=$1 CNI_CONTAINERID=$2 CNI_NETNS=/var/run/netns/none CNI_IFNAME=eth0 "$IPAM"; echo " rc=$?"; }
            \(script)
            """
        let result = try runProgram(
            "/usr/bin/unshare", ["--mount", "--propagation", "private", "bash", "-c", wrapped],
            environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "STORE": store])
        return result.stdout + result.stderr
    }

    @Test func storeOnTmpfsIsDetectedAndAWipeLeavesAWorkingStore() throws {
        try withNode { node in
            let output = try inPrivateTmpfs(
                "size=4m",
                """
                run ADD a | grep -o '"address" : "[^"]*"'
                "$WEFTCTL" ipam ls --data-dir "$STORE"
                umount "$STORE"; mount -t tmpfs weft-test "$STORE"   # a reboot: the tmpfs is empty
                echo "DEL after wipe:"; run DEL a
                run ADD b | grep -o '"address" : "[^"]*"'
                """, node: node)
            #expect(output.contains(#""address" : "10.40.0.2/16""#), "\(output)")
            #expect(output.contains("network net (store on tmpfs): 1 reservation(s)"), "\(output)")
            #expect(output.contains("DEL after wipe:\n rc=0"), "\(output)")
            #expect(output.components(separatedBy: #""address" : "10.40.0.2/16""#).count == 3, "the wiped store starts afresh: \(output)")
        }
    }

    @Test func aFullStoreFailsAddCleanlyWhileDelStillWorks() throws {
        try withNode { node in
            // Few inodes: the store's directories take some, each reservation two more.
            let output = try inPrivateTmpfs(
                "size=1m,nr_inodes=24",
                """
                for i in $(seq 1 20); do out=$(run ADD c$i); case "$out" in *'"code"'*) echo "FULL at c$i: $out"; failed=c$i; break;; esac; done
                echo "files left after the failed ADD: $(find "$STORE" -name '.tmp-*' | wc -l)"
                echo "records of the failed ADD: $(ls "$STORE/net/owners" | grep -c "^$failed:")"
                echo "DEL c1:"; run DEL c1
                run ADD again | grep -o '"address" : "[^"]*"'
                """, node: node)
            #expect(output.contains("FULL at"), "\(output)")
            #expect(output.contains(#""code" : 5"#), "ENOSPC is an I/O error: \(output)")
            #expect(output.contains("No space left on device"), "\(output)")
            #expect(output.contains("files left after the failed ADD: 0"), "\(output)")
            #expect(output.contains("records of the failed ADD: 0"), "\(output)")
            #expect(output.contains("DEL c1:\n rc=0"), "\(output)")
            #expect(output.contains(#""address" : "10.40."#), "a freed slot is usable again: \(output)")
        }
    }
}

/// weftctl against a live node.
@Suite(.privileged)
struct WeftctlTests {
    func weftctl(_ arguments: String...) throws -> ProgramResult {
        try runProgram(TestNode.binary("weftctl"), arguments)
    }

    @Test func listsLiveAndStaleAndCollectsTheStale() throws {
        try withNode { node in
            let live = try node.addPod(), doomed = try node.addPod()
            _ = try node.add(containerID: "live", netns: live)
            _ = try node.add(containerID: "doomed", netns: doomed)
            try node.deletePod(doomed)
            let listing = try weftctl("ipam", "ls", "--data-dir", node.dataDir, "--json")
            let networks = try #require(try JSONSerialization.jsonObject(with: Data(listing.stdout.utf8)) as? [[String: Any]])
            let reservations = try #require(networks.first?["reservations"] as? [[String: Any]])
            let states = Dictionary(
                uniqueKeysWithValues: reservations.compactMap { item in
                    (item["containerID"] as? String).map { ($0, item["state"] as? String ?? "") }
                })
            #expect(states == ["live": "live", "doomed": "gone"])

            let dryRun = try weftctl("ipam", "gc", "--data-dir", node.dataDir, "--dry-run")
            #expect(dryRun.stdout.contains("would release cbr0: container doomed interface eth0"))
            #expect(node.reservations() == ["doomed:eth0", "live:eth0"])
            let collect = try weftctl("ipam", "gc", "--data-dir", node.dataDir)
            #expect(collect.stdout.contains("cbr0: 1 stale reservation(s) released"))
            #expect(node.reservations() == ["live:eth0"])
        }
    }

    @Test func importsFlannelsHostLocalStore() throws {
        try withNode { node in
            let hostLocal = "\(node.directory)/var-lib-cni-networks/cbr0"
            try FileManager.default.createDirectory(atPath: hostLocal, withIntermediateDirectories: true)
            try "flannelpod\r\neth0".write(toFile: "\(hostLocal)/10.244.1.2", atomically: true, encoding: .utf8)
            try "10.244.1.2".write(toFile: "\(hostLocal)/last_reserved_ip.0", atomically: true, encoding: .utf8)
            let imported = try weftctl("ipam", "import", "--from", hostLocal, "--data-dir", node.dataDir)
            #expect(imported.stdout.contains("imported 1 reservation(s)"), "\(imported.stdout)\(imported.stderr)")
            let result = try node.add(containerID: "after-import", netns: try node.addPod())
            #expect(podAddress(result) == "10.244.1.3", "the address flannel's pod holds is not handed out again")
            let del = try node.weft("DEL", containerID: "flannelpod", config: node.config())
            #expect(del.status == 0)
            #expect(node.reservations() == ["after-import:eth0"], "DEL of the flannel pod releases the imported address")
        }
    }

    @Test func badArgumentsAreRefused() throws {
        let bad = try weftctl("ipam", "ls", "--network", "../etc")
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("name \"../etc\" is invalid"), "\(bad.stderr)")
    }
}
