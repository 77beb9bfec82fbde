/// C constants arrive as Int (anonymous enums), Int32 (#defines) or structs (named enums): one spelling for all.
func code(_ value: Int) -> UInt16 { UInt16(truncatingIfNeeded: value) }
func code(_ value: Int32) -> UInt16 { UInt16(truncatingIfNeeded: value) }
func code<T: RawRepresentable>(_ value: T) -> UInt16 where T.RawValue: BinaryInteger { UInt16(truncatingIfNeeded: value.rawValue) }
func code32(_ value: Int) -> UInt32 { UInt32(truncatingIfNeeded: value) }
func code32(_ value: Int32) -> UInt32 { UInt32(truncatingIfNeeded: value) }
func code32<T: RawRepresentable>(_ value: T) -> UInt32 where T.RawValue: BinaryInteger { UInt32(truncatingIfNeeded: value.rawValue) }
