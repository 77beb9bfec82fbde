import Logging
import WeftAddress
import WeftKube
import WeftNetlink
import WeftServices

extension ServiceAgent {
    /// weftd's Services agent in its own network namespace: refused while kube-proxy's rules are there;
    /// the endpoint API the server serves and the Node's addresses found; the kernel's ServiceTable.
    public static func start(
        client: KubeClient, node: String, clusterCIDRs: [IPNetwork], protectedAddresses: [IPAddress] = [], logger: Logger, metrics: AgentMetrics
    ) async throws -> ServiceAgent {
        let handle = NetlinkHandle.current()
        try refuseBesideKubeProxy(try ServiceTable.kubeProxyRules(handle: handle))
        let (source, addresses) = try await discover(client: client, node: node)
        if addresses.isEmpty { logger.warning("the Node reports no InternalIP or ExternalIP: NodePorts are not served", metadata: ["node": "\(node)"]) }
        logger.info("serving Services", metadata: ["node": "\(node)", "endpoints": "\(source.rawValue)", "nodePortAddresses": "\(addresses)"])
        var serviceNode = ServiceNode(nodePortAddresses: addresses, clusterCIDRs: clusterCIDRs)
        serviceNode.protectedAddresses = protectedAddresses
        return ServiceAgent(
            client: client, node: node, serviceNode: serviceNode, source: source,
            table: ServiceTable(handle: handle), logger: logger, metrics: metrics)
    }
}
