import Engine
import Foundation

/// An objective as plain data: what crosses between a plugin's process and the host. The host rebuilds the objective
/// from it and trusts nothing in it: every index is checked here or by the objective's `validate` before any use.
public indirect enum ObjectiveRecipe: Codable, Sendable {
    case pair(layer: Int, word: Int?, unit: Int?, normalize: Bool, numLayers: Int)
    case element(site: String, index: [Int], label: String)
    case headNorm(layer: Int, head: Int, word: Int)
    case diversity(site: String)
    case linear(coefficients: [Float], terms: [ObjectiveRecipe], constant: Float)
    case product(ObjectiveRecipe, ObjectiveRecipe, divide: Bool)
    case graph(nodes: [GraphNodeRecipe], name: String)
    case perSequence([ObjectiveRecipe])

    /// How deep objectives may nest (sums of products of ...): deeper is refused, not recursed into.
    public static let maxDepth = 64
    /// How many graph nodes, and constant numbers in all, a recipe may hold.
    public static let maxNodes = 1_000_000, maxConstants = 64 << 20

    public init(_ o: ActivationObjective, depth: Int = 0) throws {
        guard depth < Self.maxDepth else { throw DreamlabError.invalidArgument("objective nests deeper than \(Self.maxDepth) levels; build it flatter (lab.objectives.sum{...})") }
        switch o {
        case let p as PairActivation: self = .pair(layer: p.layer, word: p.word, unit: p.unit, normalize: p.normalize, numLayers: p.numLayers)
        case let e as SiteElement: self = .element(site: e.site.description, index: e.index, label: e.label)
        case let h as HeadNorm: self = .headNorm(layer: h.layer, head: h.head, word: h.word)
        case let d as DiversityObjective: self = .diversity(site: d.site.description)
        case let l as LinearCombination:
            self = .linear(coefficients: l.terms.map(\.coef), terms: try l.terms.map { try ObjectiveRecipe($0.obj, depth: depth + 1) }, constant: l.constant)
        case let p as ProductObjective: self = .product(try ObjectiveRecipe(p.a, depth: depth + 1), try ObjectiveRecipe(p.b, depth: depth + 1), divide: p.divide)
        case let g as GraphObjective: self = .graph(nodes: GraphNodeRecipe.nodes(of: g.root), name: g.name)
        case let s as PerSequenceObjective: self = .perSequence(try s.parts.map { try ObjectiveRecipe($0, depth: depth + 1) })
        default: throw DreamlabError.invalidArgument("objective \(o) cannot be written as data")
        }
    }

    /// The objective, with its site names parsed against `model` (the model it will run on).
    public func objective(for model: BertModel, depth: Int = 0) throws -> ActivationObjective {
        guard depth < Self.maxDepth else { throw DreamlabError.invalidArgument("objective nests deeper than \(Self.maxDepth) levels") }
        func site(_ name: String) throws -> Site { try Site.parse(name, config: model.config, hasMLM: model.hasMLM) }
        switch self {
        case let .pair(layer, word, unit, normalize, numLayers):
            return PairActivation(layer: layer, word: word, unit: unit, normalize: normalize, numLayers: numLayers)
        case let .element(name, index, label):
            guard index.count <= 3 else { throw DreamlabError.invalidArgument("\(label): \(index.count) coordinates; a site has at most 3") }
            return SiteElement(site: try site(name), index: index, label: String(label.prefix(200)))
        case let .headNorm(layer, head, word): return HeadNorm(layer: layer, head: head, word: word)
        case let .diversity(name): return DiversityObjective(site: try site(name))
        case let .linear(coefficients, terms, constant):
            guard coefficients.count == terms.count, !terms.isEmpty else { throw DreamlabError.invalidArgument("a sum of objectives needs one coefficient per term") }
            return LinearCombination(try zip(coefficients, terms).map { ($0, try $1.objective(for: model, depth: depth + 1)) }, constant: constant)
        case let .product(a, b, divide):
            return ProductObjective(try a.objective(for: model, depth: depth + 1), try b.objective(for: model, depth: depth + 1), divide: divide)
        case let .graph(nodes, name): return GraphObjective(try GraphNodeRecipe.root(of: nodes, model: model), name: String(name.prefix(200)))
        case let .perSequence(parts):
            guard !parts.isEmpty else { throw DreamlabError.invalidArgument("a per-sequence objective needs parts") }
            return PerSequenceObjective(try parts.map { try $0.objective(for: model, depth: depth + 1) })
        }
    }
}

/// One graph node as data: its op, the earlier nodes it reads (indices into the list) and its parameters.
public struct GraphNodeRecipe: Codable, Sendable {
    public var op: String
    public var inputs: [Int]
    public var site: String? = nil
    public var ints: [Int]? = nil
    public var data: [Float]? = nil
    public var shape: [Int]? = nil
    public var origin: String = ""

    static let arity: [String: Int] = [
        "site": 0, "constant": 0, "index": 1, "slice": 1, "add": 2, "sub": 2, "mul": 2, "div": 2, "pow": 2,
        "neg": 1, "abs": 1, "exp": 1, "log": 1, "sqrt": 1, "relu": 1, "sigmoid": 1, "tanh": 1, "softmax": 1,
        "sum": 1, "mean": 1, "max": 1, "norm": 1, "dot": 2, "entropy": 1,
    ]

    /// The graph under `root`, inputs before users, each node once.
    static func nodes(of root: GraphNode) -> [GraphNodeRecipe] {
        let order = root.topological
        var index: [ObjectIdentifier: Int] = [:]
        for (i, n) in order.enumerated() { index[ObjectIdentifier(n)] = i }
        return order.map { n in
            var r = GraphNodeRecipe(op: "", inputs: n.inputs.map { index[ObjectIdentifier($0)]! }, origin: n.origin)
            switch n.op {
            case .site(let s): r.op = "site"; r.site = s.description
            case .constant(let d, let sh): r.op = "constant"; r.data = d; r.shape = sh
            case .index(let i): r.op = "index"; r.ints = [i]
            case .slice(let a, let b): r.op = "slice"; r.ints = [a, b]
            default: r.op = String(describing: n.op)
            }
            return r
        }
    }

    /// The root (last node) of a node list, checked: known ops, inputs that point back, constants that fill their shape.
    static func root(of nodes: [GraphNodeRecipe], model: BertModel) throws -> GraphNode {
        guard !nodes.isEmpty, nodes.count <= ObjectiveRecipe.maxNodes else {
            throw DreamlabError.invalidArgument("an objective graph needs 1...\(ObjectiveRecipe.maxNodes) nodes, got \(nodes.count)")
        }
        var built: [GraphNode] = []
        var constants = 0
        for (i, r) in nodes.enumerated() {
            guard let n = arity[r.op] else { throw DreamlabError.invalidArgument("objective graph node \(i): unknown op \"\(r.op)\"") }
            guard r.inputs.count == n, r.inputs.allSatisfy({ $0 >= 0 && $0 < i }) else {
                throw DreamlabError.invalidArgument("objective graph node \(i) (\(r.op)) needs \(n) inputs among the nodes before it, got \(r.inputs)")
            }
            let ins = r.inputs.map { built[$0] }
            let op: GraphNode.Op
            switch r.op {
            case "site":
                guard let name = r.site else { throw DreamlabError.invalidArgument("objective graph node \(i): a site node needs its site") }
                op = .site(try Site.parse(name, config: model.config, hasMLM: model.hasMLM))
            case "constant":
                guard let d = r.data, let sh = r.shape, sh.count <= 8, sh.allSatisfy({ $0 >= 0 && $0 <= ObjectiveRecipe.maxConstants }) else {
                    throw DreamlabError.invalidArgument("objective graph node \(i): a constant needs data and a shape of at most 8 sizes")
                }
                var count = 1
                for s in sh { count = count.multipliedReportingOverflow(by: s).overflow ? Int.max : count * s }
                constants += d.count
                guard count == d.count, constants <= ObjectiveRecipe.maxConstants else {
                    throw DreamlabError.invalidArgument("objective graph node \(i): a constant of shape \(sh) holds \(d.count) numbers")
                }
                op = .constant(d, sh)
            case "index", "slice":
                guard let k = r.ints, k.count == (r.op == "index" ? 1 : 2) else { throw DreamlabError.invalidArgument("objective graph node \(i): \(r.op) needs its position") }
                op = r.op == "index" ? .index(k[0]) : .slice(k[0], k[1])
            default:
                let simple: [String: GraphNode.Op] = [
                    "add": .add, "sub": .sub, "mul": .mul, "div": .div, "pow": .pow, "neg": .neg, "abs": .abs, "exp": .exp,
                    "log": .log, "sqrt": .sqrt, "relu": .relu, "sigmoid": .sigmoid, "tanh": .tanh, "softmax": .softmax,
                    "sum": .sum, "mean": .mean, "max": .max, "norm": .norm, "dot": .dot, "entropy": .entropy,
                ]
                op = simple[r.op]!
            }
            built.append(GraphNode(op, ins, origin: String(r.origin.prefix(200))))
        }
        return built[built.count - 1]
    }
}

