import Foundation

/// A λ sweep for fluency (EPO's frontier): one dream per λ, every run's best input as a point (activation, PLL),
/// and the points no other point beats on both axes.
public struct FluencySweepOptions: @unchecked Sendable {
    /// The dream each λ gets; its `fluency` is replaced by (fluencyModel, λ).
    public var dream = DreamOptions()
    public var lambdas: [Float] = [0, 0.01, 0.03, 0.1, 0.3, 1]
    /// The BERT with an MLM head that scores fluency (nil: the dreamed model).
    public var fluencyModel: BertModel? = nil
    /// A folder: each dream is saved to lambda_<n>_<λ>/ as it finishes, and frontier.json after every λ.
    public var out: String? = nil
    /// Called before each λ's dream, to label progress.
    public var onLambda: ((Float) -> Void)? = nil

    public init() {}
}

/// One point of the frontier.
public struct FrontierPoint: Codable, Sendable {
    public let lambda: Double
    public let activation: Double?
    public let pll: Double?
    public let score: Double?
    public let text: String
    public let tokens: [String]
    public let ids: [Int]
    public let honest: Bool
}

/// frontier.json.
public struct FluencySweepResult: Codable, @unchecked Sendable {
    public var kind = "fluency_frontier"
    public var objective = ""
    public var fluencyModel = ""
    public var method = ""
    public var lambdas: [Double] = []
    public var points: [FrontierPoint] = []
    public var frontier: [FrontierPoint] = []
    public var interrupted = false
    /// Every λ's dream, in order (not written to frontier.json: each has its own folder).
    public var dreams: [DreamResult] = []

    enum CodingKeys: String, CodingKey {
        case kind, objective, method, lambdas, points, frontier, interrupted
        case fluencyModel = "fluency_model"
    }
}

public func runFluencySweep(model: BertModel, objective: ActivationObjective, options s: FluencySweepOptions) throws -> FluencySweepResult {
    guard !s.lambdas.isEmpty, s.lambdas.allSatisfy({ $0 >= 0 && $0.isFinite }) else {
        throw DreamlabError.invalidArgument("lambdas must be a non-empty list of numbers >= 0, e.g. {0, 0.1, 1}")
    }
    let scorer = s.fluencyModel ?? model
    guard scorer.hasMLM else {
        throw DreamlabError.invalidArgument("fluency needs a model with an MLM head, and \((scorer.directory as NSString).lastPathComponent) has none; name a BERT with cls.predictions.* weights and the same vocabulary as the fluency model, e.g. bert-base-uncased")
    }
    var result = FluencySweepResult(objective: objective.description, fluencyModel: (scorer.directory as NSString).lastPathComponent,
                                    method: s.dream.method.rawValue, lambdas: s.lambdas.map(shortest))
    var seen = Set<[Int]>()
    for (n, lambda) in s.lambdas.enumerated() {
        s.onLambda?(lambda)
        var o = s.dream
        o.fluency = FluencyTerm(model: scorer, lambda: lambda)
        let r = try runDream(model: model, objective: objective, options: o)
        result.dreams.append(r)
        for run in r.runs {
            guard let b = run.best, seen.insert(b.ids).inserted else { continue }
            result.points.append(FrontierPoint(lambda: shortest(lambda), activation: finiteDouble(b.activation), pll: b.pll.flatMap(finiteDouble),
                                               score: finiteDouble(b.score), text: b.text, tokens: b.tokens, ids: b.ids,
                                               honest: survivesReencode(model, b.ids, typeIds: [])))
        }
        result.frontier = paretoFrontier(result.points.map { (x: Float($0.pll ?? -.infinity), y: Float($0.activation ?? -.infinity)) })
            .map { result.points[$0] }
        result.interrupted = r.interrupted || interruptRequested.load(ordering: .relaxed)
        if let out = s.out {
            // Each finished λ is on disk before the next starts.
            try r.save(to: out + String(format: "/lambda_%02d_%g", n, Double(lambda)))
            try writeCodable(result, to: out + "/frontier.json")
        }
        if result.interrupted { break }
    }
    return result
}
