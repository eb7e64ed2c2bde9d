import Engine
import Foundation

/// The named arguments of an objective factory, as any front end reads them (a Lua table, a plugin's data).
public protocol ObjectiveArguments {
    /// The factory's full name, for messages: "lab.objectives.neuron".
    var function: String { get }
    func int(_ key: String) throws -> Int?
    func number(_ key: String) throws -> Double?
    func string(_ key: String) throws -> String?
    func bool(_ key: String) throws -> Bool?
    /// A constant vector or tensor argument (a list of numbers or a Tensor): values and shape.
    func constant(_ key: String) throws -> (data: [Float], shape: [Int])?
}

extension ObjectiveArguments {
    public func required(_ key: String, _ what: String = "a 0-based integer") throws -> Int {
        guard let v = try int(key) else { throw DreamlabError.invalidArgument("\(function): missing \(key)= (\(what))") }
        return v
    }
    public func site(_ key: String, _ model: BertModel, default d: String? = nil) throws -> Site {
        guard let name = try string(key) ?? d else { throw DreamlabError.invalidArgument("\(function): missing \(key)= (a site name, e.g. \"blocks.3.mlp.hook_post\")") }
        return try Site.parse(name, config: model.config, hasMLM: model.hasMLM)
    }
}

/// One `lab.objectives.<name>` factory: the arguments it takes (besides model=) and how it builds the objective
/// for a model, checking every coordinate it can before any input exists.
public struct ObjectiveKind: Sendable {
    public let name: String
    public let arguments: [String]
    public let make: @Sendable (ObjectiveArguments, BertModel) throws -> ActivationObjective

    public init(_ name: String, arguments: [String], make: @escaping @Sendable (ObjectiveArguments, BertModel) throws -> ActivationObjective) {
        self.name = name; self.arguments = arguments; self.make = make
    }
}

/// Every built-in objective kind. A new kind is one file (the objective and its `static let kind`, beside its
/// gradient test) plus one line here; every front end picks it up.
public let objectiveKinds: [ObjectiveKind] = [
    PairActivation.neuronKind, PairActivation.layerKind, SiteElement.siteKind, SiteElement.attentionKind, HeadNorm.kind,
    GraphBuiltins.entropyKind, GraphBuiltins.directionKind, GraphBuiltins.mlmKind, GraphBuiltins.reconstructKind,
    DiversityObjective.kind,
]

// MARK: - the built-in kinds' factories, beside nothing else so the objectives' files stay about the math

extension PairActivation {
    public static let neuronKind = ObjectiveKind("neuron", arguments: ["layer", "word", "unit", "normalize"]) { a, m in
        let layer = try a.required("layer")
        try Check.layer(layer, m)
        let unit = try a.required("unit")
        guard unit >= 0 && unit < m.config.hiddenSize else {
            throw DreamlabError.outOfRange("\(a.function): unit \(unit) is outside 0...\(m.config.hiddenSize - 1) (hidden size \(m.config.hiddenSize)\(m.config.hiddenSize < 768 ? "; PAIR's bert-base neurons such as 414 do not all exist here" : ""))")
        }
        let word = try a.int("word")
        if let word { try Check.position(word, m, "\(a.function): word") }
        return PairActivation(layer: layer, word: word, unit: unit, normalize: try a.bool("normalize") ?? true, numLayers: m.config.numLayers)
    }
    public static let layerKind = ObjectiveKind("layer", arguments: ["layer", "word", "normalize"]) { a, m in
        let layer = try a.required("layer")
        try Check.layer(layer, m)
        let word = try a.int("word")
        if let word { try Check.position(word, m, "\(a.function): word") }
        return PairActivation(layer: layer, word: word, unit: nil, normalize: try a.bool("normalize") ?? true, numLayers: m.config.numLayers)
    }
}

extension SiteElement {
    public static let siteKind = ObjectiveKind("site", arguments: ["site", "pos", "unit", "head", "from", "to"]) { a, m in
        let site = try a.site("site", m)
        let index: [Int]
        switch site.kind {
        case .scores, .pattern:
            let h = try a.required("head"); try Check.head(h, m)
            index = [h, try a.required("from"), try a.required("to")]
        case .z:
            let u = try a.required("unit")
            if let h = try a.int("head") { try Check.head(h, m); try Check.unit(u, m.config.headDim); index = [try a.required("pos"), h, u] }
            else { try Check.unit(u, m.config.hiddenSize); index = [try a.required("pos"), u / m.config.headDim, u % m.config.headDim] }
        default:
            let u = try a.required("unit")
            let shape = site.shape(T: 1, config: m.config)
            if shape.count == 2 { try Check.unit(u, shape[1]) }
            index = [try a.required("pos"), u]
        }
        return SiteElement(site: site, index: index)
    }
    public static let attentionKind = ObjectiveKind("attention", arguments: ["layer", "head", "from", "to"]) { a, m in
        let layer = try a.required("layer"), head = try a.required("head")
        try Check.layer(layer, m); try Check.head(head, m)
        let from = try Check.position(try a.required("from"), m, "\(a.function): from"), to = try Check.position(try a.required("to"), m, "\(a.function): to")
        return SiteElement(site: Site(.pattern, layer: layer), index: [head, from, to], label: "attention(L\(layer),h\(head),\(from)->\(to))")
    }
}

extension HeadNorm {
    public static let kind = ObjectiveKind("head", arguments: ["layer", "head", "word"]) { a, m in
        let layer = try a.required("layer"), head = try a.required("head")
        try Check.layer(layer, m); try Check.head(head, m)
        return HeadNorm(layer: layer, head: head, word: try Check.position(try a.required("word"), m, "\(a.function): word"))
    }
}

extension DiversityObjective {
    public static let kind = ObjectiveKind("diversity", arguments: ["site"]) { a, m in DiversityObjective(site: try a.site("site", m, default: "embed")) }
}

extension GraphBuiltins {
    public static let entropyKind = ObjectiveKind("entropy", arguments: ["layer", "head", "query", "from"]) { a, m in
        let layer = try a.required("layer"), head = try a.required("head")
        try Check.layer(layer, m); try Check.head(head, m)
        guard let q = try a.int("query") ?? a.int("from") else { throw DreamlabError.invalidArgument("\(a.function): missing query= (the 0-based query position)") }
        return entropy(layer: layer, head: head, query: try Check.position(q, m, "\(a.function): query"))
    }
    public static let directionKind = ObjectiveKind("direction", arguments: ["site", "pos", "vector"]) { a, m in
        let site = try a.site("site", m)
        guard let v = try a.constant("vector") else { throw DreamlabError.invalidArgument("\(a.function): missing vector= (a list of numbers or a Tensor)") }
        let width = site.shape(T: 1, config: m.config).last ?? 0
        guard v.data.count == width else {
            throw DreamlabError.invalidArgument("\(a.function): vector has \(v.data.count) numbers, but a row of \(site) has \(width)")
        }
        return direction(site: site, pos: try Check.position(try a.required("pos"), m, "\(a.function): pos"), vector: v.data)
    }
    public static let mlmKind = ObjectiveKind("mlm", arguments: ["word", "token", "measure"]) { a, m in
        guard m.hasMLM else {
            throw DreamlabError.invalidArgument("\(a.function) needs an MLM head, and \((m.directory as NSString).lastPathComponent) has none; load one with cls.predictions.* weights, e.g. lab.load(\"bert-base-uncased\")")
        }
        let id: Int, label: String
        if let s = try a.string("token"), Int(s) == nil {
            guard let i = m.tokenizer.id(of: s) else { throw DreamlabError.invalidArgument("token \"\(s)\" is not in the vocabulary; use one token (see m:encode)") }
            id = i; label = s
        } else {
            id = try a.required("token", "a token or a token id")
            guard id >= 0 && id < m.config.vocabSize else { throw DreamlabError.outOfRange("token id \(id) is outside 0...\(m.config.vocabSize - 1)") }
            label = m.tokenizer.idToToken[id]
        }
        let measureName = try a.string("measure") ?? "logprob"
        guard let measure = MLMMeasure(rawValue: measureName) else {
            throw DreamlabError.invalidArgument("\(a.function): measure must be \(MLMMeasure.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")), got \"\(measureName)\"")
        }
        return mlm(pos: try Check.position(try a.required("word"), m, "\(a.function): word"), token: id, label: label, numLayers: m.config.numLayers, measure: measure)
    }
    public static let reconstructKind = ObjectiveKind("reconstruct", arguments: ["site", "target", "pos", "loss"]) { a, m in
        let site = try a.site("site", m)
        guard let t = try a.constant("target") else { throw DreamlabError.invalidArgument("\(a.function): missing target= (a Tensor, e.g. tr:site(...))") }
        let lossName = try a.string("loss") ?? "mse"
        guard let loss = ReconstructLoss(rawValue: lossName) else {
            throw DreamlabError.invalidArgument("\(a.function): loss must be \"mse\" (PAIR's mean squared error) or \"sse\" (sum of squares), got \"\(lossName)\"")
        }
        return reconstruct(site: site, target: Tensor(shape: t.shape, data: t.data), pos: try a.int("pos"), loss: loss)
    }
}
