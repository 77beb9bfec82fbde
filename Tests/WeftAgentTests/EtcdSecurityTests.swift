import Foundation
import Testing
import WeftTestSupport

@Suite(.serialized, .privileged)
struct EtcdSecurityTests {
    /// etcd with TLS and --client-cert-auth: weftd with the CA and a client certificate leases a
    /// subnet; the same weftd without the certificate is refused and writes no subnet.env.
    @Test func etcdWithClientCertificateAuthTakesOnlyClientsWithACertificate() throws {
        let cluster = try TestCluster(netConf: #"{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}"#, tls: true)
        defer { cluster.cleanup() }
        let d = cluster.directory
        let withCertificate = try TestNodeAgent(cluster, number: 1)
        try withCertificate.start(etcd: [
            "--etcd-endpoints", cluster.etcdEndpoint, "--etcd-cafile", "\(d)/ca.crt",
            "--etcd-certfile", "\(d)/client.crt", "--etcd-keyfile", "\(d)/client.key",
        ])
        let subnet = try withCertificate.leasedSubnet()
        #expect(subnet.hasPrefix("10.244."))

        let without = try TestNodeAgent(cluster, number: 2)
        try without.start(etcd: ["--etcd-endpoints", cluster.etcdEndpoint, "--etcd-cafile", "\(d)/ca.crt"])
        // The refusal is seen in the log (weftd retries an engine it cannot reach): then no lease exists.
        let refused = waitUntil(timeout: 30) { without.weftd?.log.contains("cannot read the network config yet") == true }
        #expect(refused != nil, "\(without.weftd?.log.suffix(2000) ?? "")")
        #expect(!FileManager.default.fileExists(atPath: without.subnetFile))
        #expect(try cluster.leaseRecords().count == 1, "only the node with a certificate holds a lease")
    }

    /// Plain HTTP to etcd on another machine is refused at start unless --etcd-allow-insecure says so
    /// (the other tests' nodes say it and lease); loopback stays allowed.
    @Test func plainHTTPToAnotherMachineNeedsSayingSo() throws {
        let cluster = try TestCluster(netConf: #"{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}"#)
        defer { cluster.cleanup() }
        let refused = try TestNodeAgent(cluster, number: 1)
        try refused.start(etcd: ["--etcd-endpoints", cluster.etcdEndpoint])
        let exited = waitUntil(timeout: 20) { refused.weftd?.exitCode() != nil }
        #expect(exited != nil, "weftd kept running with plain HTTP to \(cluster.etcdEndpoint)")
        #expect(refused.weftd?.log.contains("--etcd-allow-insecure") == true, "\(refused.weftd?.log.suffix(2000) ?? "")")

        let allowed = try TestNodeAgent(cluster, number: 2)
        try allowed.start(etcd: ["--etcd-endpoints", cluster.etcdEndpoint, "--etcd-allow-insecure"])
        #expect(try allowed.leasedSubnet().hasPrefix("10.244."))
    }

    /// etcd's own auth (Debian's etcd 3.4): `root`, and a user `weft` whose role may read and write only
    /// flannel's prefix. A wrong password stops weftd at once with etcd's refusal and leases nothing;
    /// the right one (the positive control, the same etcd and user) leases and renews. Tokens expire
    /// after 1 s unused (--auth-token-ttl; renewals do not use it, etcd 3.4 does not check auth on
    /// keep-alives), so when the node's record is deleted by hand, the write that restores it carries
    /// an expired token: etcd refuses it, weftd asks for a new one and the record is back.
    @Test func etcdUserAndPasswordLeaseAndAWrongPasswordIsRefused() throws {
        let cluster = try TestCluster(netConf: #"{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}"#, etcdFlags: ["--auth-token-ttl", "1"])
        defer { cluster.cleanup() }
        try cluster.enableAuth(rootPassword: "root-secret", user: "weft", password: "weft-secret")
        let etcd = ["--etcd-endpoints", cluster.etcdEndpoint, "--etcd-allow-insecure", "--etcd-username", "weft"]

        let wrong = try TestNodeAgent(cluster, number: 1)
        try wrong.start(ttl: "6s", etcd: etcd + ["--etcd-password", "not-the-password"])
        var code: Int32?
        let exited = waitUntil(timeout: 60) {
            code = wrong.weftd?.exitCode()
            return code != nil
        }
        #expect(exited != nil && code == 1, "weftd kept retrying a refused password: \(wrong.weftd?.log.suffix(2000) ?? "")")
        let log = wrong.weftd?.log ?? ""
        #expect(log.contains("etcd refused the credentials") && log.contains("user weft") && log.contains("authentication failed"), "\(log.suffix(2000))")
        #expect(!log.contains("weft-secret") && !log.contains("not-the-password"), "a password in the log")
        #expect(!FileManager.default.fileExists(atPath: wrong.subnetFile))
        #expect(try cluster.leaseRecords().isEmpty)

        let right = try TestNodeAgent(cluster, number: 2)
        try right.start(ttl: "6s", etcd: etcd + ["--etcd-password", "weft-secret"])
        #expect(try right.leasedSubnet().hasPrefix("10.244."))
        let records = try cluster.leaseRecords()
        #expect(records.count == 1 && records.values.first?.contains(right.publicIP) == true, "\(records)")
        let renewed = waitUntil(timeout: 120) { ((try? right.metric("weftd_lease_renewals_total")) ?? 0) >= 5 }
        #expect(renewed != nil, "renewals stopped once the first token expired: \(right.weftd?.log.suffix(2000) ?? "")")
        let health = try right.healthz()
        #expect(health == "ok\n 200", "\(health)\n\(right.weftd?.log.suffix(3000) ?? "")")
        #expect(try cluster.leaseRecords() == records, "the lease was lost or moved")

        let key = try #require(records.keys.first)
        #expect(try cluster.etcdctl("del", key).stdout.hasPrefix("1"))
        let restored = waitUntil(timeout: 60) { (try? cluster.leaseRecords()) == records }
        #expect(restored != nil, "the record was not written again with a fresh token: \(right.weftd?.log.suffix(2000) ?? "")")
    }
}
