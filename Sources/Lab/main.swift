import Engine
import Foundation

BLASRuntime.ensureCoreType()
BLASRuntime.configureThreads()

let usage = """
usage: dreamlab [options] [command] [args]

With no command, opens the interactive Lua prompt on the default model (global `m`).

commands:
  run FILE.lua [args...]   run a Lua experiment script; `arg` holds its arguments
  dream --flags            PAIR's dream.py: --sentence --layer_id --word_id --neuron_id --dream_start --dream_end
                           --num_iterations --warmup --start_temp --end_temp --anneal --learning_rate --normalize
                           --gumbel --k --metrics_frequency --output_dir (required) --model; PAIR's defaults;
                           not PAIR's: --fluency λ [--fluency_model M] adds λ·PLL of the span (MLM head needed)
  search --flags           PAIR's token_search.py: --sentence --layer_id --word_id --neuron_id --change_word --top_k
                           --output_dir (required) --model --batch; writes top_tokens_in_<sentence>_<word>.json
  corpus --file F --layer_id L --neuron_id U [--site S] [--top_k K] [--output out.json]
                           top passages of a text file (one per line) for one unit
  sweep --layer_id L --units 0-63 --out F.jsonl [--word_id W] [--num_iterations N] [--batch 8] [--shard i/n]
                           one dream per unit, a JSON line each; rerun to resume; --merge OUT IN... joins shards
  report DIR -o file.html  an HTML report of a saved dream folder (Dreamlab's or PAIR's own)
  random-model --out DIR [--vocab_from MODEL] [--hidden 32 --layers 2 --heads 2 --intermediate 64 --seed 7]
                           a small random BERT with an MLM head and a real vocabulary: a fixture for tests
                           and pipelines (e.g. fluency_model=), not a language model
  info                     show version, BLAS core and threads, and the default model

options:
  -e CODE                  run a Lua chunk, then exit (repeatable)
  -i FILE.lua              run a script, then stay at the prompt
  --model DIR|NAME         model for lab.load() (same as LAB_MODEL); a name is looked up in the Hugging Face cache
  --version                same as info
  -h, --help               this text

Lua: lab.load([dir]), m.config, m:encode(text[, text2]), m:decode(ids), m:run(text|ids),
     tr:site(name), t:shape(), t:get(...), t:totable(), lab.json.encode/decode.
Model coordinates (layer, head, position, unit, token id) are 0-based; Lua lists are 1-based.
"""

func infoText() -> String {
    let model = ModelLocator.defaultDirectory() ?? "(not installed: run scripts/lab)"
    return """
    dreamlab \(dreamlabVersion)
    BLAS: OpenBLAS core \(BLASRuntime.coreName), \(BLASRuntime.threads) threads\(ProcessInfo.processInfo.environment["DREAMLAB_BLAS_REEXEC"] != nil ? " (core type chosen by dreamlab)" : "")
    default model: \(model)
    """
}

func fail(_ msg: String) -> Never {
    FileHandle.standardError.write(Data("dreamlab: \(msg)\n".utf8))
    exit(2)
}

var args = Array(CommandLine.arguments.dropFirst())
var chunks: [String] = []
var interactiveFile: String? = nil
var command: String? = nil
var rest: [String] = []

while !args.isEmpty {
    let a = args.removeFirst()
    switch a {
    case "-h", "--help": print(usage); exit(0)
    case "--version", "info": print(infoText()); exit(0)
    case "-e":
        guard !args.isEmpty else { fail("-e needs a Lua chunk, e.g. dreamlab -e 'print(1)'") }
        chunks.append(args.removeFirst())
    case "-i":
        guard !args.isEmpty else { fail("-i needs a script file") }
        interactiveFile = args.removeFirst()
    case "--model":
        guard !args.isEmpty else { fail("--model needs a model directory or name") }
        setenv("LAB_MODEL", args.removeFirst(), 1)
    case "bench":
        exit(runBench(args))
    case "random-model":
        exit(runRandomModelCommand(args))
    case "report":
        exit(runReportCommand(args))
    case "sweep":
        exit(runSweepCommand(args))
    case "corpus":
        installSignalHandler()
        exit(runCorpusCommand(args))
    case "search":
        installSignalHandler()
        exit(runPairSearch(args))
    case "dream":
        installSignalHandler()
        exit(runPairDream(args))
    case "run":
        guard !args.isEmpty else { fail("run needs a script: dreamlab run FILE.lua [args...]") }
        command = "run"; rest = args; args = []
    default:
        if a.hasPrefix("-") { fail("unknown option \(a); see dreamlab --help") }
        if a.hasSuffix(".lua") { command = "run"; rest = [a] + args; args = [] }
        else { fail("unknown command \(a); see dreamlab --help") }
    }
}

installSignalHandler()
let interp = Interpreter()
for c in chunks {
    if interp.run(c, name: "=(command line)") == nil { exit(1) }
}
if command == "run" {
    let file = rest.removeFirst()
    exit(interp.runFile(file, args: rest) ? 0 : 1)
}
if let f = interactiveFile {
    if !interp.runFile(f, args: []) { exit(1) }
}
if !chunks.isEmpty && interactiveFile == nil { exit(0) }
REPL(interp).loop()
exit(0)
