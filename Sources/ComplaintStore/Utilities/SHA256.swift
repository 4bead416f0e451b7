/// SHA-256 (FIPS 180-4), used to fingerprint migration files.
///
/// The package has no crypto dependency of its own (swift-crypto is not declared, and Foundation on Linux has
/// no CryptoKit), and a migration checksum needs nothing more than this small, dependency-free digest. It is
/// not constant-time and must not be used for secrets.
package struct SHA256: Sendable {
    /// The digest size in bytes.
    package static let byteCount = 32

    private static let roundConstants: [UInt32] = [
        0x428a_2f98, 0x7137_4491, 0xb5c0_fbcf, 0xe9b5_dba5, 0x3956_c25b, 0x59f1_11f1, 0x923f_82a4, 0xab1c_5ed5,
        0xd807_aa98, 0x1283_5b01, 0x2431_85be, 0x550c_7dc3, 0x72be_5d74, 0x80de_b1fe, 0x9bdc_06a7, 0xc19b_f174,
        0xe49b_69c1, 0xefbe_4786, 0x0fc1_9dc6, 0x240c_a1cc, 0x2de9_2c6f, 0x4a74_84aa, 0x5cb0_a9dc, 0x76f9_88da,
        0x983e_5152, 0xa831_c66d, 0xb003_27c8, 0xbf59_7fc7, 0xc6e0_0bf3, 0xd5a7_9147, 0x06ca_6351, 0x1429_2967,
        0x27b7_0a85, 0x2e1b_2138, 0x4d2c_6dfc, 0x5338_0d13, 0x650a_7354, 0x766a_0abb, 0x81c2_c92e, 0x9272_2c85,
        0xa2bf_e8a1, 0xa81a_664b, 0xc24b_8b70, 0xc76c_51a3, 0xd192_e819, 0xd699_0624, 0xf40e_3585, 0x106a_a070,
        0x19a4_c116, 0x1e37_6c08, 0x2748_774c, 0x34b0_bcb5, 0x391c_0cb3, 0x4ed8_aa4a, 0x5b9c_ca4f, 0x682e_6ff3,
        0x748f_82ee, 0x78a5_636f, 0x84c8_7814, 0x8cc7_0208, 0x90be_fffa, 0xa450_6ceb, 0xbef9_a3f7, 0xc671_78f2,
    ]

    private var state: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) = (
        0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a, 0x510e_527f, 0x9b05_688c, 0x1f83_d9ab, 0x5be0_cd19
    )
    private var pending: [UInt8] = []
    private var messageLength: UInt64 = 0

    /// Creates an empty hasher.
    package init() {
        self.pending.reserveCapacity(64)
    }

    /// Feeds more message bytes into the hasher.
    package mutating func update(_ bytes: some Sequence<UInt8>) {
        for byte in bytes {
            self.pending.append(byte)
            self.messageLength &+= 1
            if self.pending.count == 64 {
                self.compressPendingBlock()
                self.pending.removeAll(keepingCapacity: true)
            }
        }
    }

    /// Feeds the UTF-8 bytes of `string` into the hasher.
    package mutating func update(_ string: String) {
        self.update(string.utf8)
    }

    /// Finishes the computation and returns the 32-byte digest.
    package consuming func finalize() -> [UInt8] {
        let bitLength = self.messageLength &* 8
        self.pending.append(0x80)
        if self.pending.count > 56 {
            while self.pending.count < 64 { self.pending.append(0) }
            self.compressPendingBlock()
            self.pending.removeAll(keepingCapacity: true)
        }
        while self.pending.count < 56 { self.pending.append(0) }
        for shift in stride(from: 56, through: 0, by: -8) {
            self.pending.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift)))
        }
        self.compressPendingBlock()

        var digest: [UInt8] = []
        digest.reserveCapacity(Self.byteCount)
        let words = [self.state.0, self.state.1, self.state.2, self.state.3,
                     self.state.4, self.state.5, self.state.6, self.state.7]
        for word in words {
            digest.append(UInt8(truncatingIfNeeded: word >> 24))
            digest.append(UInt8(truncatingIfNeeded: word >> 16))
            digest.append(UInt8(truncatingIfNeeded: word >> 8))
            digest.append(UInt8(truncatingIfNeeded: word))
        }
        return digest
    }

    /// The digest of `bytes`.
    package static func hash(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(bytes)
        return hasher.finalize()
    }

    /// The digest of `bytes` as 64 lower-case hexadecimal characters.
    package static func hexDigest(_ bytes: some Sequence<UInt8>) -> String {
        let digits: [Character] = Array("0123456789abcdef")
        var result = ""
        result.reserveCapacity(Self.byteCount * 2)
        for byte in Self.hash(bytes) {
            result.append(digits[Int(byte >> 4)])
            result.append(digits[Int(byte & 0x0f)])
        }
        return result
    }

    /// The digest of the UTF-8 bytes of `string` as 64 lower-case hexadecimal characters.
    package static func hexDigest(_ string: String) -> String {
        Self.hexDigest(string.utf8)
    }

    private mutating func compressPendingBlock() {
        precondition(self.pending.count == 64)
        var schedule = [UInt32](repeating: 0, count: 64)
        for index in 0..<16 {
            let offset = index * 4
            schedule[index] = UInt32(self.pending[offset]) << 24 | UInt32(self.pending[offset + 1]) << 16
                | UInt32(self.pending[offset + 2]) << 8 | UInt32(self.pending[offset + 3])
        }
        for index in 16..<64 {
            let s0 = rotateRight(schedule[index - 15], 7) ^ rotateRight(schedule[index - 15], 18)
                ^ (schedule[index - 15] >> 3)
            let s1 = rotateRight(schedule[index - 2], 17) ^ rotateRight(schedule[index - 2], 19)
                ^ (schedule[index - 2] >> 10)
            schedule[index] = schedule[index - 16] &+ s0 &+ schedule[index - 7] &+ s1
        }

        var (a, b, c, d, e, f, g, h) = self.state
        for index in 0..<64 {
            let sum1 = rotateRight(e, 6) ^ rotateRight(e, 11) ^ rotateRight(e, 25)
            let choice = (e & f) ^ (~e & g)
            let temp1 = h &+ sum1 &+ choice &+ Self.roundConstants[index] &+ schedule[index]
            let sum0 = rotateRight(a, 2) ^ rotateRight(a, 13) ^ rotateRight(a, 22)
            let majority = (a & b) ^ (a & c) ^ (b & c)
            let temp2 = sum0 &+ majority
            h = g
            g = f
            f = e
            e = d &+ temp1
            d = c
            c = b
            b = a
            a = temp1 &+ temp2
        }
        self.state = (
            self.state.0 &+ a, self.state.1 &+ b, self.state.2 &+ c, self.state.3 &+ d,
            self.state.4 &+ e, self.state.5 &+ f, self.state.6 &+ g, self.state.7 &+ h
        )
    }
}

@inline(__always)
private func rotateRight(_ value: UInt32, _ count: UInt32) -> UInt32 {
    (value >> count) | (value << (32 - count))
}
