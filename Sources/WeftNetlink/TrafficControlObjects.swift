import CMnl

/// A qdisc as RTM_NEWQDISC describes it.
public struct Qdisc: Equatable, Sendable {
    public let linkIndex: Int32
    /// TCA_KIND: "tbf", "ingress", "noqueue", "pfifo_fast", …
    public let kind: String
    public let handle: UInt32
    /// TrafficHandle.root for the root qdisc, TrafficHandle.ingress for the ingress qdisc.
    public let parent: UInt32
    /// For a TBF, its parameters.
    public let tokenBucket: InstalledTokenBucket?

    public var isRoot: Bool { parent == TrafficHandle.root }

    /// Parses tcmsg (20 bytes: family, pads, ifindex, handle, parent, info), then attributes.
    public init?(payload: [UInt8]) {
        guard payload.count >= TrafficControlRequests.tcmsgSize, let linkIndex = payload.loadInteger(Int32.self, at: 4),
            let handle = payload.loadInteger(UInt32.self, at: 8), let parent = payload.loadInteger(UInt32.self, at: 12)
        else { return nil }
        self.linkIndex = linkIndex
        self.handle = handle
        self.parent = parent
        let attributes = NetlinkAttribute.parse(payload, from: TrafficControlRequests.tcmsgSize)
        guard let kind = attributes.first(Int(TCA_KIND))?.string else { return nil }
        self.kind = kind
        let options = attributes.first(Int(TCA_OPTIONS))?.nested ?? []
        tokenBucket = kind == "tbf" ? Self.tokenBucket(options) : nil
    }

    /// tc_tbf_qopt: rate (tc_ratespec, 12 bytes, its 32-bit rate at offset 8), peakrate (12), limit,
    /// buffer, mtu. A rate of 2^32 bytes/s or more shows as 0xffffffff there and in full in TCA_TBF_RATE64.
    private static func tokenBucket(_ options: [NetlinkAttribute]) -> InstalledTokenBucket? {
        guard let parameters = options.first(Int(TCA_TBF_PARMS))?.value,
            parameters.count >= MemoryLayout<tc_tbf_qopt>.size, let rate32 = parameters.loadInteger(UInt32.self, at: 8),
            let bufferTicks = parameters.loadInteger(UInt32.self, at: 28), let limitBytes = parameters.loadInteger(UInt32.self, at: 24)
        else { return nil }
        let rate64 = options.first(Int(TCA_TBF_RATE64))?.u64 ?? 0
        return InstalledTokenBucket(rateBytesPerSecond: max(UInt64(rate32), rate64), bufferTicks: bufferTicks, limitBytes: limitBytes)
    }
}

/// A mirred action of a filter: where it sends packets, and how.
public struct MirredAction: Equatable, Sendable {
    public let targetIndex: Int32
    /// TCA_EGRESS_REDIR: out of the target (an IFB), as `mirred egress redirect` does; else a mirror or ingress.
    public let isEgressRedirect: Bool
    /// tc_gen.action: TC_ACT_STOLEN for a redirect (the packet leaves the source's path).
    public let verdict: Int32

    public init(targetIndex: Int32, isEgressRedirect: Bool, verdict: Int32) {
        self.targetIndex = targetIndex
        self.isEgressRedirect = isEgressRedirect
        self.verdict = verdict
    }

    /// The mirred actions of a u32 filter in RTM_NEWTFILTER's payload: TCA_OPTIONS › TCA_U32_ACT › one
    /// nest per action (numbered by order) › TCA_ACT_KIND "mirred" and TCA_ACT_OPTIONS › TCA_MIRRED_PARMS.
    public static func all(inFilter payload: [UInt8]) -> [MirredAction] {
        guard payload.count >= TrafficControlRequests.tcmsgSize else { return [] }
        let attributes = NetlinkAttribute.parse(payload, from: TrafficControlRequests.tcmsgSize)
        guard attributes.first(Int(TCA_KIND))?.string == "u32",
            let actions = attributes.first(Int(TCA_OPTIONS))?.nested.first(Int(TCA_U32_ACT))?.nested
        else { return [] }
        return actions.compactMap { action in
            let fields = action.nested
            guard fields.first(Int(TCA_ACT_KIND))?.string == "mirred",
                let parameters = fields.first(Int(TCA_ACT_OPTIONS))?.nested.first(Int(TCA_MIRRED_PARMS))?.value,
                // tc_mirred: index, capab, action, refcnt, bindcnt (tc_gen, 20 bytes), eaction, ifindex.
                let targetIndex = parameters.loadInteger(Int32.self, at: 24), let action = parameters.loadInteger(Int32.self, at: 20),
                let verdict = parameters.loadInteger(Int32.self, at: 8)
            else { return nil }
            return MirredAction(targetIndex: targetIndex, isEgressRedirect: action == TCA_EGRESS_REDIR, verdict: verdict)
        }
    }
}
