import Engine
import Foundation

/// One element of any site: site[index] with 0-based per-sequence coordinates (e.g. [pos, unit] or [head, from, to]).
public final class SiteElement: ActivationObjective, RowLimitedObjective {
    /// The query row for attention sites, the position for the others.
    public func rowsRead(T: Int) -> [Int]? {
        switch site.kind {
        case .scores, .pattern: return index.count == 3 ? [index[1]] : nil
        case .embed, .mlmLogits: return nil
        default: return index.first.map { [$0] }
        }
    }
    /// One site: its rows are all it reads.
    public func rowsReadAtEveryLayer(T: Int) -> [Int]? { rowsRead(T: T) }

    public let site: Site
    public let index: [Int]
    public let label: String
    public init(site: Site, index: [Int], label: String? = nil) {
        self.site = site; self.index = index
        self.label = label ?? "site(\(site),\(index.map(String.init).joined(separator: ",")))"
    }
    public var sites: [Site] { [site] }
    public var description: String { label }

    public func validate(model: BertModel, T: Int) throws {
        if site.kind == .mlmLogits && !model.hasMLM {
            throw DreamlabError.invalidArgument("\(label) needs an MLM head, and this checkpoint has none; load a model with cls.predictions.* weights")
        }
        if site.kind != .embed && site.kind != .mlmLogits { try Check.layer(site.layer, model) }
        let shape = site.shape(T: T, config: model.config)
        guard index.count == shape.count else {
            throw DreamlabError.invalidArgument("\(label): site \(site) has shape \(shape) for this input and needs \(shape.count) coordinates, got \(index.count)")
        }
        for (axis, i) in index.enumerated() where i < 0 || i >= shape[axis] {
            throw DreamlabError.outOfRange("\(label): coordinate \(i) on axis \(axis) of \(site) is outside 0...\(shape[axis] - 1) (shape \(shape) for this \(T)-token input; 0-based)")
        }
    }

    func flatOffset(T: Int, config: BertConfig) -> Int {
        let shape = site.shape(T: T, config: config)
        var off = 0
        for (axis, i) in index.enumerated() { off = off * shape[axis] + i }
        return off
    }

    public func evaluate(_ acts: Activations, grads: SiteGradients?) throws -> [Float] {
        guard let (buf, per) = acts.buffer(site) else { throw DreamlabError.invalidArgument("\(label): site \(site) was not computed") }
        let off = flatOffset(T: acts.T, config: acts.config)
        return (0..<acts.B).map { b in
            if let g = grads?.buffer(site) { g.ptr[b * per + off] += 1 }
            return buf.ptr[b * per + off]
        }
    }
}

/// The L2 norm of one head's output (hook_z) at one position.
public final class HeadNorm: ActivationObjective, RowLimitedObjective {
    public func rowsRead(T: Int) -> [Int]? { [word] }
    public func rowsReadAtEveryLayer(T: Int) -> [Int]? { [word] }

    public let layer: Int, head: Int, word: Int
    public init(layer: Int, head: Int, word: Int) { self.layer = layer; self.head = head; self.word = word }
    public var sites: [Site] { [Site(.z, layer: layer)] }
    public var description: String { "head(L\(layer),h\(head),w\(word))" }
    public func validate(model: BertModel, T: Int) throws {
        try Check.layer(layer, model); try Check.head(head, model); try Check.position(word, T)
    }
    public func evaluate(_ acts: Activations, grads: SiteGradients?) throws -> [Float] {
        let c = acts.config, H = c.hiddenSize, hs = c.headDim, T = acts.T
        let site = Site(.z, layer: layer)
        let z = acts.layers[layer].z
        return (0..<acts.B).map { b in
            let base = b * T * H + word * H + head * hs
            var sq: Float = 0
            for d in 0..<hs { sq += z.ptr[base + d] * z.ptr[base + d] }
            let n = sq.squareRoot()
            if let g = grads?.buffer(site), n > 0 { for d in 0..<hs { g.ptr[base + d] += z.ptr[base + d] / n } }
            return n
        }
    }
}

/// Σ c_i · objective_i + constant, evaluated as one graph on one forward pass.
public final class LinearCombination: ActivationObjective, RowLimitedObjective {
    /// The union of the terms' rows, when every term at the deepest layer says which rows it reads.
    public func rowsRead(T: Int) -> [Int]? {
        LinearCombination.union(terms.map(\.obj).filter { $0.deepestLayer == deepestLayer }) { $0.rowsAtDeepestLayer(T: T) }
    }
    /// The union over every term, at any layer.
    public func rowsReadAtEveryLayer(T: Int) -> [Int]? {
        LinearCombination.union(terms.map(\.obj)) { $0.rowsAtEveryLayer(T: T) }
    }
    /// The union of each objective's rows, sorted; nil when one of them does not know its rows.
    private static func union(_ objectives: [ActivationObjective], _ rows: (ActivationObjective) -> [Int]?) -> [Int]? {
        var all = Set<Int>()
        for o in objectives {
            guard let r = rows(o) else { return nil }
            all.formUnion(r)
        }
        return all.sorted()
    }

    public let terms: [(coef: Float, obj: ActivationObjective)]
    public let constant: Float
    public init(_ terms: [(coef: Float, obj: ActivationObjective)], constant: Float = 0) {
        // Flatten nested sums so descriptions and evaluation stay shallow.
        var flat: [(coef: Float, obj: ActivationObjective)] = []
        var k = constant
        for t in terms {
            if let s = t.obj as? LinearCombination {
                for u in s.terms { flat.append((t.coef * u.coef, u.obj)) }
                k += t.coef * s.constant
            } else { flat.append(t) }
        }
        self.terms = flat; self.constant = k
    }
    public var sites: [Site] { Array(Set(terms.flatMap { $0.obj.sites })) }
    public var description: String {
        var s = ""
        for (i, t) in terms.enumerated() {
            let body = t.obj.description
            let mag = abs(t.coef)
            let coef = mag == 1 ? body : "\(formatCoef(mag))*\(body)"
            if i == 0 { s = t.coef < 0 ? "-" + coef : coef } else { s += t.coef < 0 ? " - " + coef : " + " + coef }
        }
        if constant != 0 { s += constant < 0 ? " - \(formatCoef(-constant))" : " + \(formatCoef(constant))" }
        return s.isEmpty ? "0" : s
    }
    public func validate(model: BertModel, T: Int) throws { for t in terms { try t.obj.validate(model: model, T: T) } }
    public func evaluate(_ acts: Activations, grads: SiteGradients?) throws -> [Float] {
        var out = [Float](repeating: constant, count: acts.B)
        for t in terms {
            let sub = grads.map { SiteGradients(B: $0.B, T: $0.T, config: $0.config) }
            let v = try t.obj.evaluate(acts, grads: sub)
            for b in 0..<acts.B { out[b] += t.coef * v[b] }
            if let grads, let sub { grads.addScaled(sub, scale: [Float](repeating: t.coef, count: acts.B)) }
        }
        return out
    }
}

/// a * b or a / b of two objectives, with the product and quotient rules.
public final class ProductObjective: ActivationObjective {
    public let a: ActivationObjective, b: ActivationObjective
    public let divide: Bool
    public init(_ a: ActivationObjective, _ b: ActivationObjective, divide: Bool) { self.a = a; self.b = b; self.divide = divide }
    public var sites: [Site] { Array(Set(a.sites + b.sites)) }
    public var description: String { "(\(a))\(divide ? "/" : "*")(\(b))" }
    public func validate(model: BertModel, T: Int) throws { try a.validate(model: model, T: T); try b.validate(model: model, T: T) }
    public func evaluate(_ acts: Activations, grads: SiteGradients?) throws -> [Float] {
        let ga = grads.map { SiteGradients(B: $0.B, T: $0.T, config: $0.config) }
        let gb = grads.map { SiteGradients(B: $0.B, T: $0.T, config: $0.config) }
        let va = try a.evaluate(acts, grads: ga), vb = try b.evaluate(acts, grads: gb)
        if let grads, let ga, let gb {
            if divide {
                grads.addScaled(ga, scale: vb.map { 1 / $0 })
                grads.addScaled(gb, scale: zip(va, vb).map { -$0 / ($1 * $1) })
            } else {
                grads.addScaled(ga, scale: vb)
                grads.addScaled(gb, scale: va)
            }
        }
        return zip(va, vb).map { divide ? $0 / $1 : $0 * $1 }
    }
}

func formatCoef(_ x: Float) -> String {
    x == x.rounded() && abs(x) < 1e6 ? String(Int(x)) : String(format: "%g", Double(x))
}

/// Lucid-style diversity across the batch (restarts): each sequence scores minus its mean cosine similarity to the
/// others at a site (the embeddings by default), so restarts are pushed apart. With one sequence it is 0.
public final class DiversityObjective: ActivationObjective {
    public let site: Site
    public init(site: Site = Site(.embed)) { self.site = site }
    public var sites: [Site] { [site] }
    public var description: String { "diversity(\(site))" }
    public func validate(model: BertModel, T: Int) throws {
        if site.kind != .embed && site.kind != .mlmLogits { try Check.layer(site.layer, model) }
    }
    public func evaluate(_ acts: Activations, grads: SiteGradients?) throws -> [Float] {
        guard let (buf, per) = acts.buffer(site) else { throw DreamlabError.invalidArgument("diversity: site \(site) was not computed") }
        let B = acts.B
        guard B > 1 else { return [0] }
        let x = (0..<B).map { UnsafeBufferPointer(start: buf.ptr + $0 * per, count: per) }
        let norms = x.map { v in v.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot() }
        var values = [Float](repeating: 0, count: B)
        let g = grads?.buffer(site)
        let k = 1 / Float(B - 1)
        for b in 0..<B {
            for o in 0..<B where o != b {
                var dot: Float = 0
                for i in 0..<per { dot += x[b][i] * x[o][i] }
                let cos = dot / (norms[b] * norms[o])
                values[b] -= k * cos
                if let g {
                    // d(-k cos)/dx_b and d(-k cos)/dx_o
                    for i in 0..<per {
                        g.ptr[b * per + i] -= k * (x[o][i] / (norms[b] * norms[o]) - cos * x[b][i] / (norms[b] * norms[b]))
                        g.ptr[o * per + i] -= k * (x[b][i] / (norms[b] * norms[o]) - cos * x[o][i] / (norms[o] * norms[o]))
                    }
                }
            }
        }
        return values
    }
}
