import Foundation
import Logging
import WeftAddress
import WeftAgent
import WeftCNI
import WeftKube

extension Run {
    /// --services, or $WEFT_SERVICES "true" (the DaemonSet's ConfigMap key `services`: a ConfigMap key
    /// cannot add an argument).
    var servesServices: Bool { services || ProcessInfo.processInfo.environment["WEFT_SERVICES"] == "true" }

    /// The API server's credentials: a kubeconfig's, else the pod's service account. With --api-server
    /// (or $WEFT_API_SERVER) the address is that one, not KUBERNETES_SERVICE_HOST's: that is the
    /// `kubernetes` Service's ClusterIP, which only a Service proxy makes reachable. With --services and
    /// in-cluster credentials, the real address is required.
    func kubeCredentials() throws -> KubeCredentials {
        let explicit = apiServer ?? ProcessInfo.processInfo.environment["WEFT_API_SERVER"].flatMap { $0.isEmpty ? nil : $0 }
        if let explicit {
            guard let url = URL(string: explicit), url.scheme == "https" || url.scheme == "http", url.host != nil else {
                throw AgentError(.invalidConfig, "--api-server \(explicit) is not an http(s)://host:port URL")
            }
        }
        var credentials: KubeCredentials
        if let kubeconfig {
            credentials = try KubeCredentials.kubeconfig(path: kubeconfig)
        } else {
            if servesServices && explicit == nil {
                throw AgentError(
                    .invalidConfig,
                    "--services needs the API server's real address: KUBERNETES_SERVICE_HOST is the `kubernetes` Service weftd is about to serve; "
                        + "give --api-server https://HOST:PORT (or WEFT_API_SERVER) or a --kubeconfig naming it")
            }
            credentials = try KubeCredentials.inCluster()
        }
        if let explicit {
            credentials.server = explicit.hasSuffix("/") ? String(explicit.dropLast()) : explicit
        }
        return credentials
    }

    /// The cluster's pod networks: --cluster-cidr, else the net-conf file's Network and IPv6Network; none
    /// (said in the log) when neither is given, as kube-proxy without --cluster-cidr: traffic from outside
    /// the pod networks is then not told apart.
    func clusterCIDRs(logger: Logger) throws -> [IPNetwork] {
        if let clusterCIDR {
            var networks: [IPNetwork] = []
            for text in clusterCIDR.split(separator: ",").map({ String($0).trimmingCharacters(in: .whitespaces) }) {
                guard let network = IPNetwork(text) else { throw AgentError(.invalidConfig, "--cluster-cidr \(text) is not a CIDR") }
                networks.append(network.canonical)
            }
            return networks
        }
        guard let text = try? String(contentsOfFile: netConf, encoding: .utf8) else {
            logger.warning(
                "no --cluster-cidr and no readable --net-conf: Services are served without the cluster's pod networks", metadata: ["netConf": "\(netConf)"])
            return []
        }
        let config = try NetConf.parse(text)
        return [config.network] + (config.ipv6.map { [$0.network] } ?? [])
    }

    /// The Services agent (ServiceAgent.start: refused while kube-proxy's rules are on the node).
    func startServices(logger: Logger, metrics: AgentMetrics) async throws -> (agent: ServiceAgent, client: KubeClient) {
        let cidrs = try clusterCIDRs(logger: logger)
        let credentials = try kubeCredentials()
        let name = nodeName ?? ProcessInfo.processInfo.environment["NODE_NAME"] ?? ProcessInfo.processInfo.hostName
        guard Validation.isDNSSubdomain(name) else {
            throw AgentError(.invalidConfig, "node name \"\(Validation.printable(name))\" is not a Kubernetes node name")
        }
        let client = try KubeClient(credentials: credentials)
        do {
            // The API server's address (when the URL names one, not a host name) is no Service's frontend.
            let apiAddress = URL(string: credentials.server)?.host.flatMap { IPAddress($0.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))) }
            let agent = try await ServiceAgent.start(
                client: client, node: name, clusterCIDRs: cidrs, protectedAddresses: apiAddress.map { [$0] } ?? [], logger: logger, metrics: metrics)
            logger.info("Services from the API server", metadata: ["api": "\(credentials.server)"])
            return (agent, client)
        } catch {
            await client.shutdown()
            throw error
        }
    }
}
