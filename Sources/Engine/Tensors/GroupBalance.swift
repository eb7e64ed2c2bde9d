import CKernels
import Foundation

/// How a batch run as whole-sequence groups side by side (BertModel.forward) is shared between the threads: in
/// proportion to each thread's measured speed on the previous batches, not evenly. On a shared host one vCPU is
/// often slowed for seconds at a time (a neighbour on its sibling hyperthread: a product measured 90-100 GFLOP/s on
/// one vCPU against 170 on the other), and an even split then leaves the fast thread waiting for the slow one (the
/// pool's wait was 12% of a slow search's samples). Batches follow each other within a search or a discrete dream,
/// so the last ones predict the next. Each sequence's result does not depend on its group, so any split gives the
/// same numbers bit for bit.
public final class GroupBalance: @unchecked Sendable {
    public static let shared = GroupBalance(newWeight: 0.5)
    /// The packed products' split (splitBalanced), measured in multiply-adds a second: a product takes a millisecond
    /// or so, where an interrupt is a larger share, so each measure moves the estimate a fifth of the way.
    public static let products = GroupBalance(newWeight: 0.2)
    /// Rates this close (fastest / slowest) split evenly: measuring noise on a calm machine moves no work.
    static let deadBand = 1.15
    /// The weight of each new measure in the running estimate.
    let newWeight: Double

    public init(newWeight: Double) { self.newWeight = newWeight }
    private let lock = NSLock()
    /// Rows a second, per pool chunk (0: the caller's thread); 0 where nothing is measured yet.
    private var rates: [Double] = []
    /// DREAMLAB_BALANCE=0: even shares always (to measure what the balance gives).
    private let enabled = ProcessInfo.processInfo.environment["DREAMLAB_BALANCE"] != "0"

    /// The first sequence of each of `groups` groups of a batch of B, and B at the end: shares in proportion to the
    /// measured rates, each first held between half and twice an even share (so a stale estimate cannot starve a
    /// thread), then normalised to sum to one; at least one sequence each. Two threads: each takes 20-80%. Rates
    /// within `deadBand` of each other split evenly.
    public func bounds(B: Int, groups: Int) -> [Int] {
        precondition(groups >= 1 && B >= groups)
        lock.lock()
        let known = rates.count >= groups && rates.prefix(groups).allSatisfy { $0 > 0 } ? Array(rates.prefix(groups)) : nil
        lock.unlock()
        guard enabled, let known, known.max()! > GroupBalance.deadBand * known.min()! else { return (0...groups).map { $0 * B / groups } }
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

    /// Chunk `chunk` ran `rows` rows in `seconds`: the estimate moves `newWeight` of the way to it (groups: halfway,
    /// so a slowed vCPU is matched within two batches).
    public func record(chunk: Int, rows: Int, seconds: Double) {
        guard rows > 0, seconds > 0 else { return }
        lock.lock(); defer { lock.unlock() }
        if rates.count <= chunk { rates += [Double](repeating: 0, count: chunk + 1 - rates.count) }
        let rate = Double(rows) / seconds
        rates[chunk] = rates[chunk] > 0 ? (1 - newWeight) * rates[chunk] + newWeight * rate : rate
    }

    /// The current estimates, rows a second per thread (the bench prints them: they show a slowed vCPU).
    public var measuredRates: [Double] { lock.lock(); defer { lock.unlock() }; return rates }

    /// Forgets the measures (tests; `dreamlab bench --threads` between thread counts).
    public func reset(rates newRates: [Double] = []) {
        lock.lock(); rates = newRates; lock.unlock()
    }
}

/// Splits 0..<n (in whole `align` units) across the threads as splitWork does, but in shares that follow `balance`'s
/// measured speeds. Only for work whose every output is computed alike in any split (the packed products: each row
/// and each column sums the same way whichever chunk holds it).
func splitBalanced(_ work: Int, _ n: Int, align: Int, balance: GroupBalance, _ body: (Int, Int) -> Void) {
    let chunks = min(Threads.count, (n + align - 1) / align, max(1, work / parallelWork))
    if chunks < 2 { body(0, n); return }
    runBalanced(n, chunks: chunks, align: align, workPerItem: Double(work) / Double(n), balance: balance, body)
}

/// Runs body over 0..<n in `chunks` parts (whole `align` units, at least one each) sized by `balance`, one per
/// thread, each timing its own part; the measures (work = items · workPerItem) go back to `balance` when every part
/// had a thread of its own (a call made inside a part already on its own thread runs the parts in turn).
func runBalanced(_ n: Int, chunks: Int, align: Int = 1, workPerItem: Double, balance: GroupBalance, _ body: (Int, Int) -> Void) {
    let units = (n + align - 1) / align
    precondition(chunks >= 1 && units >= chunks)
    let bounds = balance.bounds(B: units, groups: chunks).map { min($0 * align, n) }
    let seconds = UnsafeMutablePointer<Double>.allocate(capacity: chunks)
    defer { seconds.deallocate() }
    let shared = withoutActuallyEscaping(body) { fn in
        var job = BalancedJob(body: fn, bounds: bounds, seconds: seconds)
        return withUnsafeMutablePointer(to: &job) { dl_pool_run(Int32(chunks), balancedTrampoline, $0) }
    }
    guard shared == chunks else { return }
    for i in 0..<chunks { balance.record(chunk: i, rows: Int(Double(bounds[i + 1] - bounds[i]) * workPerItem), seconds: seconds[i]) }
}

private struct BalancedJob {
    let body: (Int, Int) -> Void
    let bounds: [Int]
    let seconds: UnsafeMutablePointer<Double>   // each chunk's time, written by its own thread
}

private let balancedTrampoline: dl_task = { ctx, chunk in
    let job = ctx!.assumingMemoryBound(to: BalancedJob.self)
    let i = Int(chunk)
    let started = monotonicSeconds()
    job.pointee.body(job.pointee.bounds[i], job.pointee.bounds[i + 1])
    job.pointee.seconds[i] = monotonicSeconds() - started
}

/// Seconds on a monotonic clock, for timing a group on its own thread.
@inline(__always)
func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
