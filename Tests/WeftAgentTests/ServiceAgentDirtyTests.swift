import Foundation
import Logging
import Testing
import WeftAddress
import WeftKube
import WeftNftables
import WeftServices
import WeftTestSupport
@testable import WeftAgent

/// ServiceAgent re-plans only the Services an event marks dirty. Over seeded random sequences of
/// Service, EndpointSlice and Node events (adds, changes, deletes, slices moving between Services or
/// arriving before theirs, objects that cannot be read, lists that drop what they no longer name), the
/// table it keeps equals, after every step, the table of a whole plan of the same objects
/// (ServicePlanner.plan over a ServiceSource, ServiceRuleset.image): the reference.
@Suite(.serialized)
struct ServiceAgentDirtyTests {
    /// SplitMix64: the same seed, the same sequence.
    struct Seeded: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let serviceNames = (0..<5).map { "svc-\($0)" }
    /// Slices; "svc-1" is also a slice's name, so an unlabelled unreadable slice can land on a Service.
    static let sliceNames = (0..<6).map { "slice-\($0)" } + ["svc-1"]
    static let nodes = [
        ServiceNode(nodePortAddresses: [IPAddress("192.168.1.10")!], clusterCIDRs: [IPNetwork("10.244.0.0/16")!]),
        ServiceNode(nodePortAddresses: [IPAddress("192.168.1.10")!, IPAddress("192.168.1.11")!], clusterCIDRs: [IPNetwork("10.244.0.0/16")!]),
    ]
    static let portNames: [(String, String)] = [("dns", "UDP"), ("http", "TCP")]

    static func service(_ index: Int, _ rng: inout Seeded) -> [String: Any] {
        let name = serviceNames[index]
        let metadata: [String: Any] = ["name": name, "namespace": "prod"]
        switch Int.random(in: 0..<6, using: &rng) {
        case 0:
            // Not readable: its ports are not a list (salvaged: its ClusterIP, no port).
            return ["metadata": metadata, "spec": ["clusterIP": "10.96.0.\(index + 1)", "ports": 5]]
        case 1:
            return ["metadata": metadata, "spec": ["clusterIP": "None", "ports": [["name": "http", "port": 80, "protocol": "TCP"]]]]
        default:
            let nodePort = Bool.random(using: &rng)
            let chosen = portNames.filter { _ in Bool.random(using: &rng) }
            let ports: [[String: Any]] = (chosen.isEmpty ? [portNames[0]] : chosen).enumerated().map { offset, named in
                var port: [String: Any] = ["name": named.0, "port": 53 + offset * 27, "protocol": named.1, "targetPort": 8000 + offset]
                if nodePort { port["nodePort"] = 30000 + index * 2 + offset }
                return port
            }
            // Two Services may share a ClusterIP (as the API never lets them): contested keys.
            let address = Int.random(in: 0..<8, using: &rng) == 0 ? 1 : index + 1
            return [
                "metadata": metadata,
                "spec": [
                    "type": nodePort ? "NodePort" : "ClusterIP", "clusterIP": "10.96.0.\(address)", "clusterIPs": ["10.96.0.\(address)"],
                    "ports": ports, "sessionAffinity": Bool.random(using: &rng) ? "ClientIP" : "None",
                ],
            ]
        }
    }

    static func slice(_ index: Int, _ rng: inout Seeded) -> [String: Any] {
        var metadata: [String: Any] = ["name": sliceNames[index], "namespace": "prod"]
        // Mostly labelled with a Service (any: slices move between Services), sometimes with none.
        if Int.random(in: 0..<6, using: &rng) != 0 {
            metadata["labels"] = [EndpointSliceObject.serviceNameLabel: serviceNames[Int.random(in: 0..<serviceNames.count, using: &rng)]]
        }
        if Int.random(in: 0..<6, using: &rng) == 0 {
            return ["metadata": metadata, "addressType": "IPv4", "endpoints": 5]
        }
        let endpoints: [[String: Any]] = (0..<Int.random(in: 0...3, using: &rng)).map { _ in
            [
                "addresses": ["10.244.\(Int.random(in: 1...2, using: &rng)).\(Int.random(in: 2...6, using: &rng))"],
                "conditions": ["ready": Int.random(in: 0..<5, using: &rng) != 0],
                "nodeName": Bool.random(using: &rng) ? "n1" : "n2",
            ]
        }
        let named = portNames[Int.random(in: 0..<portNames.count, using: &rng)]
        return [
            "metadata": metadata, "addressType": "IPv4", "endpoints": endpoints,
            "ports": [["name": named.0, "port": 8000 + Int.random(in: 0...1, using: &rng), "protocol": named.1]],
        ]
    }

    /// What the API holds, and the reference: every object planned whole.
    struct Model {
        var services: [String: [String: Any]] = [:]
        var slices: [String: [String: Any]] = [:]
        var node = ServiceAgentDirtyTests.nodes[0]

        func image() -> NftTableImage {
            var source = ServiceSource()
            for (key, object) in services.sorted(by: { $0.key < $1.key }) {
                do {
                    source.services.append(try ServiceObjectDecoding.decode(ServiceObject.self, object: object, what: "Service \(key)"))
                } catch {
                    source.unreadable.append(UnreadableService(object: object, reason: "\(error)"))
                }
            }
            for (key, object) in slices.sorted(by: { $0.key < $1.key }) {
                do {
                    source.slices.append(try ServiceObjectDecoding.decode(EndpointSliceObject.self, object: object, what: "EndpointSlice \(key)"))
                } catch {
                    source.unreadableSlices[key] = ServiceAgent.serviceOf(unreadable: object, source: .sliceV1)
                }
            }
            return ServiceRuleset.image(ServicePlanner.plan(source, nodeName: "n1").plans, node: node)
        }
    }

    @Test(arguments: [1, 2, 3, 4, 5, 6] as [UInt64])
    func incrementalEqualsAWholePlanOverRandomEvents(seed: UInt64) async throws {
        var rng = Seeded(state: seed)
        let client = try KubeClient(credentials: KubeCredentials(server: "https://127.0.0.1:1"))
        let kernel = RecordingServiceKernel()
        let agent = ServiceAgent(
            client: client, node: "n1", serviceNode: Self.nodes[0], source: .sliceV1, table: kernel,
            logger: Logger(label: "test"), metrics: AgentMetrics(), kernel: KernelQueue())
        var model = Model()
        func list(_ kind: ServiceAgent.Kind, _ objects: [[String: Any]]) async {
            await agent.received(kind, .listStarted)
            await agent.received(kind, .listedPage(objects))
            await agent.received(kind, .listEnded)
        }
        await list(.services, [])
        await list(.endpoints, [])
        var kinds: [Int: Int] = [:]
        for step in 0..<250 {
            let kind = Int.random(in: 0..<10, using: &rng)
            kinds[kind, default: 0] += 1
            switch kind {
            case 0, 1, 2:
                let index = Int.random(in: 0..<Self.serviceNames.count, using: &rng)
                let object = Self.service(index, &rng)
                model.services["prod/\(Self.serviceNames[index])"] = object
                await agent.received(.services, .upserted(object))
            case 3:
                let key = "prod/\(Self.serviceNames[Int.random(in: 0..<Self.serviceNames.count, using: &rng)])"
                // The last state the API held (a delete of what is not there is delivered too, as a resync may).
                let object = model.services.removeValue(forKey: key) ?? ["metadata": ["name": String(key.dropFirst(5)), "namespace": "prod"]]
                await agent.received(.services, .deleted(object))
            case 4, 5, 6:
                let index = Int.random(in: 0..<Self.sliceNames.count, using: &rng)
                let object = Self.slice(index, &rng)
                model.slices["prod/\(Self.sliceNames[index])"] = object
                await agent.received(.endpoints, .upserted(object))
            case 7:
                let key = "prod/\(Self.sliceNames[Int.random(in: 0..<Self.sliceNames.count, using: &rng)])"
                guard let object = model.slices.removeValue(forKey: key) else { continue }
                await agent.received(.endpoints, .deleted(object))
            case 8:
                // A list again: what was deleted while the watch was down is not named.
                if Bool.random(using: &rng) {
                    if let key = model.services.keys.sorted().randomElement(using: &rng) { model.services[key] = nil }
                    await list(.services, model.services.keys.sorted().compactMap { model.services[$0] })
                } else {
                    if let key = model.slices.keys.sorted().randomElement(using: &rng) { model.slices[key] = nil }
                    await list(.endpoints, model.slices.keys.sorted().compactMap { model.slices[$0] })
                }
            default:
                model.node = Self.nodes[Int.random(in: 0..<Self.nodes.count, using: &rng)]
                await agent.setNode(model.node)
            }
            await agent.apply()
            let image = try #require(await agent.currentImage())
            let reference = model.image()
            // Named by what differs, not printed whole (a table is thousands of lines).
            let differing = Set(image.elements.keys).union(reference.elements.keys).filter { image.elements[$0] != reference.elements[$0] }
            let same = image == reference
            #expect(
                same,
                "seed \(seed) step \(step) (event kind \(kind)): sets \(differing.sorted()), chains \(Set(image.regularChains).symmetricDifference(reference.regularChains).sorted())"
            )
            // And what the kernel holds, the changes written applied one by one: a wrong change with a
            // right state shows here.
            let kernelSame = kernel.kernelTable == NftTableModel(reference)
            #expect(kernelSame, "seed \(seed) step \(step) (event kind \(kind)): the kernel's table, changed by the writes, is not the reference")
            if !same || !kernelSame { break }
        }
        #expect(kinds.count == 10, "every kind of event came: \(kinds)")
        await client.shutdown()
    }
}

extension ServiceAgent {
    /// The whole image of the table the agent keeps (ServiceImageState is not Sendable: read here).
    func currentImage() -> NftTableImage? { imageState?.image() }
}
