import Foundation
import Testing

@Suite(.serialized, .enabled(if: Privileged.available))
struct EtcdSecurityTests {
    /// etcd with TLS and --client-cert-auth: weftd with the CA and a client certificate leases a
    /// subnet; the same weftd without the certificate is refused and writes no subnet.env.
    @Test func etcdWithClientCertificateAuthTakesOnlyClientsWithACertificate() throws {
        let cluster = try TestCluster(netConf: #"{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}"#, tls: true)
        defer { cluster.cleanup() }
        let d = cluster.directory
        let withCertificate = try TestNodeAgent(cluster, number: 1)
        try withCertificate.start(etcd: ["--etcd-endpoints", cluster.etcdEndpoint, "--etcd-cafile", "\(d)/ca.crt",
                                         "--etcd-certfile", "\(d)/client.crt", "--etcd-keyfile", "\(d)/client.key"])
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
}
