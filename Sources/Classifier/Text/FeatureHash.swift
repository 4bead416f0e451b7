/// 64-bit FNV-1a over the UTF-8 bytes of a feature: the scorer hashes n-grams straight from the
/// scalars of a ``NormalizedText`` and finds them in a model whose vocabulary was hashed the
/// same way from strings, without building a `String` per n-gram.
struct FeatureHash: Hashable, Sendable {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    @inline(__always)
    mutating func add(byte: UInt8) {
        value = (value ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
    }

    @inline(__always)
    mutating func add(_ scalar: Unicode.Scalar) {
        let v = scalar.value
        if v < 0x80 {
            add(byte: UInt8(v))
        } else if v < 0x800 {
            add(byte: UInt8(0xC0 | (v >> 6)))
            add(byte: UInt8(0x80 | (v & 0x3F)))
        } else if v < 0x10000 {
            add(byte: UInt8(0xE0 | (v >> 12)))
            add(byte: UInt8(0x80 | ((v >> 6) & 0x3F)))
            add(byte: UInt8(0x80 | (v & 0x3F)))
        } else {
            add(byte: UInt8(0xF0 | (v >> 18)))
            add(byte: UInt8(0x80 | ((v >> 12) & 0x3F)))
            add(byte: UInt8(0x80 | ((v >> 6) & 0x3F)))
            add(byte: UInt8(0x80 | (v & 0x3F)))
        }
    }

    static func of(_ string: String) -> UInt64 {
        var hash = FeatureHash()
        for byte in string.utf8 { hash.add(byte: byte) }
        return hash.value
    }
}
