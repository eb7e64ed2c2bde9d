@_exported import TestSupport
import Engine

let tinyConfig = BertConfig(hiddenSize: 24, numLayers: 2, numHeads: 3, intermediateSize: 40, vocabSize: 120, maxPositions: 32)
