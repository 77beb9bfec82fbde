import Testing
import WeftCNI
import WeftAddress
@testable import WeftAgent
import WeftEtcd

@Suite struct LeaseFormatTests {
    @Test func keysAreFlannels() throws {
        let subnet = try #require(IPNetwork("10.244.3.0/24"))
        #expect(SubnetLease.keyName(subnet) == "10.244.3.0-24")
        #expect(SubnetLease.subnet(fromKey: "/coreos.com/network/subnets/10.244.3.0-24") == subnet)
        // A dual-stack key names both subnets; subnet(fromKey:) reads the IPv4 one.
        #expect(SubnetLease.subnet(fromKey: "/coreos.com/network/subnets/10.244.3.0-24&fd00:0:0:3::-64") == subnet)
        for bad in ["/coreos.com/network/subnets/10.244.3.1-24", "/x/config", "/x/subnets/10.244.3.0", "/x/subnets/fd00::-64"] {
            #expect(SubnetLease.subnet(fromKey: bad) == nil, "\(bad)")
        }
    }

    /// A watch's DELETE of a lease key (etcd names the key alone) removes that key's subnet.
    @Test func anEtcdDeleteRemovesTheKeysSubnet() {
        #expect(EtcdLeaseEngine.leaseEvent(.delete(key: "/p/subnets/10.244.3.0-24")) == .removed(.init("10.244.3.0/24")!))
    }

    @Test func vxlanValueIsByteForByteWhatFlanneldWrites() throws {
        let attributes = LeaseAttributes(
            publicIP: try #require(IPAddress("192.168.1.11")), backendType: "vxlan",
            vni: 1, vtepMAC: [0x0e, 0x57, 0xc0, 0xa8, 0x01, 0x0b])
        #expect(
            try attributes.json()
                == #"{"PublicIP":"192.168.1.11","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"0e:57:c0:a8:01:0b"}}"#)
        #expect(try LeaseAttributes.parse(attributes.json()) == attributes)
    }

    @Test func aMemberJSONCannotWriteFailsTheObjectInsteadOfWritingNull() throws {
        // JSONEncoder refuses NaN: the whole value fails, no member is written as null in its place.
        #expect(throws: AgentError.self) { try GoOrderedJSON.object([("PublicIP", "10.0.0.1"), ("Weight", Double.nan)]) }
        // The same members with a number it can write: the object is written.
        #expect(try GoOrderedJSON.object([("PublicIP", "10.0.0.1"), ("Weight", 1.5)]) == #"{"PublicIP":"10.0.0.1","Weight":1.5}"#)
    }

    @Test func hostGatewayValueHasNoBackendData() throws {
        let attributes = LeaseAttributes(publicIP: try #require(IPAddress("192.168.1.12")), backendType: "host-gw")
        #expect(try attributes.json() == #"{"PublicIP":"192.168.1.12","PublicIPv6":null,"BackendType":"host-gw"}"#)
    }

    @Test func readsOlderFlanneldValues() throws {
        // flanneld before dual stack wrote no PublicIPv6.
        let old = try LeaseAttributes.parse(#"{"PublicIP":"10.0.0.5","BackendType":"vxlan","BackendData":{"VtepMAC":"AA:bb:cc:dd:ee:ff","VNI":1}}"#)
        #expect(old.publicIP == IPAddress("10.0.0.5"))
        #expect(old.vtepMAC == [0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff])
        #expect(throws: AgentError.self) { try LeaseAttributes.parse(#"{"BackendType":"vxlan"}"#) }
    }

    @Test func vtepIsTheSubnetsNetworkAddressAsFlannelUses() throws {
        let lease = SubnetLease(
            subnet: try #require(IPNetwork("10.244.7.0/24")),
            attributes: LeaseAttributes(publicIP: try #require(IPAddress("10.0.0.1")), backendType: "vxlan"))
        #expect(lease.vtepAddress == IPAddress("10.244.7.0"))
    }

    @Test func subnetFileNamesTheGatewayAndLeavesMasqueradeToThePlugin() throws {
        let file = SubnetEnv(network: try #require(IPNetwork("10.244.0.0/16")), subnet: try #require(IPNetwork("10.244.3.0/24")), mtu: 1450)
        #expect(file.text == "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.3.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n")
    }
}
