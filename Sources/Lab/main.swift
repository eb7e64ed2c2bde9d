import Engine
import Foundation
BLASRuntime.ensureCoreType()
print(BLASRuntime.coreName, BLASRuntime.threads)
let m = try BertModel(directory: "models/all-MiniLM-L6-v2")
print(m.tokenizer.tokenize("i hate kickshaws naïve 日本"))
let t0 = Date()
let a = try m.run("i hate kickshaws")
print(Date().timeIntervalSince(t0))
print(try a.site(Site(.residPost, layer: 5)).get([2, 300]))
