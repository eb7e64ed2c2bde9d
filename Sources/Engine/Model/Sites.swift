/// Activation sites, named as in TransformerLens (see DESIGN.md). Layers are 0-based.
public enum SiteKind: String, CaseIterable, Sendable {
    case embed = "embed"
    case scores = "attn.hook_scores"
    case pattern = "attn.hook_pattern"
    case z = "attn.hook_z"
    case attnOut = "hook_attn_out"
    case residMid = "hook_resid_mid"
    case mlpPre = "mlp.hook_pre"
    case mlpPost = "mlp.hook_post"
    case mlpOut = "hook_mlp_out"
    case residPost = "hook_resid_post"
    case mlmLogits = "mlm.logits"

    public static let layerKinds: [SiteKind] = [.scores, .pattern, .z, .attnOut, .residMid, .mlpPre, .mlpPost, .mlpOut, .residPost]
}

public struct Site: Hashable, Sendable, CustomStringConvertible {
    public let kind: SiteKind
    public let layer: Int   // -1 for embed; numLayers for mlm.logits (it sits after the last layer)

    public init(_ kind: SiteKind, layer: Int = -1) { self.kind = kind; self.layer = layer }

    public var description: String {
        switch kind {
        case .embed, .mlmLogits: return kind.rawValue
        default: return "blocks.\(layer).\(kind.rawValue)"
        }
    }

    /// Every site name a model has, in forward order.
    public static func all(_ c: BertConfig, hasMLM: Bool) -> [String] {
        var names = ["embed"]
        for l in 0..<c.numLayers { for k in SiteKind.layerKinds { names.append("blocks.\(l).\(k.rawValue)") } }
        if hasMLM { names.append("mlm.logits") }
        return names
    }

    /// Parses a site name, with errors that name the valid choices.
    public static func parse(_ name: String, config c: BertConfig, hasMLM: Bool) throws -> Site {
        if name == "embed" { return Site(.embed) }
        if name == "mlm.logits" {
            guard hasMLM else { throw DreamlabError.invalidArgument("site mlm.logits needs an MLM head, and this checkpoint has none; load a model with cls.predictions.* weights (for example bert-base-uncased)") }
            return Site(.mlmLogits, layer: c.numLayers)
        }
        let valid = "valid sites: embed, blocks.L.{\(SiteKind.layerKinds.map(\.rawValue).joined(separator: ","))} with L in 0...\(c.numLayers - 1)\(hasMLM ? ", mlm.logits" : "")"
        let parts = name.split(separator: ".", maxSplits: 2).map(String.init)
        guard parts.count == 3, parts[0] == "blocks", let l = Int(parts[1]) else {
            throw DreamlabError.invalidArgument("unknown site \"\(name)\"; \(valid)")
        }
        guard let kind = SiteKind(rawValue: parts[2]), kind != .embed, kind != .mlmLogits else {
            throw DreamlabError.invalidArgument("unknown site \"\(name)\"; \(valid)")
        }
        guard l >= 0 && l < c.numLayers else {
            throw DreamlabError.outOfRange("layer \(l) in site \"\(name)\" is outside 0...\(c.numLayers - 1) (this model has \(c.numLayers) layers; layers are 0-based)")
        }
        return Site(kind, layer: l)
    }

    /// Shape of the site for one sequence of length T.
    public func shape(T: Int, config c: BertConfig) -> [Int] {
        switch kind {
        case .embed, .attnOut, .residMid, .mlpOut, .residPost: return [T, c.hiddenSize]
        case .scores, .pattern: return [c.numHeads, T, T]
        case .z: return [T, c.numHeads, c.headDim]
        case .mlpPre, .mlpPost: return [T, c.intermediateSize]
        case .mlmLogits: return [T, c.vocabSize]
        }
    }
}
