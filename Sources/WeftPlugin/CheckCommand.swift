import WeftAddress
import WeftCNI
import WeftIPAM
import WeftNetlink

extension WeftCommands {
    /// Compares the attachment on the node with `prevResult` and names everything missing.
    /// Later plugins in a chain may add addresses and routes: only what Weft's result lists is required.
    func check() throws {
        guard let previous = config.prevResult?.result else {
            throw CNIError(.invalidConfig, "prevResult is missing", details: "CHECK needs the result of ADD")
        }
        let plan = try NetworkPlan.resolve(config, loadSubnetEnv: loadSubnetEnv)
        let id = attachment(network: plan.name)
        let pod = try node.openPod(environment.netns)
        let links = try node.links()
        var problems: [String] = []

        let podAddresses = previous.ips.filter { ip in
            guard let index = ip.interface, previous.interfaces.indices.contains(index) else { return true }
            return previous.interfaces[index].name == environment.ifname
        }
        if let podLink = try pod.links.link(named: environment.ifname) {
            if !podLink.isUp { problems.append("\(environment.ifname) is down") }
            let held = try pod.links.addresses(index: podLink.index)
            for ip in podAddresses where !held.contains(ip.address) {
                problems.append("address \(ip.address) is missing from \(environment.ifname)")
            }
            for family in Set(previous.routes.map(\.destination.family)) {
                let present = try pod.links.routes(family: family)
                for route in previous.routes where route.destination.family == family {
                    let found = present.contains {
                        $0.destination.canonical == route.destination.canonical && (route.gateway == nil || $0.gateway == route.gateway)
                    }
                    if !found { problems.append("route \(route.destination)\(route.gateway.map { " via \($0)" } ?? "") is missing") }
                }
            }
        } else {
            problems.append("\(environment.ifname) is missing from \(pod.path)")
        }

        let hostName = id.hostVethName
        if case .device = plan.datapath {
            problems += try DeviceAttachment.problems(id, recorded: try node.store(plan.dataDir, plan.name).recorded(id), pod: pod)
        } else if let host = try links.link(named: hostName) {
            problems += try node.shaper().problems(plan.bandwidth, hostVethIndex: host.index, attachment: id)
            switch plan.datapath {
            case .bridge:
                let bridge = try links.link(named: plan.bridge)
                if bridge == nil { problems.append("bridge \(plan.bridge) is missing") }
                if let bridge, host.masterIndex != bridge.index { problems.append("\(hostName) is not attached to \(plan.bridge)") }
                if (host.hairpin ?? false) != plan.hairpinMode {
                    problems.append("\(hostName) has hairpin \(host.hairpin == true ? "on" : "off"), config wants \(plan.hairpinMode ? "on" : "off")")
                }
            case .device:
                break
            case .routed:
                // The node reaches each of the pod's addresses through its host end.
                for ip in podAddresses {
                    let routes = try links.routes(family: ip.address.family)
                    if !routes.contains(where: { $0.destination.canonical == ip.address.canonical && $0.outputIndex == host.index }) {
                        problems.append("the node's route to \(ip.address.address) through \(hostName) is missing")
                    }
                }
            }
        } else {
            problems.append("host interface \(hostName) is missing")
        }

        let reserved = try node.store(plan.dataDir, plan.name).addresses(of: id) ?? []
        problems += try node.firewall().problems(plan, podAddresses: podAddresses.map(\.address.address), attachment: id)
        for ip in podAddresses where !reserved.contains(ip.address.address) {
            problems.append("IPAM holds no reservation of \(ip.address.address) for \(id)")
        }
        if !problems.isEmpty {
            throw CNIError(.checkFailed, "CHECK found \(problems.count) problem\(problems.count == 1 ? "" : "s"): \(problems.joined(separator: "; "))")
        }
    }
}
