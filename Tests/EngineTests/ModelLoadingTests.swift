import Foundation
import XCTest
@testable import Engine

final class ModelLoadingTests: XCTestCase {
    func testConfigRefusesWhatTheEngineLacks() throws {
        let dir = TestPaths.tempDir("config")
        func write(_ s: String) throws -> String { let p = dir + "/config.json"; try s.write(toFile: p, atomically: true, encoding: .utf8); return p }
        let base = RandomBert.configJSON(tinyConfig)
        assertThrows(try BertConfig.load(path: try write(base.replacingOccurrences(of: "\"absolute\"", with: "\"relative_key\""))),
                     contains: ["position_embedding_type", "relative_key", "absolute"])
        assertThrows(try BertConfig.load(path: try write(base.replacingOccurrences(of: "\"gelu\"", with: "\"relu\""))),
                     contains: ["hidden_act", "relu", "gelu"])
        assertThrows(try BertConfig.load(path: try write(base.replacingOccurrences(of: "\"num_attention_heads\":3", with: "\"num_attention_heads\":5"))),
                     contains: ["not divisible"])
        assertThrows(try BertConfig.load(path: try write(base.replacingOccurrences(of: "\"hidden_size\":24,", with: ""))),
                     contains: ["hidden_size"])
        assertThrows(try BertConfig.load(path: try write("{oops")), contains: ["config.json"])
        XCTAssertEqual(try BertConfig.load(path: try write(base)), tinyConfig)
    }

    func testOldNamesPrefixAndTiedMLMHead() throws {
        // Old gamma/beta names and no bert. prefix must give the same model as the modern layout.
        let modern = try SafetensorsFile(path: "a", bytes: SafetensorsWriter.encode(RandomBert.tensors(tinyConfig, withMLM: true)))
        let old = try SafetensorsFile(path: "b", bytes: SafetensorsWriter.encode(RandomBert.tensors(tinyConfig, withMLM: true, prefix: "", oldLayerNormNames: true)))
        let a = try BertWeights.load(modern, config: tinyConfig), b = try BertWeights.load(old, config: tinyConfig)
        XCTAssertEqual(a.layers[1].ln2.gamma.array, b.layers[1].ln2.gamma.array)
        XCTAssertEqual(a.embLN.beta.array, b.embLN.beta.array)
        let head = try XCTUnwrap(a.mlm)
        XCTAssertTrue(head.tiedDecoder)
        XCTAssertEqual(head.decoder.array, a.wordEmbeddings.array)
    }

    func testMissingTensorIsNamed() throws {
        let ts = RandomBert.tensors(tinyConfig).filter { $0.name != "bert.encoder.layer.1.output.dense.bias" }
        let f = try SafetensorsFile(path: "miss.safetensors", bytes: SafetensorsWriter.encode(ts))
        assertThrows(try BertWeights.load(f, config: tinyConfig), contains: ["miss.safetensors", "encoder.layer.1.output.dense.bias"])
    }

    /// Issue 12's loading traps: a config with fewer layers than the checkpoint, non-finite weights, fractional
    /// data_offsets, a tokenizer.json id far out of range, an empty special token and a CRLF vocab.txt.
    func testCheckpointsThatDisagreeOrAreCorruptAreRefused() throws {
        var fewer = tinyConfig; fewer.numLayers = 1
        let f = try SafetensorsFile(path: "two.safetensors", bytes: SafetensorsWriter.encode(RandomBert.tensors(tinyConfig)))
        assertThrows(try BertWeights.load(f, config: fewer), contains: ["encoder layers 0...1", "num_hidden_layers=1", "set it to 2"])
        var ts = RandomBert.tensors(tinyConfig)
        let k = ts.firstIndex { $0.name.hasSuffix("layer.1.output.dense.weight") }!
        ts[k].values[5] = .nan
        let nan = try SafetensorsFile(path: "nan.safetensors", bytes: SafetensorsWriter.encode(ts))
        assertThrows(try BertWeights.load(nan, config: tinyConfig), contains: ["layer.1.output.dense.weight", "nan", "element 5"])
        // A fractional offset is refused, not truncated.
        let header = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0.5,4]}}"#
        var bytes = Data(withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { Array($0) })
        bytes.append(contentsOf: Array(header.utf8) + [0, 0, 0, 0])
        assertThrows(try SafetensorsFile(path: "frac.safetensors", bytes: bytes), contains: ["data_offsets", "whole numbers"])

        let dir = TestPaths.tempDir("tokenizers")
        try RandomBert.writeDirectory(dir, config: tinyConfig)
        let vocab = try String(contentsOfFile: dir + "/vocab.txt", encoding: .utf8)
        let plain = try WordPieceTokenizer.load(directory: dir).encode("i hate the dog").ids
        try vocab.replacingOccurrences(of: "\n", with: "\r\n").write(toFile: dir + "/vocab.txt", atomically: true, encoding: .utf8)
        XCTAssertEqual(try WordPieceTokenizer.load(directory: dir).encode("i hate the dog").ids, plain, "a CRLF vocab.txt reads as the LF one")
        try #"{"do_lower_case": true, "additional_special_tokens": ["", "[MASK]"]}"#.write(toFile: dir + "/tokenizer_config.json", atomically: true, encoding: .utf8)
        XCTAssertEqual(try WordPieceTokenizer.load(directory: dir).encode("i hate the dog").ids, plain, "an empty special token is ignored, not an endless loop")
        try FileManager.default.removeItem(atPath: dir + "/vocab.txt")
        let lines = vocab.split(separator: "\n").map(String.init)
        var entries = lines.enumerated().map { "\"\($0.element.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\""))\": \($0.offset)" }
        entries[entries.count - 1] = "\"zzz\": 1000000000000"
        try "{\"model\": {\"vocab\": {\(entries.joined(separator: ", "))}}}".write(toFile: dir + "/tokenizer.json", atomically: true, encoding: .utf8)
        assertThrows(try WordPieceTokenizer.load(directory: dir), contains: ["tokenizer.json", "each once", "1000000000000"])
    }

    func testHalfPrecisionCheckpointsLoad() throws {
        for dt in [SafetensorsFile.DType.F16, .BF16] {
            let dir = TestPaths.tempDir("half-\(dt.rawValue)")
            try RandomBert.writeDirectory(dir, config: tinyConfig, dtype: dt)
            let m = try BertModel(directory: dir)
            let a = try m.run("i hate the dog")
            XCTAssertTrue(try a.site(Site(.residPost, layer: 1)).data.allSatisfy { $0.isFinite })
        }
    }

    func testModelDirectoryErrors() {
        assertThrows(try BertModel(directory: "/nonexistent/model"), contains: ["/nonexistent/model", "scripts/lab"])
        assertThrows(try ModelLocator.resolve("no-such-model-anywhere"), contains: ["no-such-model-anywhere", "Hugging Face cache"])
    }

    func testHuggingFaceCacheLookup() throws {
        let hub = TestPaths.tempDir("hfhome") + "/hub"
        let snap = hub + "/models--google-bert--tiny-test/snapshots/abc123"
        try RandomBert.writeDirectory(snap, config: tinyConfig)
        try FileManager.default.createDirectory(atPath: hub + "/models--google-bert--tiny-test/refs", withIntermediateDirectories: true)
        try "abc123".write(toFile: hub + "/models--google-bert--tiny-test/refs/main", atomically: true, encoding: .utf8)
        setenv("HF_HUB_CACHE", hub, 1)
        defer { unsetenv("HF_HUB_CACHE") }
        XCTAssertEqual(try ModelLocator.resolve("tiny-test"), snap)
        XCTAssertEqual(try ModelLocator.resolve("google-bert/tiny-test"), snap)
    }
}
