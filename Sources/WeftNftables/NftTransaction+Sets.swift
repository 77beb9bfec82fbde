import CMnl
import CNftnl

extension NftTransaction {
    /// Adds a set or map with the next set ID of the transaction; one that exists with the same
    /// definition is kept (NLM_F_CREATE without NLM_F_EXCL).
    public func addSet(table: String, _ set: NftSet) {
        addSet(table: table, set, id: nextSetID(), anonymousSize: nil)
    }

    /// A rule's anonymous constant map (`vmap { … }` written in the rule), created just before the rule
    /// under a new set ID with its elements: the kernel names it and deletes it with the rule.
    func addAnonymousMap(table: String, keyType: UInt32, keyLength: UInt32, _ elements: [NftSetElement]) -> UInt32 {
        let id = nextSetID(), name = NftExpressionEncoder.anonymousMapName
        addSet(table: table, NftSet(name: name, keyLength: keyLength, keyType: keyType, data: .verdict), id: id, anonymousSize: UInt32(elements.count))
        elementMessages(
            code32(NFT_MSG_NEWSETELEM), flags: NLM_F_CREATE, table: table, set: name, elements, setID: id,
            describe: Self.describer(verb: "add", preposition: "to", set: "an anonymous map", nil))
        return id
    }

    private func addSet(table: String, _ set: NftSet, id: UInt32, anonymousSize: UInt32?) {
        batch.add(
            code32(NFT_MSG_NEWSET), family: Self.inet, flags: NLM_F_CREATE, describe: "add \(set.data == nil ? "set" : "map") \(set.name)",
            bound: NftSize.strings(table, set.name)
        ) { header in
            guard let object = NftElementEncoder.set(table: table, name: set.name) else { return }
            defer { nftnl_set_free(object) }
            var flags: UInt32 = 0
            if anonymousSize != nil { flags |= code32(NFT_SET_ANONYMOUS) | code32(NFT_SET_CONSTANT) }
            if set.interval { flags |= code32(NFT_SET_INTERVAL) }
            if set.data != nil { flags |= code32(NFT_SET_MAP) }
            if set.timeoutMilliseconds != nil { flags |= code32(NFT_SET_TIMEOUT) }
            if set.dynamic { flags |= code32(NFT_SET_EVAL) }
            nftnl_set_set_u32(object, code(NFTNL_SET_FLAGS), flags)
            nftnl_set_set_u32(object, code(NFTNL_SET_KEY_LEN), set.keyLength)
            nftnl_set_set_u32(object, code(NFTNL_SET_KEY_TYPE), set.keyType)
            switch set.data {
            case .verdict?:
                // The kernel sizes verdict data itself (struct nft_verdict).
                nftnl_set_set_u32(object, code(NFTNL_SET_DATA_LEN), 0)
                nftnl_set_set_u32(object, code(NFTNL_SET_DATA_TYPE), NFT_DATA_VERDICT.rawValue)
            case let .value(type, length)?:
                nftnl_set_set_u32(object, code(NFTNL_SET_DATA_LEN), length)
                nftnl_set_set_u32(object, code(NFTNL_SET_DATA_TYPE), type)
            case nil:
                break
            }
            if let timeout = set.timeoutMilliseconds { nftnl_set_set_u64(object, code(NFTNL_SET_TIMEOUT), timeout) }
            // nft states a constant set's size (NFTA_SET_DESC), which lets the kernel pick its backend.
            if let anonymousSize { nftnl_set_set_u32(object, code(NFTNL_SET_DESC_SIZE), anonymousSize) }
            nftnl_set_set_u32(object, code(NFTNL_SET_ID), id)
            nftnl_set_nlmsg_build_payload(header, object)
        }
    }

    /// Deletes a set (no rule may use it by the end of the transaction).
    public func deleteSet(table: String, name: String) {
        batch.add(
            code32(NFT_MSG_DELSET), family: Self.inet, flags: 0, describe: "delete set \(name)",
            bound: NftSize.strings(table, name)
        ) { header in
            guard let object = NftElementEncoder.set(table: table, name: name) else { return }
            defer { nftnl_set_free(object) }
            nftnl_set_nlmsg_build_payload(header, object)
        }
    }

    /// Adds elements to a set created in this transaction or before, in as many messages as their
    /// list's u16 length needs. `exclusive`: a key already in the set fails the transaction (EEXIST)
    /// instead of being kept. `describe` names one element in errors ("8080/tcp"); without it they are counted.
    public func addElements(
        table: String, set: String, _ elements: [NftSetElement], exclusive: Bool = false,
        describe: ((NftSetElement) -> String)? = nil
    ) {
        elementMessages(
            code32(NFT_MSG_NEWSETELEM), flags: exclusive ? NLM_F_CREATE | NLM_F_EXCL : NLM_F_CREATE,
            table: table, set: set, elements, describe: Self.describer(verb: "add", preposition: "to", set: set, describe))
    }

    /// Deletes elements of a set; a key that is not there fails the transaction (ENOENT).
    public func deleteElements(table: String, set: String, _ elements: [NftSetElement], describe: ((NftSetElement) -> String)? = nil) {
        elementMessages(
            code32(NFT_MSG_DELSETELEM), flags: 0, table: table, set: set, elements,
            describe: Self.describer(verb: "delete", preposition: "from", set: set, describe))
    }

    private static func describer(
        verb: String, preposition: String, set: String,
        _ describe: ((NftSetElement) -> String)?
    ) -> (ArraySlice<NftSetElement>) -> String {
        guard let describe else { return { "\(verb) \($0.count) elements \(preposition) \(set)" } }
        return { "\(verb) \($0.map(describe).joined(separator: ", ")) in \(set)" }
    }

    /// `setID`: for a set of this transaction the kernel cannot find by name (an anonymous one).
    private func elementMessages(
        _ type: UInt32, flags: Int32, table: String, set: String, _ elements: [NftSetElement], setID: UInt32? = nil,
        describe: @escaping (ArraySlice<NftSetElement>) -> String
    ) {
        guard !elements.isEmpty else { return }
        let adding = type == code32(NFT_MSG_NEWSETELEM)
        batch.addElements(
            elements, type: type, family: Self.inet, flags: flags, bound: NftSize.strings(table, set),
            itemBound: NftSize.bound, describe: describe
        ) { header, chunk in
            guard let object = NftElementEncoder.set(table: table, name: set) else { return }
            defer { nftnl_set_free(object) }
            if let setID { nftnl_set_set_u32(object, code(NFTNL_SET_ID), setID) }
            for element in chunk {
                if let item = NftElementEncoder.encode(element, withData: adding) { nftnl_set_elem_add(object, item) }
            }
            nftnl_set_elems_nlmsg_build_payload(header, object)
        }
    }
}
