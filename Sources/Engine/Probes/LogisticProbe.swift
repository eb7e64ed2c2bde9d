import Foundation

/// A linear probe: logistic regression p(y=1|x) = sigmoid(w·x + b), trained on activations of two concepts (PAIR's
/// linear_classifier/train.py). Its weight vector w is a concept direction to dream or shift toward.
public struct ProbeOptions: Sendable {
    public var epochs = 300
    public var learningRate: Float = 0.05
    /// L2 penalty on w, as sklearn's C: the loss is sum(log-loss) + ||w||²/(2C); nil: none.
    public var C: Double? = 1.0
    public var validationSplit = 0.1
    public var seed: UInt64 = 42
    public init() {}
}

public struct ProbeResult: Sendable {
    public let weights: Tensor          // (H)
    public let bias: Float
    public let trainAccuracy: Double, validationAccuracy: Double?
    public let trainCount: Int, validationCount: Int
    public let losses: [Float]          // mean log-loss per epoch
    public let validationRows: [Int]    // which rows of x were held out
}

/// Trains on rows of x (N,H) with labels y in {0,1}: a seeded shuffle, a validation share held out, then full-batch
/// Adam on the penalised log-loss.
public func trainLogisticProbe(x: Tensor, y: [Int], options o: ProbeOptions = ProbeOptions()) throws -> ProbeResult {
    guard x.rank == 2 else { throw DreamlabError.invalidArgument("probe: x must be (examples, features), got shape \(x.shape)") }
    let N = x.shape[0], H = x.shape[1]
    guard y.count == N else { throw DreamlabError.invalidArgument("probe: \(y.count) labels for \(N) examples") }
    guard y.allSatisfy({ $0 == 0 || $0 == 1 }) else { throw DreamlabError.invalidArgument("probe: labels must be 0 or 1") }
    guard Set(y).count == 2 else { throw DreamlabError.invalidArgument("probe: both classes need examples (labels 0 and 1)") }
    guard o.epochs >= 1 && o.epochs <= 1_000_000 else { throw DreamlabError.invalidArgument("probe: epochs must be in 1...1000000") }
    guard o.validationSplit >= 0 && o.validationSplit < 1 else { throw DreamlabError.invalidArgument("probe: validation split must be in [0, 1)") }
    guard o.learningRate > 0 && o.learningRate.isFinite else { throw DreamlabError.invalidArgument("probe: learning rate must be positive") }
    if let C = o.C { guard C > 0 && C.isFinite else { throw DreamlabError.invalidArgument("probe: C must be positive (or no penalty)") } }
    guard x.data.allSatisfy(\.isFinite) else { throw DreamlabError.invalidArgument("probe: the activations hold NaN or infinite values") }
    // Seeded Fisher-Yates shuffle, then the first share is held out.
    var order = Array(0..<N)
    var rng = SplitMix64(seed: o.seed)
    for i in stride(from: N - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
    let nVal = Int(Double(N) * o.validationSplit)
    let val = Array(order.prefix(nVal)), train = Array(order.dropFirst(nVal))
    var params = [Float](repeating: 0, count: H + 1)   // w then b
    var adam = Adam(count: H + 1, lr: o.learningRate)
    var losses: [Float] = []
    func logit(_ i: Int, _ p: [Float]) -> Float {
        var s = p[H]
        for h in 0..<H { s += p[h] * x.data[i * H + h] }
        return s
    }
    for _ in 0..<o.epochs {
        var grad = [Float](repeating: 0, count: H + 1)
        var loss: Double = 0
        for i in train {
            let z = logit(i, params), t = Float(y[i])
            // log(1 + e^z) - t z, computed stably; d/dz = sigmoid(z) - t
            loss += Double(max(z, 0) + log1pf(expf(-abs(z))) - t * z)
            let g = 1 / (1 + expf(-z)) - t
            for h in 0..<H { grad[h] += g * x.data[i * H + h] }
            grad[H] += g
        }
        if let C = o.C { for h in 0..<H { grad[h] += params[h] / Float(C); loss += Double(params[h] * params[h]) / (2 * C) } }
        // Adam on the mean, so the step size does not depend on the number of examples.
        let scale = 1 / Float(max(train.count, 1))
        adam.step(&params, grad: grad.map { $0 * scale })
        losses.append(Float(loss) * scale)
    }
    func accuracy(_ rows: [Int]) -> Double {
        guard !rows.isEmpty else { return .nan }
        return Double(rows.filter { (logit($0, params) > 0 ? 1 : 0) == y[$0] }.count) / Double(rows.count)
    }
    return ProbeResult(weights: Tensor(shape: [H], data: Array(params.prefix(H))), bias: params[H], trainAccuracy: accuracy(train),
                       validationAccuracy: val.isEmpty ? nil : accuracy(val), trainCount: train.count, validationCount: val.count, losses: losses,
                       validationRows: val.sorted())
}
