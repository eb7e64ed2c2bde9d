import Foundation

/// NumPy's .npy format (version 1.0): the magic, a header dict ('descr', 'fortran_order', 'shape') padded so the data
/// starts at a multiple of 64 bytes, then the values, little-endian. Dreamlab writes float32 ('<f4') and reads
/// float32 or float64, C order.
public enum NPY {
    static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

    public static func encode(_ t: Tensor) -> Data {
        let shape = t.shape.count == 1 ? "(\(t.shape[0]),)" : "(" + t.shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shape), }"
        let unpadded = magic.count + 2 + 2 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var d = Data(magic + [1, 0])
        let n = UInt16(header.utf8.count)
        d.append(contentsOf: [UInt8(n & 0xFF), UInt8(n >> 8)])
        d.append(contentsOf: Array(header.utf8))
        t.data.withUnsafeBufferPointer { p in
            for v in p { var le = v.bitPattern.littleEndian; withUnsafeBytes(of: &le) { d.append(contentsOf: $0) } }
        }
        return d
    }

    /// Writes atomically.
    public static func write(_ t: Tensor, to path: String) throws { try writeAtomically(encode(t), to: path) }

    public static func read(_ path: String) throws -> Tensor {
        guard let d = FileManager.default.contents(atPath: path) else { throw DreamlabError.badFile("\(path): cannot read it; give an .npy file") }
        return try decode(d, name: path)
    }

    public static func decode(_ d: Data, name: String = "npy data") throws -> Tensor {
        let b = [UInt8](d)
        func bad(_ why: String) -> DreamlabError { .badFile("\(name): not a NumPy .npy file Dreamlab can read (\(why)); save float32 or float64 arrays with numpy.save") }
        guard b.count >= 10, Array(b[0..<6]) == magic else { throw bad("no \\x93NUMPY magic") }
        let major = b[6]
        let headerLength: Int, start: Int
        switch major {
        case 1: headerLength = Int(b[8]) | Int(b[9]) << 8; start = 10
        case 2, 3:
            guard b.count >= 12 else { throw bad("truncated header") }
            headerLength = Int(b[8]) | Int(b[9]) << 8 | Int(b[10]) << 16 | Int(b[11]) << 24; start = 12
        default: throw bad("format version \(major)")
        }
        guard headerLength <= 1 << 20, start + headerLength <= b.count else { throw bad("the header runs past the end") }
        let header = String(decoding: b[start..<(start + headerLength)], as: UTF8.self)
        func field(_ key: String) -> String? {
            guard let r = header.range(of: "'\(key)':") else { return nil }
            return String(header[r.upperBound...]).trimmingCharacters(in: .whitespaces)
        }
        guard let descrField = field("descr"), let q1 = descrField.firstIndex(of: "'"),
              let q2 = descrField[descrField.index(after: q1)...].firstIndex(of: "'") else { throw bad("no descr") }
        let descr = String(descrField[descrField.index(after: q1)..<q2])
        guard let fo = field("fortran_order"), fo.hasPrefix("False") || fo.hasPrefix("True") else { throw bad("malformed header: fortran_order is neither True nor False") }
        guard fo.hasPrefix("False") else { throw bad("Fortran order; save with np.ascontiguousarray") }
        guard let sf = field("shape"), let open = sf.firstIndex(of: "("),
              let close = sf[sf.index(after: open)...].firstIndex(of: ")") else { throw bad("no shape") }
        let dims = sf[sf.index(after: open)..<close].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        var shape: [Int] = []
        for s in dims {
            guard let n = Int(s), n >= 0, n <= 1 << 31 else { throw bad("shape entry \(s)") }
            shape.append(n)
        }
        // Every partial product must fit, zero dims or not: (2^31, 2^31, 2^31, 0) would overflow later in Tensor.
        var bound = 1   // the product with zero dims counted as 1: it bounds every partial product
        for d in shape {
            let (p, o) = bound.multipliedReportingOverflow(by: max(d, 1))
            guard !o, p <= 1 << 36 else { throw bad("shape \(shape) is too large") }
            bound = p
        }
        let count = shape.reduce(1, *)
        let width: Int
        switch descr { case "<f4": width = 4; case "<f8": width = 8; default: throw bad("dtype \(descr); only little-endian float32 ('<f4') or float64 ('<f8')") }
        let dataStart = start + headerLength
        guard count < Int.max / 8, b.count - dataStart == count * width else {
            throw bad("\(b.count - dataStart) data bytes for shape \(shape) of \(descr), expected \(count < Int.max / 8 ? String(count * width) : "too many")")
        }
        var out = [Float](repeating: 0, count: count)
        for i in 0..<count {
            let o = dataStart + i * width
            if width == 4 {
                out[i] = Float(bitPattern: UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24)
            } else {
                var bits: UInt64 = 0
                for k in 0..<8 { bits |= UInt64(b[o + k]) << (8 * UInt64(k)) }
                out[i] = Float(Double(bitPattern: bits))
            }
        }
        return Tensor(shape: shape, data: out)
    }
}
