import Foundation
import XCTest
@testable import Engine

final class SafetensorsTests: XCTestCase {
    func header(_ json: String, body: Int) -> Data {
        var d = Data()
        let h = Data(json.utf8)
        withUnsafeBytes(of: UInt64(h.count).littleEndian) { d.append(contentsOf: $0) }
        d.append(h)
        d.append(Data(count: body))
        return d
    }

    func testRoundTripAllFloatDtypes() throws {
        let values: [Float] = [0, 1, -2.5, 0.333, 1000, -1e-3]
        for dt in [SafetensorsFile.DType.F32, .F16, .BF16] {
            let data = try SafetensorsWriter.encode([("x", [2, 3], values)], dtype: dt)
            let f = try SafetensorsFile(path: "mem.safetensors", bytes: data)
            let t = try f.floats("x")
            XCTAssertEqual(t.shape, [2, 3])
            let tol: Float = dt == .F32 ? 0 : (dt == .F16 ? 0.5 : 4)   // 1000 in bf16 rounds to 1000; 0.333 loses digits
            for (a, b) in zip(t.data, values) { XCTAssertEqual(a, b, accuracy: max(tol * 1e-3 * abs(b), dt == .F32 ? 0 : 2e-3)) }
            XCTAssertEqual(f.metadata["format"], "pt")
        }
    }

    func testTruncatedFile() {
        assertThrows(try SafetensorsFile(path: "t.safetensors", bytes: Data([1, 2, 3])), contains: ["t.safetensors", "truncated"])
        let good = try! SafetensorsWriter.encode([("x", [4], [1, 2, 3, 4])])
        assertThrows(try SafetensorsFile(path: "t.safetensors", bytes: good.prefix(good.count - 3)), contains: ["t.safetensors", "x"])
        assertThrows(try SafetensorsFile(path: "t.safetensors", bytes: good.prefix(12)), contains: ["truncated"])
    }

    func testGitLFSPointer() {
        let lfs = "version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 90868376\n"
        assertThrows(try SafetensorsFile(path: "model.safetensors", bytes: Data(lfs.utf8)), contains: ["model.safetensors", "git-lfs", "git lfs pull"])
    }

    func testHugeHeaderLength() {
        var d = Data()
        withUnsafeBytes(of: UInt64(1) << 40) { d.append(contentsOf: $0) }
        d.append(Data("{}".utf8))
        assertThrows(try SafetensorsFile(path: "h.safetensors", bytes: d), contains: ["h.safetensors", "100 MB"])
    }

    func testHeaderNotJSON() {
        assertThrows(try SafetensorsFile(path: "j.safetensors", bytes: header("{not json at all", body: 0)), contains: ["j.safetensors", "JSON"])
        assertThrows(try SafetensorsFile(path: "j.safetensors", bytes: header("[1,2]", body: 0)), contains: ["JSON object"])
    }

    func testOverlappingOffsets() {
        let json = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        assertThrows(try SafetensorsFile(path: "o.safetensors", bytes: header(json, body: 12)), contains: ["o.safetensors", "b", "overlap"])
    }

    func testGapAndUncoveredBuffer() {
        let gap = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        assertThrows(try SafetensorsFile(path: "g.safetensors", bytes: header(gap, body: 8)), contains: ["gap"])
        let extra = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
        assertThrows(try SafetensorsFile(path: "g.safetensors", bytes: header(extra, body: 12)), contains: ["cover"])
    }

    func testUnknownDtype() {
        let json = #"{"a":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}}"#
        assertThrows(try SafetensorsFile(path: "d.safetensors", bytes: header(json, body: 16)), contains: ["d.safetensors", "a", "unknown dtype", "F128"])
    }

    func testUnsupportedWeightDtypeNamesTensorAndFix() throws {
        let json = #"{"w":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}}"#
        let f = try SafetensorsFile(path: "i.safetensors", bytes: header(json, body: 8))   // parses: I32 is a valid dtype
        assertThrows(try f.floats("w"), contains: ["i.safetensors", "w", "I32", "Convert"])
    }

    func testSizeMismatchAndOverflow() {
        let wrong = #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#
        assertThrows(try SafetensorsFile(path: "s.safetensors", bytes: header(wrong, body: 8)), contains: ["a", "needs 12"])
        let huge = #"{"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}}"#
        assertThrows(try SafetensorsFile(path: "s.safetensors", bytes: header(huge, body: 8)), contains: ["a", "overflow"])
        let neg = #"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,8]}}"#
        assertThrows(try SafetensorsFile(path: "s.safetensors", bytes: header(neg, body: 8)), contains: ["a", "non-negative"])
    }

    func testMetadataMustBeStrings() {
        let json = #"{"__metadata__":{"format":1},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
        assertThrows(try SafetensorsFile(path: "m.safetensors", bytes: header(json, body: 4)), contains: ["__metadata__", "format"])
    }

    func testShapeThatDoesNotMatchConfig() throws {
        let dir = TestPaths.tempDir("shape-mismatch")
        try RandomBert.writeDirectory(dir, config: tinyConfig)
        // Same weights, a config that claims a wider model.
        var wide = tinyConfig; wide.hiddenSize = 48; wide.numHeads = 4
        try RandomBert.configJSON(wide).write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        assertThrows(try BertModel(directory: dir), contains: ["model.safetensors", "embeddings.word_embeddings.weight", "config.json"])
    }

    /// Corrupted files either load whole (every tensor the size its shape says) or fail with an error naming the
    /// file; nothing traps, and both outcomes occur.
    func testRandomBytesNeverCrash() throws {
        var rng = SplitMix64(seed: 7)
        let good = try SafetensorsWriter.encode([("x", [3], [1, 2, 3]), ("y", [2], [4, 5])])
        var loaded = 0, refused = 0
        let dataStart = 8 + Int(good.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self).littleEndian })
        for n in 0..<300 {
            var d = good
            // Every other file is corrupted anywhere; the rest only in the tensor bytes, which still parse.
            let lo = n % 2 == 0 ? 0 : dataStart
            for _ in 0..<3 { d[lo + Int(rng.next() % UInt64(d.count - lo))] = UInt8(truncatingIfNeeded: rng.next()) }
            do {
                let f = try SafetensorsFile(path: "fuzz", bytes: d)
                for (n, e) in f.entries {
                    do {
                        let v = try f.floats(n)
                        XCTAssertEqual(v.count, e.shape.reduce(1, *), "tensor \(n) of a file that loaded has its shape's size")
                    } catch { XCTAssertTrue("\(error)".contains("fuzz"), "\(error) names the file") }
                }
                loaded += 1
            } catch {
                XCTAssertTrue("\(error)".contains("fuzz"), "\(error) names the file")
                refused += 1
            }
        }
        print("safetensors fuzz: 300 corrupted files, \(loaded) loaded, \(refused) refused with a message naming the file")
        XCTAssertGreaterThan(loaded, 0)
        XCTAssertGreaterThan(refused, 0)
    }
}
