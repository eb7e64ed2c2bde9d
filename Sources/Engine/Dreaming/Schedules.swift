import CKernels
import Foundation

/// Softmax temperature over the steps of a dream.
public enum TemperatureSchedule: @unchecked Sendable, CustomStringConvertible {
    case constant(Float)
    /// PAIR's: T starts at `start`; after step i > warmup, T ← max(T·rate, stop). Kept in Float, as PAIR's float32 tensor.
    case anneal(start: Float, stop: Float, rate: Float, warmup: Int)
    /// Straight line from start (step 0) to stop (step steps-1), then stop.
    case linear(start: Float, stop: Float, steps: Int)
    /// Half a cosine from start (step 0) to stop (step steps-1), then stop.
    case cosine(start: Float, stop: Float, steps: Int)
    /// Any function of the 0-based step (a Lua function, for example), called once per step.
    case custom(name: String, (Int) throws -> Float)

    public static let pairDefault = TemperatureSchedule.anneal(start: 2.0, stop: 0.1, rate: 0.9995, warmup: 200)

    public var description: String {
        switch self {
        case .constant(let t): return "constant(\(t))"
        case .anneal(let a, let b, let r, let w): return "anneal(start=\(a), stop=\(b), rate=\(r), warmup=\(w))"
        case .linear(let a, let b, let n): return "linear(start=\(a), stop=\(b), steps=\(n))"
        case .cosine(let a, let b, let n): return "cosine(start=\(a), stop=\(b), steps=\(n))"
        case .custom(let name, _): return name
        }
    }

    /// Temperatures must be positive and finite; a rate must keep them so (PAIR anneals with 0 < rate <= 1).
    public func validate() throws {
        func positive(_ name: String, _ t: Float) throws {
            guard t > 0 && t.isFinite else { throw DreamlabError.invalidArgument("temperature \(name) must be a positive number, got \(t) (\(self))") }
        }
        switch self {
        case .constant(let t): try positive("", t)
        case .anneal(let a, let b, let r, let w):
            try positive("start", a); try positive("stop", b)
            guard r > 0 && r <= 1 else { throw DreamlabError.invalidArgument("anneal rate must be in (0, 1], got \(r) (PAIR's --anneal; 0.9995 by default)") }
            guard w >= 0 else { throw DreamlabError.invalidArgument("warmup must be >= 0, got \(w)") }
        case .linear(let a, let b, let n), .cosine(let a, let b, let n):
            try positive("start", a); try positive("stop", b)
            guard n >= 1 else { throw DreamlabError.invalidArgument("schedule steps must be >= 1, got \(n)") }
        case .custom: break   // checked at every step
        }
    }

    /// Steps through the schedule: `current` is the temperature for the step about to run.
    public struct Cursor {
        let schedule: TemperatureSchedule
        public private(set) var step = 0
        public private(set) var current: Float

        public init(_ s: TemperatureSchedule) throws {
            schedule = s
            current = 0
            current = try value(at: 0)
        }

        func value(at i: Int) throws -> Float {
            switch schedule {
            case .constant(let t): return t
            case .anneal(let start, _, _, _): return i == 0 ? start : current
            case .linear(let a, let b, let n):
                let f = n <= 1 ? 1 : min(Float(i) / Float(n - 1), 1)
                return a + (b - a) * f
            case .cosine(let a, let b, let n):
                let f = n <= 1 ? 1 : min(Float(i) / Float(n - 1), 1)
                return b + (a - b) * 0.5 * (1 + cosf(Float.pi * f))
            case .custom(let name, let fn):
                let t = try fn(i)
                guard t.isFinite && t > 0 else {
                    throw DreamlabError.invalidArgument("temperature schedule \(name) gave \(t) at step \(i); temperatures must be positive numbers")
                }
                return t
            }
        }

        /// Moves past step `step` (PAIR anneals after its step i when i > warmup).
        public mutating func advance() throws {
            if case .anneal(_, let stop, let rate, let warmup) = schedule {
                if step > warmup { current = max(current * rate, stop) }
                step += 1
            } else {
                step += 1
                current = try value(at: step)
            }
        }
    }
}

extension TemperatureSchedule {
    /// The temperature of 0-based step `step`, as a dream would run it (anneal is stepped through, as PAIR does).
    public func temperature(at step: Int) throws -> Float {
        guard step >= 0 && step <= 10_000_000 else { throw DreamlabError.outOfRange("schedule step must be in 0...10000000, got \(step)") }
        var c = try Cursor(self)
        if case .anneal = self { for _ in 0..<step { try c.advance() } } else { return try c.value(at: step) }
        return c.current
    }
}

/// Adam as PyTorch implements it (betas 0.9/0.999, eps 1e-8, no weight decay), minimising.
public struct Adam {
    public let lr: Float, beta1: Float, beta2: Float, eps: Float
    var m: [Float], v: [Float]
    public private(set) var t = 0

    public init(count: Int, lr: Float, beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8) {
        self.lr = lr; self.beta1 = beta1; self.beta2 = beta2; self.eps = eps
        m = [Float](repeating: 0, count: count); v = [Float](repeating: 0, count: count)
    }

    /// Counts one step and hands its moments and bias-corrected constants (stepSize, √bc2) to `body`, for an update
    /// fused into another pass (dl_relaxed_step) that applies the same formula as `step`.
    mutating func fusedStep(_ body: (_ m: UnsafeMutablePointer<Float>, _ v: UnsafeMutablePointer<Float>, _ stepSize: Float, _ bc2Sqrt: Float) -> Void) {
        t += 1
        let bc1 = 1 - powf(beta1, Float(t)), bc2 = 1 - powf(beta2, Float(t))
        m.withUnsafeMutableBufferPointer { mp in v.withUnsafeMutableBufferPointer { vp in
            body(mp.baseAddress!, vp.baseAddress!, lr / bc1, bc2.squareRoot())
        } }
    }

    /// param -= lr · m̂ / (sqrt(v̂) + eps), with g = scale · grad the gradient of the loss (scale -1: climb grad).
    public mutating func step(_ param: inout [Float], grad: [Float], scale: Float = 1) {
        precondition(grad.count == param.count && param.count == m.count, "Adam: \(param.count) parameters, \(grad.count) gradients, \(m.count) moments")
        let (beta1, beta2, eps) = (self.beta1, self.beta2, self.eps)
        fusedStep { m, v, stepSize, bc2Sqrt in
            param.withUnsafeMutableBufferPointer { pp in grad.withUnsafeBufferPointer { gp in
                // Elementwise, so the cores split it (restarts=8 updates 2.4M logits a step).
                let (p, g) = (pp.baseAddress!, gp.baseAddress!)
                parallelHalves(pp.count, work: pp.count * 8) { i0, i1 in
                    dl_adam(p + i0, m + i0, v + i0, g + i0, i1 - i0, scale, beta1, beta2, stepSize, bc2Sqrt, eps)
                }
            } }
        }
    }
}
