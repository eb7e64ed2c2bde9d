import Engine
import Foundation

/// A small differentiable expression graph over activation sites. Lua objectives are traced into it once;
/// each step then evaluates it natively, forward then reverse-mode, for every sequence in the batch.
public final class GraphNode: @unchecked Sendable, CustomStringConvertible {
    public enum Op: Sendable {
        case site(Site)
        case constant([Float], [Int])           // data, shape ([] for a scalar)
        case index(Int)                         // first axis, 0-based; drops that axis
        case slice(Int, Int)                    // first axis, inclusive
        case add, sub, mul, div, pow
        case neg, abs, exp, log, sqrt, relu, sigmoid, tanh
        case softmax                            // over the last axis
        case sum, mean, max, norm, dot, entropy // to a scalar; entropy is -Σ p log p over p > 0
    }
    public let op: Op
    public private(set) var inputs: [GraphNode]
    /// Where the node was made (a Lua source line), for errors.
    public let origin: String

    public init(_ op: Op, _ inputs: [GraphNode] = [], origin: String = "") {
        self.op = op; self.inputs = inputs; self.origin = origin
    }
    public static func scalar(_ x: Float, origin: String = "") -> GraphNode { GraphNode(.constant([x], []), origin: origin) }

    public var description: String { describe(depth: 0) }

    /// Deep graphs (a traced loop) print their top levels and elide the rest, rather than recursing a million times.
    func describe(depth: Int) -> String {
        guard depth < 24 else { return "…" }
        func x(_ i: Int) -> String { inputs[i].describe(depth: depth + 1) }
        switch op {
        case .site(let s): return "a[\"\(s)\"]"
        case .constant(let d, let sh): return sh.isEmpty ? formatCoef(d[0]) : "const\(sh)"
        case .index(let i): return "\(x(0))[\(i)]"
        case .slice(let a, let b): return "\(x(0)):slice(\(a),\(b))"
        case .add: return "(\(x(0)) + \(x(1)))"
        case .sub: return "(\(x(0)) - \(x(1)))"
        case .mul: return "\(x(0))*\(x(1))"
        case .div: return "\(x(0))/\(x(1))"
        case .pow: return "\(x(0))^\(x(1))"
        case .neg: return "-\(x(0))"
        case .dot: return "\(x(0)):dot(\(x(1)))"
        default: return "\(x(0)):\(String(describing: op))()"
        }
    }

    /// Releases a long chain of nodes one by one: the default release would recurse once per node and overflow the
    /// stack for a traced loop of a few hundred thousand steps.
    deinit {
        var pending = inputs
        inputs = []
        while var n = pending.popLast() {
            if isKnownUniquelyReferenced(&n) {
                pending.append(contentsOf: n.inputs)
                n.inputs = []
            }
        }
    }

    /// Every site the graph reads.
    public var sites: Set<Site> {
        var out = Set<Site>()
        for n in topological { if case .site(let s) = n.op { out.insert(s) } }
        return out
    }

    /// Nodes in evaluation order (inputs before users), each once. Iterative: a traced loop can chain a million nodes.
    var topological: [GraphNode] {
        var order: [GraphNode] = []
        var seen = Set<ObjectIdentifier>()
        var stack: [(node: GraphNode, next: Int)] = [(self, 0)]
        seen.insert(ObjectIdentifier(self))
        while let top = stack.last {
            if top.next < top.node.inputs.count {
                stack[stack.count - 1].next += 1
                let child = top.node.inputs[top.next]
                if seen.insert(ObjectIdentifier(child)).inserted { stack.append((child, 0)) }
            } else {
                order.append(top.node)
                stack.removeLast()
            }
        }
        return order
    }
}

/// A value flowing through the graph: a dense tensor, [] shape for scalars.
struct GValue {
    var shape: [Int]
    var data: [Float]
    var isScalar: Bool { shape.isEmpty }
    var rowSize: Int { shape.dropFirst().reduce(1, *) }
}

/// Thrown for a graph that does not fit the model or input; names the Lua line.
func graphError(_ n: GraphNode, _ msg: String) -> DreamlabError {
    .invalidArgument(n.origin.isEmpty ? msg : (n.origin.hasSuffix(" ") ? n.origin : n.origin + " ") + msg)
}

/// Result shapes, checked once per input length, so a bad index or a shape mismatch is reported before any step.
func inferShapes(_ root: GraphNode, T: Int, model: BertModel) throws -> [ObjectIdentifier: [Int]] {
    var shapes: [ObjectIdentifier: [Int]] = [:]
    let c = model.config
    for n in root.topological {
        let ins = n.inputs.map { shapes[ObjectIdentifier($0)]! }
        let s: [Int]
        switch n.op {
        case .site(let site):
            if site.kind == .mlmLogits && !model.hasMLM {
                throw graphError(n, "site mlm.logits needs an MLM head, and this checkpoint has none")
            }
            if site.kind != .embed && site.kind != .mlmLogits && !(0..<c.numLayers).contains(site.layer) {
                throw graphError(n, "site \(site): layer \(site.layer) is outside 0...\(c.numLayers - 1)")
            }
            s = site.shape(T: T, config: c)
        case .constant(_, let sh): s = sh
        case .index(let i):
            guard let first = ins[0].first else { throw graphError(n, "cannot index a scalar (\(n.inputs[0]))") }
            guard i >= 0 && i < first else {
                throw graphError(n, "index \(i) is outside 0...\(first - 1) on the first axis of \(n.inputs[0]) (shape \(ins[0]); 0-based)")
            }
            s = Array(ins[0].dropFirst())
        case .slice(let a, let b):
            guard let first = ins[0].first else { throw graphError(n, "cannot slice a scalar") }
            guard a >= 0, b < first, a <= b else {
                throw graphError(n, "slice(\(a), \(b)) must satisfy 0 <= from <= to <= \(first - 1) (shape \(ins[0]); inclusive, 0-based)")
            }
            s = [b - a + 1] + ins[0].dropFirst()
        case .add, .sub, .mul, .div, .pow:
            if ins[0].isEmpty { s = ins[1] } else if ins[1].isEmpty || ins[0] == ins[1] { s = ins[0] } else {
                throw graphError(n, "shapes \(ins[0]) and \(ins[1]) do not match for \(n) (only equal shapes or a scalar combine)")
            }
        case .neg, .abs, .exp, .log, .sqrt, .relu, .sigmoid, .tanh, .softmax: s = ins[0]
        case .sum, .mean, .max, .norm, .entropy: s = []
        case .dot:
            guard ins[0] == ins[1] else { throw graphError(n, "dot needs equal shapes, got \(ins[0]) and \(ins[1])") }
            s = []
        }
        shapes[ObjectIdentifier(n)] = s
    }
    guard shapes[ObjectIdentifier(root)] == [] else {
        throw graphError(root, "an objective must be a scalar, but this one has shape \(shapes[ObjectIdentifier(root)]!); reduce it with :sum(), :mean(), :max() or an index")
    }
    return shapes
}

/// Forward values, then (when `grads` is given) reverse-mode gradients into the site buffers, sequence by sequence.
/// A site read only through `[i]` is never copied whole: the index reads its row from the activations, and its
/// gradient goes straight into the site's gradient buffer.
func evaluateGraph(_ root: GraphNode, _ acts: Activations, grads: SiteGradients?) throws -> [Float] {
    let order = root.topological
    // Site nodes that some consumer needs whole.
    var materialise = Set<ObjectIdentifier>()
    for n in order {
        if case .index = n.op { continue }
        for i in n.inputs { if case .site = i.op { materialise.insert(ObjectIdentifier(i)) } }
    }
    if case .site = root.op { materialise.insert(ObjectIdentifier(root)) }
    func rowOfSite(_ n: GraphNode) -> (Site, Int)? {   // (site, row) for index-over-site nodes
        guard case .index(let i) = n.op, case .site(let s) = n.inputs[0].op else { return nil }
        return (s, i)
    }
    var out = [Float](repeating: 0, count: acts.B)
    for b in 0..<acts.B {
        var vals: [ObjectIdentifier: GValue] = [:]
        for n in order {
            if case .site(let site) = n.op, !materialise.contains(ObjectIdentifier(n)) {
                vals[ObjectIdentifier(n)] = GValue(shape: site.shape(T: acts.T, config: acts.config), data: [])
                continue
            }
            if let (site, i) = rowOfSite(n) {
                guard let (buf, per) = acts.buffer(site) else { throw graphError(n, "site \(site) was not computed") }
                let shape = site.shape(T: acts.T, config: acts.config)
                let r = shape.dropFirst().reduce(1, *)
                vals[ObjectIdentifier(n)] = GValue(shape: Array(shape.dropFirst()), data: Array(UnsafeBufferPointer(start: buf.ptr + b * per + i * r, count: r)))
                continue
            }
            let x = n.inputs.map { vals[ObjectIdentifier($0)]! }
            vals[ObjectIdentifier(n)] = try forwardNode(n, x, acts, b)
        }
        let rootVal = vals[ObjectIdentifier(root)]!
        out[b] = rootVal.data[0]
        guard let grads else { continue }
        var g: [ObjectIdentifier: [Float]] = [ObjectIdentifier(root): [1]]
        for n in order.reversed() {
            guard let dy = g[ObjectIdentifier(n)] else { continue }
            if case .site(let site) = n.op {
                let buf = grads.buffer(site), per = grads.perSequence(site)
                let base = buf.ptr + b * per
                for i in 0..<per { base[i] += dy[i] }
                continue
            }
            if let (site, i) = rowOfSite(n) {
                let buf = grads.buffer(site), per = grads.perSequence(site)
                let base = buf.ptr + b * per + i * dy.count
                for j in 0..<dy.count { base[j] += dy[j] }
                continue
            }
            let x = n.inputs.map { vals[ObjectIdentifier($0)]! }
            let y = vals[ObjectIdentifier(n)]!
            let dx = backwardNode(n, x, y, dy)
            for (inp, d) in zip(n.inputs, dx) {
                guard let d else { continue }
                let id = ObjectIdentifier(inp)
                if var acc = g[id] { for i in 0..<acc.count { acc[i] += d[i] }; g[id] = acc } else { g[id] = d }
            }
        }
    }
    return out
}

@inline(__always) func broadcast(_ a: GValue, _ b: GValue, _ f: (Float, Float) -> Float) -> GValue {
    if a.isScalar && !b.isScalar { return GValue(shape: b.shape, data: b.data.map { f(a.data[0], $0) }) }
    if b.isScalar && !a.isScalar { return GValue(shape: a.shape, data: a.data.map { f($0, b.data[0]) }) }
    return GValue(shape: a.shape, data: zip(a.data, b.data).map(f))
}

func forwardNode(_ n: GraphNode, _ x: [GValue], _ acts: Activations, _ b: Int) throws -> GValue {
    switch n.op {
    case .site(let site):
        guard let (buf, per) = acts.buffer(site) else { throw graphError(n, "site \(site) was not computed") }
        return GValue(shape: site.shape(T: acts.T, config: acts.config), data: Array(UnsafeBufferPointer(start: buf.ptr + b * per, count: per)))
    case .constant(let d, let sh): return GValue(shape: sh, data: d)
    case .index(let i):
        let r = x[0].rowSize
        return GValue(shape: Array(x[0].shape.dropFirst()), data: Array(x[0].data[(i * r)..<((i + 1) * r)]))
    case .slice(let a, let e):
        let r = x[0].rowSize
        return GValue(shape: [e - a + 1] + x[0].shape.dropFirst(), data: Array(x[0].data[(a * r)..<((e + 1) * r)]))
    case .add: return broadcast(x[0], x[1], +)
    case .sub: return broadcast(x[0], x[1], -)
    case .mul: return broadcast(x[0], x[1], *)
    case .div: return broadcast(x[0], x[1], /)
    case .pow: return broadcast(x[0], x[1]) { powf($0, $1) }
    case .neg: return GValue(shape: x[0].shape, data: x[0].data.map { -$0 })
    case .abs: return GValue(shape: x[0].shape, data: x[0].data.map { Swift.abs($0) })
    case .exp: return GValue(shape: x[0].shape, data: x[0].data.map { expf($0) })
    case .log: return GValue(shape: x[0].shape, data: x[0].data.map { logf($0) })
    case .sqrt: return GValue(shape: x[0].shape, data: x[0].data.map { $0.squareRoot() })
    case .relu: return GValue(shape: x[0].shape, data: x[0].data.map { Swift.max($0, 0) })
    case .sigmoid: return GValue(shape: x[0].shape, data: x[0].data.map { 1 / (1 + expf(-$0)) })
    case .tanh: return GValue(shape: x[0].shape, data: x[0].data.map { tanhf($0) })
    case .softmax:
        let L = x[0].shape.last ?? 1
        var d = x[0].data
        for r in stride(from: 0, to: d.count, by: L) {
            var m = -Float.infinity
            for j in r..<(r + L) { m = Swift.max(m, d[j]) }
            var s: Float = 0
            for j in r..<(r + L) { d[j] = expf(d[j] - m); s += d[j] }
            for j in r..<(r + L) { d[j] /= s }
        }
        return GValue(shape: x[0].shape, data: d)
    case .sum: return GValue(shape: [], data: [x[0].data.reduce(0, +)])
    case .mean: return GValue(shape: [], data: [x[0].data.reduce(0, +) / Float(x[0].data.count)])
    case .max: return GValue(shape: [], data: [x[0].data.max() ?? 0])
    case .norm: return GValue(shape: [], data: [x[0].data.reduce(0) { $0 + $1 * $1 }.squareRoot()])
    case .dot: return GValue(shape: [], data: [zip(x[0].data, x[1].data).reduce(0) { $0 + $1.0 * $1.1 }])
    case .entropy: return GValue(shape: [], data: [-x[0].data.reduce(0) { $0 + ($1 > 0 ? $1 * logf($1) : 0) }])
    }
}

/// Gradients w.r.t. each input (nil: none, e.g. constants' indices), given dy.
func backwardNode(_ n: GraphNode, _ x: [GValue], _ y: GValue, _ dy: [Float]) -> [[Float]?] {
    func unary(_ f: (Int) -> Float) -> [[Float]?] { [(0..<dy.count).map { dy[$0] * f($0) }] }
    /// Sums a full-shape gradient down to a scalar input when that input was broadcast.
    func reduce(_ g: [Float], to v: GValue) -> [Float] { v.isScalar && g.count != 1 ? [g.reduce(0, +)] : g }
    func at(_ v: GValue, _ i: Int) -> Float { v.isScalar ? v.data[0] : v.data[i] }
    switch n.op {
    case .site, .constant: return []
    case .index(let i):
        var d = [Float](repeating: 0, count: x[0].data.count)
        let r = x[0].rowSize
        for j in 0..<r { d[i * r + j] = dy[j] }
        return [d]
    case .slice(let a, _):
        var d = [Float](repeating: 0, count: x[0].data.count)
        let r = x[0].rowSize
        for j in 0..<dy.count { d[a * r + j] = dy[j] }
        return [d]
    case .add: return [reduce(dy, to: x[0]), reduce(dy, to: x[1])]
    case .sub: return [reduce(dy, to: x[0]), reduce(dy.map { -$0 }, to: x[1])]
    case .mul:
        return [reduce((0..<dy.count).map { dy[$0] * at(x[1], $0) }, to: x[0]),
                reduce((0..<dy.count).map { dy[$0] * at(x[0], $0) }, to: x[1])]
    case .div:
        return [reduce((0..<dy.count).map { dy[$0] / at(x[1], $0) }, to: x[0]),
                reduce((0..<dy.count).map { -dy[$0] * at(x[0], $0) / (at(x[1], $0) * at(x[1], $0)) }, to: x[1])]
    case .pow:
        let da = (0..<dy.count).map { i -> Float in
            let a = at(x[0], i), k = at(x[1], i)
            return k == 0 ? 0 : dy[i] * k * powf(a, k - 1)
        }
        var inputs: [[Float]?] = [reduce(da, to: x[0])]
        if case .constant = n.inputs[1].op { inputs.append(nil) } else {
            inputs.append(reduce((0..<dy.count).map { i in
                let a = at(x[0], i)
                return a > 0 ? dy[i] * at(y, i) * logf(a) : 0
            }, to: x[1]))
        }
        return inputs
    case .neg: return [dy.map { -$0 }]
    case .abs: return unary { x[0].data[$0] > 0 ? 1 : (x[0].data[$0] < 0 ? -1 : 0) }
    case .exp: return unary { y.data[$0] }
    case .log: return unary { 1 / x[0].data[$0] }
    case .sqrt: return unary { y.data[$0] > 0 ? 0.5 / y.data[$0] : 0 }
    case .relu: return unary { x[0].data[$0] > 0 ? 1 : 0 }
    case .sigmoid: return unary { y.data[$0] * (1 - y.data[$0]) }
    case .tanh: return unary { 1 - y.data[$0] * y.data[$0] }
    case .softmax:
        let L = y.shape.last ?? 1
        var d = [Float](repeating: 0, count: dy.count)
        for r in stride(from: 0, to: d.count, by: L) {
            var dot: Float = 0
            for j in r..<(r + L) { dot += y.data[j] * dy[j] }
            for j in r..<(r + L) { d[j] = y.data[j] * (dy[j] - dot) }
        }
        return [d]
    case .sum: return [[Float](repeating: dy[0], count: x[0].data.count)]
    case .mean: return [[Float](repeating: dy[0] / Float(x[0].data.count), count: x[0].data.count)]
    case .max:
        var d = [Float](repeating: 0, count: x[0].data.count)
        if let i = x[0].data.indices.max(by: { x[0].data[$0] < x[0].data[$1] }) { d[i] = dy[0] }
        return [d]
    case .norm:
        let nrm = y.data[0]
        return [x[0].data.map { nrm > 0 ? dy[0] * $0 / nrm : 0 }]
    case .dot: return [x[1].data.map { dy[0] * $0 }, x[0].data.map { dy[0] * $0 }]
    case .entropy: return [x[0].data.map { $0 > 0 ? -dy[0] * (logf($0) + 1) : 0 }]
    }
}

/// An objective defined by a graph: custom Lua objectives, and the built-ins that are easiest to state as one.
public final class GraphObjective: ActivationObjective {
    public let root: GraphNode
    public let name: String
    public init(_ root: GraphNode, name: String) { self.root = root; self.name = name }
    public var sites: [Site] { Array(root.sites) }
    public var description: String { name }
    public func validate(model: BertModel, T: Int) throws { _ = try inferShapes(root, T: T, model: model) }
    public func evaluate(_ acts: Activations, grads: SiteGradients?) throws -> [Float] { try evaluateGraph(root, acts, grads: grads) }
}

/// Built-ins stated as graphs, so that one set of tested gradient rules serves them all.
public enum GraphBuiltins {
    /// Attention entropy of one head at one query: -Σ_k p log p (maximise it, or minimise it with a minus sign).
    public static func entropy(layer: Int, head: Int, query: Int) -> GraphObjective {
        let p = GraphNode(.index(query), [GraphNode(.index(head), [GraphNode(.site(Site(.pattern, layer: layer)))])])
        return GraphObjective(GraphNode(.entropy, [p]), name: "entropy(L\(layer),h\(head),q\(query))")
    }
    /// Dot product of one site row with a direction vector.
    public static func direction(site: Site, pos: Int, vector: [Float]) -> GraphObjective {
        let row = GraphNode(.index(pos), [GraphNode(.site(site))])
        return GraphObjective(GraphNode(.dot, [row, GraphNode(.constant(vector, [vector.count]))]), name: "direction(\(site),\(pos))")
    }
    /// log p(token | position) from the MLM head: logits[pos][tok] - log Σ exp(logits[pos]).
    /// What lab.objectives.mlm measures of the token at the masked position.
    public enum MLMMeasure: String, CaseIterable, Sendable { case logprob, probability, logit }

    /// The MLM head's score of `token` at `pos`: its log-probability (default), probability (PAIR's dream_mlm with
    /// --normalize) or raw logit.
    public static func mlm(pos: Int, token: Int, label: String, numLayers: Int, measure: MLMMeasure = .logprob) -> GraphObjective {
        let row = GraphNode(.index(pos), [GraphNode(.site(Site(.mlmLogits, layer: numLayers)))])
        let node: GraphNode
        switch measure {
        case .logprob: node = GraphNode(.log, [GraphNode(.index(token), [GraphNode(.softmax, [row])])])
        case .probability: node = GraphNode(.index(token), [GraphNode(.softmax, [row])])
        case .logit: node = GraphNode(.index(token), [row])
        }
        return GraphObjective(node, name: "mlm(w\(pos),\(label)\(measure == .logprob ? "" : "," + measure.rawValue))")
    }

    /// How reconstruct scores the distance to its target: PAIR's mean squared error, or the sum of squares.
    public enum ReconstructLoss: String, CaseIterable, Sendable { case mse, sse }

    /// -loss(site, target): PAIR's reconstruct_activation minimises F.mse_loss (the mean over elements); its target may
    /// be shifted or edited. The objective is the negated loss, since dreams maximise.
    public static func reconstruct(site: Site, target: Tensor, pos: Int? = nil, loss: ReconstructLoss = .mse) -> GraphObjective {
        var x = GraphNode(.site(site))
        if let pos { x = GraphNode(.index(pos), [x]) }
        let diff = GraphNode(.sub, [x, GraphNode(.constant(target.data, target.shape))])
        let sq = GraphNode(loss == .mse ? .mean : .sum, [GraphNode(.pow, [diff, GraphNode.scalar(2)])])
        return GraphObjective(GraphNode(.neg, [sq]), name: "reconstruct(\(site)\(pos.map { ",\($0)" } ?? "")\(loss == .mse ? "" : ",sse"))")
    }
}
