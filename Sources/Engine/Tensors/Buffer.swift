/// A fixed-size F32 buffer with a stable address, so kernels take plain pointers without exclusivity
/// checks or copy-on-write. Owned by the activation caches; freed on deinit.
public final class FloatBuffer: @unchecked Sendable {
    public let ptr: UnsafeMutablePointer<Float>
    public let count: Int

    public init(count: Int) {
        self.count = count
        ptr = .allocate(capacity: max(count, 1))
        ptr.initialize(repeating: 0, count: max(count, 1))
    }
    /// Storage the caller overwrites completely before reading (activation buffers): no zeroing pass.
    public init(uninitialized count: Int) {
        self.count = count
        ptr = .allocate(capacity: max(count, 1))
    }
    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { ptr.update(from: $0.baseAddress!, count: values.count) }
    }
    deinit { ptr.deallocate() }

    public func zero() { ptr.update(repeating: 0, count: count) }
    public var array: [Float] { Array(UnsafeBufferPointer(start: ptr, count: count)) }
    public subscript(i: Int) -> Float {
        get { ptr[i] }
        set { ptr[i] = newValue }
    }
}

extension Array where Element == Float {
    /// Storage the caller overwrites completely before reading: no zeroing pass (the (R,P,V) arrays of a dream step
    /// are 10 MB at restarts=8).
    init(overwritten count: Int) {
        self.init(unsafeUninitializedCapacity: count) { _, n in n = count }
    }
}
