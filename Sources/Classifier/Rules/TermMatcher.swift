/// Finds every rule term in a complaint in one pass (Aho–Corasick over Unicode scalars), so
/// hundreds of Chinese and English phrases cost about as much as reading the text once.
///
/// Terms are folded like the text (``NormalizedText``). A term that starts or ends with a Latin
/// letter or digit only matches on a word boundary there (`ac` is not found in `account`),
/// unless it ends in `*`, which makes it a prefix (`overcharg*` finds `overcharged`). Han terms
/// match anywhere: Chinese has no word boundaries.
struct TermMatcher: Sendable {
    struct Term: Sendable, Hashable {
        var text: String
        var length: Int
        var leftBoundary: Bool
        var rightBoundary: Bool
    }

    private(set) var terms: [Term] = []
    /// Goto function: `node << 32 | scalar` → child node.
    private var edges: [UInt64: Int32] = [:]
    private var failure: [Int32] = [0]
    /// Terms ending at each node (its own and those of its failure chain).
    private var outputs: [[Int32]] = [[]]

    /// Builds the automaton. Returns `nil` for a term that is empty once folded.
    init(terms spelled: [String]) throws(EmptyTerm) {
        var nodeCount = 1
        for (termIndex, spelling) in spelled.enumerated() {
            var raw = spelling
            var isPrefix = false
            if raw.hasSuffix("*") {
                isPrefix = true
                raw.removeLast()
            }
            let scalars = NormalizedText(raw).scalars.trimmingSpaces()
            guard let first = scalars.first, let last = scalars.last else { throw EmptyTerm(index: termIndex, spelling: spelling) }
            terms.append(Term(
                text: String(String.UnicodeScalarView(scalars)), length: scalars.count,
                leftBoundary: NormalizedText.isWordScalar(first),
                rightBoundary: !isPrefix && NormalizedText.isWordScalar(last)))
            var node: Int32 = 0
            for scalar in scalars {
                let key = UInt64(UInt32(node)) << 32 | UInt64(scalar.value)
                if let child = edges[key] {
                    node = child
                } else {
                    let child = Int32(nodeCount)
                    nodeCount += 1
                    edges[key] = child
                    failure.append(0)
                    outputs.append([])
                    node = child
                }
            }
            outputs[Int(node)].append(Int32(termIndex))
        }
        buildFailureLinks(nodeCount: nodeCount)
    }

    struct EmptyTerm: Error {
        var index: Int
        var spelling: String
    }

    private mutating func buildFailureLinks(nodeCount: Int) {
        // Children per node, in a deterministic order, for the breadth-first pass.
        var children = [[(scalar: UInt32, child: Int32)]](repeating: [], count: nodeCount)
        for (key, child) in edges {
            children[Int(key >> 32)].append((UInt32(truncatingIfNeeded: key), child))
        }
        var queue: [Int32] = []
        for (_, child) in children[0] {
            failure[Int(child)] = 0
            queue.append(child)
        }
        var head = 0
        while head < queue.count {
            let node = queue[head]
            head += 1
            for (scalar, child) in children[Int(node)] {
                queue.append(child)
                var fallback = failure[Int(node)]
                while true {
                    if let next = edges[UInt64(UInt32(fallback)) << 32 | UInt64(scalar)], next != child {
                        failure[Int(child)] = next
                        break
                    }
                    if fallback == 0 {
                        failure[Int(child)] = 0
                        break
                    }
                    fallback = failure[Int(fallback)]
                }
                outputs[Int(child)].append(contentsOf: outputs[Int(failure[Int(child)])])
            }
        }
    }

    /// Calls `found` with the index of each term occurrence (a term may be reported more than once).
    @inline(__always)
    func forEachMatch(in scalars: [Unicode.Scalar], _ found: (Int) -> Void) {
        var node: Int32 = 0
        let count = scalars.count
        for position in 0..<count {
            let value = UInt64(scalars[position].value)
            while true {
                if let next = edges[UInt64(UInt32(node)) << 32 | value] {
                    node = next
                    break
                }
                if node == 0 { break }
                node = failure[Int(node)]
            }
            let ending = outputs[Int(node)]
            if ending.isEmpty { continue }
            for termIndex in ending {
                let term = terms[Int(termIndex)]
                let start = position + 1 - term.length
                if term.leftBoundary && start > 0 && NormalizedText.isWordScalar(scalars[start - 1]) { continue }
                if term.rightBoundary && position + 1 < count && NormalizedText.isWordScalar(scalars[position + 1]) { continue }
                found(Int(termIndex))
            }
        }
    }
}

extension Array where Element == Unicode.Scalar {
    func trimmingSpaces() -> ArraySlice<Unicode.Scalar> {
        var slice = self[...]
        while slice.first == NormalizedText.space { slice.removeFirst() }
        while slice.last == NormalizedText.space { slice.removeLast() }
        return slice
    }
}
