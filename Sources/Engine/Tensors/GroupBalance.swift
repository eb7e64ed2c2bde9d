import Foundation

/// How a batch run as whole-sequence groups side by side (BertModel.forward) is shared between the threads: in
/// proportion to each thread's measured speed on the previous batches, not evenly. On a shared host one vCPU is
/// often slowed for seconds at a time (a neighbour on its sibling hyperthread: a product measured 90-100 GFLOP/s on
/// one vCPU against 170 on the other), and an even split then leaves the fast thread waiting for the slow one (the
/// pool's wait was 12% of a slow search's samples). Batches follow each other within a search or a discrete dream,
/// so the last ones predict the next. Each sequence's result does not depend on its group, so any split gives the
/// same numbers bit for bit.
public final class GroupBalance: @unchecked Sendable {
    public static let shared = GroupBalance()
    private let lock = NSLock()
    /// Rows a second, per pool chunk (0: the caller's thread); 0 where nothing is measured yet.
    private var rates: [Double] = []
    /// DREAMLAB_BALANCE=0: even shares always (to measure what the balance gives).
    private let enabled = ProcessInfo.processInfo.environment["DREAMLAB_BALANCE"] != "0"

    /// The first sequence of each of `groups` groups of a batch of B, and B at the end: shares in proportion to the
    /// measured rates, each between half and twice an even share (a stale estimate cannot starve a thread) and at
    /// least one sequence.
    public func bounds(B: Int, groups: Int) -> [Int] {
        precondition(groups >= 1 && B >= groups)
        lock.lock()
        let known = rates.count >= groups && rates.prefix(groups).allSatisfy { $0 > 0 } ? Array(rates.prefix(groups)) : nil
        lock.unlock()
        guard enabled, let known else { return (0...groups).map { $0 * B / groups } }
        let even = 1.0 / Double(groups), total = known.reduce(0, +)
        let shares = known.map { min(2 * even, max(even / 2, $0 / total)) }
        let sum = shares.reduce(0, +)
        var bounds = [0], acc = 0.0
        for g in 0..<(groups - 1) {
            acc += shares[g] / sum
            // At least one sequence in this group and in each one after it.
            let b = Int((acc * Double(B)).rounded())
            bounds.append(min(max(b, bounds[g] + 1), B - (groups - 1 - g)))
        }
        bounds.append(B)
        return bounds
    }

    /// Chunk `chunk` ran `rows` rows in `seconds`: half the new measure, half the old (one slow batch moves the split
    /// halfway, two most of the way).
    public func record(chunk: Int, rows: Int, seconds: Double) {
        guard rows > 0, seconds > 0 else { return }
        lock.lock(); defer { lock.unlock() }
        if rates.count <= chunk { rates += [Double](repeating: 0, count: chunk + 1 - rates.count) }
        let rate = Double(rows) / seconds
        rates[chunk] = rates[chunk] > 0 ? 0.5 * rates[chunk] + 0.5 * rate : rate
    }

    /// The current estimates, rows a second per thread (the bench prints them: they show a slowed vCPU).
    public var measuredRates: [Double] { lock.lock(); defer { lock.unlock() }; return rates }

    /// Forgets the measures (tests; `dreamlab bench --threads` between thread counts).
    public func reset(rates newRates: [Double] = []) {
        lock.lock(); rates = newRates; lock.unlock()
    }
}

/// Seconds on a monotonic clock, for timing a group on its own thread.
@inline(__always)
func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
