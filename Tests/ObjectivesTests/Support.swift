@_exported import TestSupport
import Engine

let tinyConfig = BertConfig(hiddenSize: 16, numLayers: 2, numHeads: 2, intermediateSize: 24, vocabSize: 90, maxPositions: 32)
