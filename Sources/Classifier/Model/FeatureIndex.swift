/// Feature hash → position in the model, as an open-addressing table of two flat arrays: the
/// scorer looks up every n-gram of every complaint, and Swift's `Dictionary` (a seeded `Hasher`
/// per lookup) was a tenth of the classifier's time. FNV-1a hashes are mixed by a Fibonacci
/// multiply before taking the top bits; the table is at most half full, so probes stay short.
struct FeatureIndex: Sendable {
    private let keys: [UInt64]
    private let positions: [Int32]  // -1: empty slot
    private let shift: UInt64

    init(hashes: [UInt64]) {
        var bits: UInt64 = 4
        while (1 << bits) < hashes.count * 2 { bits += 1 }
        let capacity = 1 << Int(bits)
        var keys = [UInt64](repeating: 0, count: capacity)
        var positions = [Int32](repeating: -1, count: capacity)
        let shift = 64 - bits
        let mask = capacity - 1
        for (position, hash) in hashes.enumerated() {
            var slot = Int(truncatingIfNeeded: (hash &* 0x9E37_79B9_7F4A_7C15) >> shift)
            while positions[slot] >= 0 && keys[slot] != hash { slot = (slot + 1) & mask }
            keys[slot] = hash
            positions[slot] = Int32(position)  // a repeated hash keeps the later position, as a dictionary would
        }
        self.keys = keys
        self.positions = positions
        self.shift = shift
    }

    @inline(__always)
    subscript(hash: UInt64) -> Int32? {
        let mask = keys.count - 1
        var slot = Int(truncatingIfNeeded: (hash &* 0x9E37_79B9_7F4A_7C15) >> shift)
        while true {
            let position = positions[slot]
            if position < 0 { return nil }
            if keys[slot] == hash { return position }
            slot = (slot + 1) & mask
        }
    }
}
