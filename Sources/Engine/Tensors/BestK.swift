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

/// The k-th largest of `values` (1-based k, clamped to the count), by quickselect on a copy: O(n) where sorting
/// 30522 gains took about 2 ms per row and the discrete method sorts up to R·P rows a step once its net is wide.
/// NaNs are left out (they never pass a `>=` threshold).
public func kthLargest(_ values: ArraySlice<Float>, _ k: Int) -> Float {
    var a = values.filter { !$0.isNaN }
    guard !a.isEmpty else { return .nan }
    let target = min(max(k, 1), a.count) - 1   // index in descending order
    var lo = 0, hi = a.count - 1
    var rng = SplitMix64(seed: UInt64(a.count))
    while lo < hi {
        let pivot = a[lo + Int(rng.next() % UInt64(hi - lo + 1))]
        var i = lo, j = hi
        while i <= j {   // descending: > pivot to the left, < pivot to the right
            while a[i] > pivot { i += 1 }
            while a[j] < pivot { j -= 1 }
            if i <= j { a.swapAt(i, j); i += 1; j -= 1 }
        }
        if target <= j { hi = j } else if target >= i { lo = i } else { return a[target] }
    }
    return a[target]
}
