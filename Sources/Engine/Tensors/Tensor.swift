/// A dense row-major F32 tensor. Small and value-typed: the engine's hot loops work on raw buffers,
/// this is what crosses module boundaries (sites, gradients, Lua).
public struct Tensor: Sendable, Equatable {
    public var shape: [Int]
    public var data: [Float]

    public init(shape: [Int], data: [Float]) {
        precondition(shape.reduce(1, *) == data.count, "tensor shape \(shape) does not match \(data.count) values")
        self.shape = shape
        self.data = data
    }
    public init(zeros shape: [Int]) {
        self.shape = shape
        self.data = [Float](repeating: 0, count: shape.reduce(1, *))
    }

    public var count: Int { data.count }
    public var rank: Int { shape.count }

    /// Row-major strides.
    public var strides: [Int] {
        var s = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) { s[i] = acc; acc *= shape[i] }
        return s
    }

    /// Flat offset of a 0-based index, with a range error that names the axis and its valid range.
    public func offset(_ index: [Int]) throws -> Int {
        guard index.count == shape.count else {
            throw DreamlabError.invalidArgument("tensor of shape \(shape) needs \(shape.count) indices, got \(index.count)")
        }
        var off = 0
        let st = strides
        for (axis, i) in index.enumerated() {
            guard i >= 0 && i < shape[axis] else {
                throw DreamlabError.outOfRange("index \(i) on axis \(axis) is outside 0...\(shape[axis] - 1) (shape \(shape); coordinates are 0-based)")
            }
            off += i * st[axis]
        }
        return off
    }

    public func get(_ index: [Int]) throws -> Float { data[try offset(index)] }

    public static func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count)
        var m: Float = 0
        for i in 0..<a.count { m = max(m, abs(a[i] - b[i])) }
        return m
    }
}

/// Errors carry a message that names the problem and, where there is one, the fix.
public enum DreamlabError: Error, CustomStringConvertible, Equatable {
    case invalidArgument(String)
    case outOfRange(String)
    case badFile(String)
    case badConfig(String)
    case missingModel(String)

    public var description: String {
        switch self {
        case .invalidArgument(let s), .outOfRange(let s), .badFile(let s), .badConfig(let s), .missingModel(let s): return s
        }
    }
}
