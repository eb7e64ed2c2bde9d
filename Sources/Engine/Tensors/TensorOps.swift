import Foundation

/// How one axis is indexed: a single position (the axis goes), every position, or an inclusive range.
public enum AxisIndex: Sendable, Equatable {
    case at(Int)
    case all
    case range(Int, Int)
}

/// Reading tensors at the prompt: indexing, slicing, reductions over an axis, top-k, broadcasting arithmetic and
/// torch's compact printing. Coordinates are 0-based; a negative one counts from the end (-1 is the last).
extension Tensor {
    func resolve(_ i: Int, axis: Int) throws -> Int {
        let n = shape[axis], j = i < 0 ? n + i : i
        guard j >= 0 && j < n else {
            throw DreamlabError.outOfRange("index \(i) on axis \(axis) is outside 0...\(n - 1) (or -\(n)...-1 from the end) for shape \(shape)")
        }
        return j
    }

    /// Normalises an axis argument (negative counts from the last axis).
    public func axis(_ a: Int) throws -> Int {
        let j = a < 0 ? rank + a : a
        guard j >= 0 && j < rank else { throw DreamlabError.outOfRange("axis \(a) does not exist for shape \(shape) (axes 0...\(rank - 1), or -1 for the last)") }
        return j
    }

    /// t[i, :, a..b] in numpy's terms: one entry per leading axis; axes not named are kept whole.
    public func index(_ spec: [AxisIndex]) throws -> Tensor {
        guard spec.count <= rank else { throw DreamlabError.invalidArgument("\(spec.count) indices for a tensor of rank \(rank) (shape \(shape))") }
        var ranges: [Range<Int>] = [], keep: [Bool] = []
        for axis in 0..<rank {
            switch axis < spec.count ? spec[axis] : .all {
            case .at(let i): let j = try resolve(i, axis: axis); ranges.append(j..<(j + 1)); keep.append(false)
            case .all: ranges.append(0..<shape[axis]); keep.append(true)
            case .range(let a, let b):
                let x = try resolve(a, axis: axis), y = try resolve(b, axis: axis)
                guard x <= y else { throw DreamlabError.invalidArgument("range {\(a), \(b)} on axis \(axis) is empty (inclusive, 0-based; from <= to)") }
                ranges.append(x..<(y + 1)); keep.append(true)
            }
        }
        let st = strides
        var out: [Float] = []
        out.reserveCapacity(ranges.reduce(1) { $0 * $1.count })
        func walk(_ axis: Int, _ off: Int) {
            if axis == rank { out.append(data[off]); return }
            for i in ranges[axis] { walk(axis + 1, off + i * st[axis]) }
        }
        walk(0, 0)
        let newShape = zip(ranges, keep).filter(\.1).map(\.0.count)
        return Tensor(shape: newShape, data: out)
    }

    /// Applies `f` to every line along `axis`, giving one value per line (the axis goes).
    func reduceLines(_ axis: Int, _ f: (UnsafeBufferPointer<Float>, Int, Int) -> Float) -> Tensor {
        let n = shape[axis], inner = shape[(axis + 1)...].reduce(1, *), outer = shape[..<axis].reduce(1, *)
        var out = [Float](repeating: 0, count: outer * inner)
        data.withUnsafeBufferPointer { p in
            for o in 0..<outer { for i in 0..<inner { out[o * inner + i] = f(UnsafeBufferPointer(rebasing: p[(o * n * inner + i)...]), n, inner) } }
        }
        var s = shape; s.remove(at: axis)
        return Tensor(shape: s, data: out)
    }

    public enum Reduction: String, CaseIterable, Sendable { case sum, mean, max, min, std, norm }

    /// A reduction over one axis (the axis goes), or over everything when `axis` is nil.
    public func reduce(_ r: Reduction, axis: Int?) throws -> Tensor {
        guard !data.isEmpty else { throw DreamlabError.invalidArgument("\(r.rawValue) of an empty tensor") }
        let flat = axis == nil
        let t = flat ? Tensor(shape: [count], data: data) : self
        let a = flat ? 0 : try self.axis(axis!)
        return t.reduceLines(a) { p, n, step in
            var acc = 0.0, mx = -Float.infinity, mn = Float.infinity, sq = 0.0
            for k in 0..<n { let v = p[k * step]; acc += Double(v); sq += Double(v) * Double(v); mx = Swift.max(mx, v); mn = Swift.min(mn, v) }
            if acc.isNaN { return .nan }   // as torch: a NaN anywhere makes every reduction NaN
            switch r {
            case .sum: return Float(acc)
            case .mean: return Float(acc / Double(n))
            case .max: return mx
            case .min: return mn
            case .norm: return Float(sq.squareRoot())
            case .std:   // torch's default: the unbiased estimate
                guard n > 1 else { return .nan }
                let mean = acc / Double(n)
                return Float(Swift.max(0, (sq - Double(n) * mean * mean) / Double(n - 1)).squareRoot())
            }
        }
    }

    /// The k largest entries along `axis` (default: the last), best first: values and their 0-based indices, both
    /// shaped as the tensor with that axis of length k.
    public func topk(_ k: Int, axis a: Int = -1, largest: Bool = true) throws -> (values: Tensor, indices: [Int]) {
        guard rank > 0 else { throw DreamlabError.invalidArgument("topk of a scalar") }
        let axis = try self.axis(a), n = shape[axis]
        guard k >= 1 && k <= n else { throw DreamlabError.outOfRange("topk(\(k)) on an axis of length \(n): k must be in 1...\(n)") }
        let inner = shape[(axis + 1)...].reduce(1, *), outer = shape[..<axis].reduce(1, *)
        var vals = [Float](repeating: 0, count: outer * k * inner), idx = [Int](repeating: 0, count: outer * k * inner)
        for o in 0..<outer {
            for i in 0..<inner {
                // A stable sort that ranks infinities as numbers and NaN last (BestK skips non-finite values).
                func key(_ j: Int) -> Float { let v = data[(o * n + j) * inner + i]; return v.isNaN ? -.infinity : (largest ? v : -v) }
                let items = Array((0..<n).sorted { a, b in
                    let (ka, kb) = (key(a), key(b))
                    if ka != kb { return ka > kb }
                    let (na, nb) = (data[(o * n + a) * inner + i].isNaN, data[(o * n + b) * inner + i].isNaN)
                    return na != nb ? !na : a < b
                }.prefix(k))
                for (r, j) in items.enumerated() {
                    vals[(o * k + r) * inner + i] = data[(o * n + j) * inner + i]
                    idx[(o * k + r) * inner + i] = j
                }
            }
        }
        var s = shape; s[axis] = k
        return (Tensor(shape: s, data: vals), idx)
    }

    /// Elementwise `f` with numpy broadcasting (trailing axes aligned; an axis of length 1 stretches).
    public static func broadcast(_ a: Tensor, _ b: Tensor, _ f: (Float, Float) -> Float) throws -> Tensor {
        let r = Swift.max(a.rank, b.rank)
        let sa = [Int](repeating: 1, count: r - a.rank) + a.shape, sb = [Int](repeating: 1, count: r - b.rank) + b.shape
        var shape: [Int] = []
        for (x, y) in zip(sa, sb) {
            guard x == y || x == 1 || y == 1 else {
                throw DreamlabError.invalidArgument("shapes \(a.shape) and \(b.shape) do not broadcast (trailing axes must match or be 1)")
            }
            shape.append(x == 1 ? y : x)   // numpy: 1 stretches to the other, even to 0
        }
        if sa == sb { return Tensor(shape: shape, data: zip(a.data, b.data).map(f)) }
        let out = Tensor(zeros: shape), st = out.strides
        let stA = Tensor(zeros: sa).strides, stB = Tensor(zeros: sb).strides
        var data = [Float](repeating: 0, count: out.count)
        for flat in 0..<out.count {
            var rem = flat, ia = 0, ib = 0
            for ax in 0..<r {
                let c = rem / st[ax]; rem -= c * st[ax]
                if sa[ax] != 1 { ia += c * stA[ax] }
                if sb[ax] != 1 { ib += c * stB[ax] }
            }
            data[flat] = f(a.data[ia], b.data[ib])
        }
        return Tensor(shape: shape, data: data)
    }

    /// A 2-D tensor's transpose.
    public func transposed() throws -> Tensor {
        if rank == 1 { return self }   // as torch's .t()
        guard rank == 2 else { throw DreamlabError.invalidArgument("transpose needs a 1-D or 2-D tensor, got shape \(shape)") }
        let (n, m) = (shape[0], shape[1])
        var out = [Float](repeating: 0, count: count)
        for i in 0..<n { for j in 0..<m { out[j * n + i] = data[i * m + j] } }
        return Tensor(shape: [m, n], data: out)
    }

    /// softmax along an axis (default: the last).
    public func softmax(axis a: Int = -1) throws -> Tensor {
        let axis = try self.axis(a), n = shape[axis]
        let inner = shape[(axis + 1)...].reduce(1, *), outer = shape[..<axis].reduce(1, *)
        var out = data
        for o in 0..<outer {
            for i in 0..<inner {
                var mx = -Float.infinity
                for j in 0..<n { mx = Swift.max(mx, data[(o * n + j) * inner + i]) }
                var s: Float = 0
                for j in 0..<n { let e = expf(data[(o * n + j) * inner + i] - mx); out[(o * n + j) * inner + i] = e; s += e }
                for j in 0..<n { out[(o * n + j) * inner + i] /= s }
            }
        }
        return Tensor(shape: shape, data: out)
    }
}

// MARK: - printing as torch does: one shared format, aligned columns, elided middles

extension Tensor: CustomStringConvertible {
    /// torch's rule: above 1000 elements, show the first and last 3 of every axis.
    public var description: String { formatted(edgeItems: 3, threshold: 1000) }

    public func formatted(edgeItems: Int, threshold: Int) -> String {
        let summarize = count > threshold
        let finite = data.filter(\.isFinite)
        let allIntegers = finite.allSatisfy { $0 == $0.rounded() && abs($0) < 1e9 }
        let maxAbs = finite.map { abs($0) }.max() ?? 0
        let minAbs = finite.filter { $0 != 0 }.map { abs($0) }.min() ?? 0
        // Fixed point unless the values are all tiny or huge (torch goes scientific for any tiny entry, which makes
        // an attention pattern or a residual row hard to read).
        let scientific = !allIntegers && maxAbs > 0 && (maxAbs >= 1e5 || maxAbs < 1e-3)
        _ = minAbs
        func fmt(_ v: Float) -> String {
            if v.isNaN { return "nan" }
            if v.isInfinite { return v > 0 ? "inf" : "-inf" }
            if allIntegers { return String(format: "%.0f", Double(v)) + "." }
            return String(format: scientific ? "%.4e" : "%.4f", Double(v))
        }
        let width = shownValues(edgeItems, summarize: summarize).map { fmt($0).count }.max() ?? 1
        func cell(_ v: Float) -> String { let s = fmt(v); return String(repeating: " ", count: Swift.max(0, width - s.count)) + s }
        let st = strides
        func render(_ axis: Int, _ off: Int, _ indent: Int) -> String {
            if rank == 0 { return cell(data[0]) }
            let n = shape[axis]
            let elide = n > 2 * edgeItems && (summarize || (axis == rank - 1 && n > 12))
            let shown: [Int?] = elide ? Array(0..<edgeItems) + [nil] + Array((n - edgeItems)..<n) : Array(0..<n)
            if axis == rank - 1 {
                return "[" + shown.map { $0.map { cell(data[off + $0]) } ?? "..." }.joined(separator: ", ") + "]"
            }
            let sep = ",\n" + String(repeating: "\n", count: rank - axis - 2) + String(repeating: " ", count: indent + 1)
            return "[" + shown.map { $0.map { render(axis + 1, off + $0 * st[axis], indent + 1) } ?? "..." }.joined(separator: sep) + "]"
        }
        let body = render(0, 0, "tensor(".count)
        return "tensor(" + body + (rank == 0 ? ")" : ", shape=\(shape.map(String.init).joined(separator: "x")))")
    }

    /// The values a summarised print shows (for the column width).
    func shownValues(_ edge: Int, summarize: Bool) -> [Float] {
        guard rank > 0 else { return data }
        var out: [Float] = []
        let st = strides
        func walk(_ axis: Int, _ off: Int) {
            if axis == rank { out.append(data[off]); return }
            let n = shape[axis]
            let idx = n > 2 * edge && (summarize || (axis == rank - 1 && n > 12)) ? Array(0..<edge) + Array((n - edge)..<n) : Array(0..<n)
            for i in idx { walk(axis + 1, off + i * st[axis]) }
        }
        walk(0, 0)
        return out
    }
}
