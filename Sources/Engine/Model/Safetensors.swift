import Foundation

/// A safetensors file, validated against the format's own rules before any tensor is read:
/// 8-byte little-endian header length (at most 100 MB), a JSON object header, `__metadata__` of strings only,
/// byte sizes equal to dtype size × shape (overflow-checked), offsets contiguous, non-overlapping and covering
/// the whole data buffer. Every error names the file and, where there is one, the tensor.
public struct SafetensorsFile: Sendable {
    public enum DType: String, Sendable, CaseIterable {
        case F64, F32, F16, BF16, I64, I32, I16, I8, U8, U16, U32, U64, BOOL
        case F8_E4M3, F8_E5M2

        public var byteSize: Int {
            switch self {
            case .F64, .I64, .U64: return 8
            case .F32, .I32, .U32: return 4
            case .F16, .BF16, .I16, .U16: return 2
            case .I8, .U8, .BOOL, .F8_E4M3, .F8_E5M2: return 1
            }
        }
    }

    public struct Entry: Sendable {
        public let name: String
        public let dtype: DType
        public let shape: [Int]
        public let begin: Int   // within the data buffer
        public let end: Int
    }

    public static let maxHeaderBytes = 100_000_000

    public let path: String
    public let metadata: [String: String]
    public let entries: [String: Entry]
    private let bytes: Data
    private let dataStart: Int

    public init(path: String) throws {
        let url = URL(fileURLWithPath: path)
        let data: Data
        do { data = try Data(contentsOf: url, options: .alwaysMapped) } catch {
            throw DreamlabError.badFile("\(path): cannot read the file (\(error.localizedDescription)); check the path and permissions")
        }
        try self.init(path: path, bytes: data)
    }

    public init(path: String, bytes: Data) throws {
        self.path = path
        self.bytes = bytes
        func fail(_ msg: String) -> DreamlabError { .badFile("\(path): \(msg)") }

        if bytes.starts(with: Array("version https://git-lfs".utf8)) {
            throw fail("this is a git-lfs pointer file, not the weights; fetch the real file (`git lfs pull` in the model directory, or re-download it)")
        }
        guard bytes.count >= 8 else {
            throw fail("truncated: the file has \(bytes.count) bytes, but a safetensors file starts with an 8-byte header length; re-download it")
        }
        var headerLen: UInt64 = 0
        for i in 0..<8 { headerLen |= UInt64(bytes[bytes.startIndex + i]) << (8 * UInt64(i)) }
        guard headerLen <= UInt64(Self.maxHeaderBytes) else {
            throw fail("header length \(headerLen) exceeds the 100 MB limit of the format; the file is corrupt or not safetensors")
        }
        let n = Int(headerLen)
        guard 8 + n <= bytes.count else {
            throw fail("truncated: the header claims \(n) bytes but only \(bytes.count - 8) follow; re-download the file")
        }
        let headerData = bytes.subdata(in: bytes.startIndex + 8 ..< bytes.startIndex + 8 + n)
        guard headerData.first == UInt8(ascii: "{") else { throw fail("the header is not a JSON object; the file is corrupt or not safetensors") }
        let json: Any
        do { json = try JSONSerialization.jsonObject(with: headerData) } catch {
            throw fail("the header is not valid JSON; the file is corrupt or not safetensors")
        }
        guard let dict = json as? [String: Any] else { throw fail("the header is not a JSON object") }

        var metadata: [String: String] = [:]
        var entries: [String: Entry] = [:]
        for (name, value) in dict {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else { throw fail("__metadata__ must be an object of strings") }
                for (k, v) in m {
                    guard let s = v as? String else { throw fail("__metadata__ value for \"\(k)\" is not a string") }
                    metadata[k] = s
                }
                continue
            }
            guard let obj = value as? [String: Any] else { throw fail("tensor \(name): entry is not an object") }
            guard let dtName = obj["dtype"] as? String else { throw fail("tensor \(name): missing dtype") }
            guard let dtype = DType(rawValue: dtName) else {
                throw fail("tensor \(name): unknown dtype \"\(dtName)\" (known: \(DType.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            guard let shapeAny = obj["shape"] as? [Any] else { throw fail("tensor \(name): missing shape") }
            var shape: [Int] = []
            for d in shapeAny {
                guard let num = d as? NSNumber, num.doubleValue == Double(num.int64Value),
                      num.int64Value >= 0 else { throw fail("tensor \(name): shape \(shapeAny) must hold non-negative integers") }
                shape.append(Int(num.int64Value))
            }
            guard let offs = obj["data_offsets"] as? [Any], offs.count == 2,
                  let b0 = offs[0] as? NSNumber, let e0 = offs[1] as? NSNumber,
                  b0.doubleValue == Double(b0.int64Value), e0.doubleValue == Double(e0.int64Value),   // 2.5 is not an offset
                  b0.int64Value >= 0, e0.int64Value >= b0.int64Value else {
                throw fail("tensor \(name): data_offsets must be [begin, end], whole numbers with 0 <= begin <= end; got \(obj["data_offsets"] ?? "nothing")")
            }
            var count = dtype.byteSize
            for d in shape {
                let (p, o) = count.multipliedReportingOverflow(by: d)
                guard !o else { throw fail("tensor \(name): shape \(shape) overflows when multiplied out") }
                count = p
            }
            let begin = Int(b0.int64Value), end = Int(e0.int64Value)
            guard end - begin == count else {
                throw fail("tensor \(name): data_offsets span \(end - begin) bytes but \(dtName) × \(shape) needs \(count)")
            }
            entries[name] = Entry(name: name, dtype: dtype, shape: shape, begin: begin, end: end)
        }
        // Offsets must tile the data buffer exactly: contiguous, no overlap, no gap, fully covered.
        let bufferSize = bytes.count - 8 - n
        var cursor = 0
        for e in entries.values.sorted(by: { ($0.begin, $0.end) < ($1.begin, $1.end) }) {
            if e.begin < cursor { throw fail("tensor \(e.name): data_offsets [\(e.begin), \(e.end)] overlap the previous tensor (which ends at \(cursor))") }
            if e.begin > cursor { throw fail("tensor \(e.name): gap in the data buffer before offset \(e.begin) (previous tensor ends at \(cursor))") }
            if e.end > bufferSize { throw fail("tensor \(e.name): data_offsets end \(e.end) lies beyond the data buffer (\(bufferSize) bytes); the file is truncated, re-download it") }
            cursor = e.end
        }
        guard cursor == bufferSize else {
            throw fail("the tensors cover \(cursor) bytes but the data buffer holds \(bufferSize); the file is corrupt")
        }
        self.metadata = metadata
        self.entries = entries
        self.dataStart = 8 + n
    }

    /// The tensor widened to F32. F32, F16 and BF16 are supported; anything else is an error naming the tensor.
    public func floats(_ name: String) throws -> Tensor {
        let buf = try floatBuffer(name)
        return Tensor(shape: entries[name]!.shape, data: buf.array)
    }

    /// The tensor widened to F32 into a fresh buffer (what the model keeps).
    public func floatBuffer(_ name: String) throws -> FloatBuffer {
        guard let e = entries[name] else { throw DreamlabError.badFile("\(path): no tensor named \(name)") }
        let count = e.shape.reduce(1, *)
        let out = FloatBuffer(count: count)
        let start = bytes.startIndex + dataStart + e.begin
        try bytes.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let base = raw.baseAddress!.advanced(by: start - bytes.startIndex)
            switch e.dtype {
            case .F32:
                UnsafeMutableRawPointer(out.ptr).copyMemory(from: base, byteCount: count * 4)
            case .F16:
                for i in 0..<count {
                    let bits = base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)
                    out[i] = Float(Float16(bitPattern: UInt16(littleEndian: bits)))
                }
            case .BF16:
                for i in 0..<count {
                    let bits = base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)
                    out[i] = Float(bitPattern: UInt32(UInt16(littleEndian: bits)) << 16)
                }
            default:
                throw DreamlabError.badFile("\(path): tensor \(name) has dtype \(e.dtype.rawValue); Dreamlab reads F32, F16 and BF16 weights. Convert the checkpoint (for example `model.to(torch.float32)` then `save_pretrained(..., safe_serialization=True)`)")
            }
        }
        return out
    }
}
