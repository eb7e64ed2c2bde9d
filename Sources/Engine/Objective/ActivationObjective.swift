import Foundation

/// What an objective can be: it reads some sites and gives one value per sequence in the batch, and on request
/// adds d value / d site into `SiteGradients`. The concrete objectives live in the Objectives module.
public protocol ActivationObjective: AnyObject, CustomStringConvertible {
    /// Every site the objective reads. The forward runs to the deepest of them and no further.
    var sites: [Site] { get }
    /// Checks layer/position/unit ranges against the model; errors name the valid range.
    func validate(model: BertModel, T: Int) throws
    /// One value per sequence. When `grads` is given, adds each value's gradient w.r.t. the sites it reads.
    func evaluate(_ acts: Activations, grads: SiteGradients?) throws -> [Float]
    /// PAIR's layer_id, word_id, neuron_id and normalize for result files' params.
    var pairTarget: PairTarget { get }
}

extension ActivationObjective {
    public var pairTarget: PairTarget { .none }

    /// The sequence positions the objective reads in its deepest layer, when it knows them (nil: all of them).
    /// Forward-only passes then compute that layer for those rows alone.
    public func rowsAtDeepestLayer(T: Int) -> [Int]? { (self as? RowLimitedObjective)?.rowsRead(T: T) }

    /// The sequence positions the objective reads at any layer, when it knows them (nil: it may read any): the
    /// discrete method's frozen-context screen applies only to an objective that reads one position everywhere.
    public func rowsAtEveryLayer(T: Int) -> [Int]? { (self as? RowLimitedObjective)?.rowsReadAtEveryLayer(T: T) }

    /// The deepest encoder layer needed (-1: embeddings only; numLayers: the MLM head too).
    public var deepestLayer: Int { sites.map(\.layer).max() ?? -1 }
    public var needsMLM: Bool { sites.contains { $0.kind == .mlmLogits } }
}

/// Objectives that read only some positions of their deepest layer's sites say which.
public protocol RowLimitedObjective {
    func rowsRead(T: Int) -> [Int]?
    /// The positions read in every layer's sites (nil: unknown).
    func rowsReadAtEveryLayer(T: Int) -> [Int]?
}

extension RowLimitedObjective {
    public func rowsReadAtEveryLayer(T: Int) -> [Int]? { nil }
}
