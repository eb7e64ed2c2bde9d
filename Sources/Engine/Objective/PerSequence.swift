
import Foundation

/// A different objective for each sequence of the batch: how a sweep runs many units in one shared pass.
public final class PerSequenceObjective: ActivationObjective {
    public let parts: [ActivationObjective]
    public init(_ parts: [ActivationObjective]) { self.parts = parts }
    public var sites: [Site] { Array(Set(parts.flatMap(\.sites))) }
    public var description: String { "per-sequence[\(parts.map(\.description).joined(separator: ", "))]" }
    public func validate(model: BertModel, T: Int) throws { for p in parts { try p.validate(model: model, T: T) } }
    public func evaluate(_ acts: Activations, grads: SiteGradients?) throws -> [Float] {
        guard acts.B == parts.count else {
            throw DreamlabError.invalidArgument("per-sequence objective has \(parts.count) parts for a batch of \(acts.B)")
        }
        var out = [Float](repeating: 0, count: acts.B)
        for (k, p) in parts.enumerated() {
            let sub = grads.map { SiteGradients(B: $0.B, T: $0.T, config: $0.config) }
            out[k] = try p.evaluate(acts, grads: sub)[k]
            if let grads, let sub {
                var scale = [Float](repeating: 0, count: acts.B)
                scale[k] = 1
                grads.addScaled(sub, scale: scale)
            }
        }
        return out
    }
}
