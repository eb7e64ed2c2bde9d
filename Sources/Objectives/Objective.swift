import Engine
import Foundation

/// Shared range checks whose errors name the valid range.
enum Check {
    static func layer(_ l: Int, _ m: BertModel) throws {
        guard l >= 0 && l < m.config.numLayers else {
            throw DreamlabError.outOfRange("layer \(l) is outside 0...\(m.config.numLayers - 1) (this model has \(m.config.numLayers) layers; layers are 0-based)")
        }
    }
    static func position(_ p: Int, _ T: Int, _ what: String = "word") throws {
        guard p >= 0 && p < T else {
            throw DreamlabError.outOfRange("\(what) \(p) is outside 0...\(T - 1) for this \(T)-token input (0-based; position 0 is [CLS])")
        }
    }
    /// A position checked when the objective is built, before any input exists: inside the model's positions.
    @discardableResult
    static func position(_ p: Int, _ m: BertModel, _ what: String) throws -> Int {
        guard p >= 0 && p < m.config.maxPositions else {
            throw DreamlabError.outOfRange("\(what) \(p) is outside 0...\(m.config.maxPositions - 1) (0-based; it must also fall inside the input: position 0 is [CLS])")
        }
        return p
    }
    static func unit(_ u: Int, _ n: Int, _ what: String = "unit") throws {
        guard u >= 0 && u < n else {
            throw DreamlabError.outOfRange("\(what) \(u) is outside 0...\(n - 1) (this site has \(n) units)")
        }
    }
    static func head(_ h: Int, _ m: BertModel) throws {
        guard h >= 0 && h < m.config.numHeads else {
            throw DreamlabError.outOfRange("head \(h) is outside 0...\(m.config.numHeads - 1) (this model has \(m.config.numHeads) heads)")
        }
    }
}

/// PAIR's activation (text-dream's activation_helper.get_activation), over the encoder layers' outputs
/// h[l] = blocks.l.hook_resid_post:
/// - word and unit given: h[L][word][unit], divided by ‖h[·][word][·]‖ (all layers at that word) when normalized
/// - unit nil: the mean over units of h[L][word]
/// - word nil: the mean over words; the norm then runs over every layer, word and unit
public final class PairActivation: ActivationObjective, RowLimitedObjective {
    public func rowsRead(T: Int) -> [Int]? { word.map { [$0] } }
    /// Normalised or not, only the word's row of each layer.
    public func rowsReadAtEveryLayer(T: Int) -> [Int]? { word.map { [$0] } }

    public let layer: Int
    public let word: Int?
    public let unit: Int?
    public let normalize: Bool
    public let numLayers: Int

    public init(layer: Int, word: Int?, unit: Int?, normalize: Bool, numLayers: Int) {
        self.layer = layer; self.word = word; self.unit = unit; self.normalize = normalize; self.numLayers = numLayers
    }

    public var pairTarget: PairTarget { PairTarget(layer: layer, word: word ?? -1, neuron: unit ?? -1, normalize: normalize) }

    public var sites: [Site] {
        normalize ? (0..<numLayers).map { Site(.residPost, layer: $0) } : [Site(.residPost, layer: layer)]
    }

    public var description: String {
        var parts = ["L\(layer)"]
        if let word { parts.append("w\(word)") }
        if let unit { parts.append("u\(unit)") }
        let name = unit == nil ? "layer" : "neuron"
        return "\(name)(\(parts.joined(separator: ","))\(normalize ? "" : ",raw"))"
    }

    public func validate(model: BertModel, T: Int) throws {
        try Check.layer(layer, model)
        if let word { try Check.position(word, T) }
        if let unit { try Check.unit(unit, model.config.hiddenSize) }
        guard !normalize || numLayers == model.config.numLayers else {
            throw DreamlabError.invalidArgument("\(description) normalises over \(numLayers) layers, but this model has \(model.config.numLayers); make the objective for this model (model=m)")
        }
    }

    public func evaluate(_ acts: Activations, grads: SiteGradients?) throws -> [Float] {
        let T = acts.T, H = acts.config.hiddenSize
        let layers = normalize ? Array(0..<numLayers) : [layer]
        var values = [Float](repeating: 0, count: acts.B)
        let words = word.map { [$0] } ?? Array(0..<T)
        let units = unit.map { [$0] } ?? Array(0..<H)
        let scale = 1 / Float(words.count * units.count)
        for b in 0..<acts.B {
            func h(_ l: Int) -> UnsafeMutablePointer<Float> { acts.layers[l].residPost.ptr + b * T * H }
            var a: Float = 0
            for w in words { for u in units { a += h(layer)[w * H + u] } }
            a *= scale
            guard normalize else {
                values[b] = a
                if let grads {
                    let g = grads.buffer(Site(.residPost, layer: layer)).ptr + b * T * H
                    for w in words { for u in units { g[w * H + u] += scale } }
                }
                continue
            }
            var sq: Float = 0
            for l in layers { for w in words { for u in 0..<H { let v = h(l)[w * H + u]; sq += v * v } } }
            let n = sq.squareRoot()
            values[b] = a / n
            if let grads {
                // d(a/n) = da/n - a/n^3 * h over the norm's region
                let k = -a / (n * n * n)
                for l in layers {
                    let g = grads.buffer(Site(.residPost, layer: l)).ptr + b * T * H
                    for w in words { for u in 0..<H { g[w * H + u] += k * h(l)[w * H + u] } }
                    if l == layer { for w in words { for u in units { g[w * H + u] += scale / n } } }
                }
            }
        }
        return values
    }
}
