/// The k highest-scoring items seen, best first; among equal scores the earlier offer stays ahead.
/// Serves token search, corpus passes, the dream's top-k records and the discrete method's proposals.
public struct BestK<Item> {
    public let k: Int
    public private(set) var entries: [(score: Float, item: Item)] = []

    public init(_ k: Int) { self.k = k; entries.reserveCapacity(k + 1) }

    @inline(__always)
    public mutating func offer(_ score: Float, _ item: Item) {
        guard score.isFinite, k > 0 else { return }
        if entries.count == k, score <= entries[k - 1].score { return }
        var i = entries.count
        while i > 0 && entries[i - 1].score < score { i -= 1 }
        entries.insert((score, item), at: i)
        if entries.count > k { entries.removeLast() }
    }

    public var items: [Item] { entries.map(\.item) }
    public var scores: [Float] { entries.map(\.score) }
}
