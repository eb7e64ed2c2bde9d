import Engine
import Foundation

BLASRuntime.ensureCoreType()
BLASRuntime.configureThreads()

/// Every subcommand, each defined in its own file in CLI/. A new one is one file plus one line here.
let subcommands: [Subcommand] = [dreamCommand, searchCommand, similarCommand, tokenizeCommand, mlmCommand, dreamMLMCommand, reconstructActivationCommand, reconstructChangedCommand, reconstructShiftedCommand, exportActivationsCommand, probeCommand, corpusCommand, sweepCommand, reportCommand, randomModelCommand, benchCommand]

let usage = """
usage: dreamlab [options] [command] [args]

With no command, opens the interactive Lua prompt on the default model (global `m`).

commands:
  run FILE.lua [args...]   run a Lua experiment script; `arg` holds its arguments
\(subcommands.map { "  " + $0.name.padding(toLength: 23, withPad: " ", startingAt: 0) + "  " + $0.brief }.joined(separator: "\n"))
  info                     show version, BLAS core and threads, and the default model
  help COMMAND             a command's flags, defaults and one line each (also: dreamlab COMMAND --help)

options:
  -e CODE                  run a Lua chunk, then exit (repeatable)
  -i FILE.lua [args...]    run a script (arg holds its arguments), then stay at the prompt with its names, locals too
  --model DIR|NAME         model for lab.load() (same as LAB_MODEL); a name is looked up in the Hugging Face cache
  --version                same as info
  -h, --help               this text

Lua: lab.load([dir]), m.config, m:encode(text[, text2]), m:decode(ids), m:run(text|ids),
     tr:site(name), t:shape(), t:get(...), t:totable(), lab.json.encode/decode; help() at the prompt.
Model coordinates (layer, head, position, unit, token id) are 0-based; Lua lists are 1-based.
"""

/// Runs a subcommand: its flags parsed by its own table, errors printed once with the command's name.
func runSubcommand(_ c: Subcommand, _ args: [String]) -> Int32 {
    do { return try c.run(try c.parse(args)) } catch is HelpRequested {
        print(c.help, terminator: "")
        return 0
    } catch {
        FileHandle.standardError.write(Data("dreamlab \(c.name): \(error)\n".utf8))
        return 2
    }
}

func infoText() -> String {
    let model = ModelLocator.defaultDirectory() ?? "(not installed: run scripts/lab)"
    return """
    dreamlab \(dreamlabVersion)
    threads: \(Threads.count), \(Threads.running) running (the CPUs this process may use; DREAMLAB_THREADS overrides)
    BLAS: OpenBLAS core \(BLASRuntime.coreName), \(BLASRuntime.threads) threads\(ProcessInfo.processInfo.environment["DREAMLAB_BLAS_REEXEC"] != nil ? " (core type chosen by dreamlab)" : "")
    bf16 mode (--precision bf16, opt-in): \(Precision.bf16Kernel)
    default model: \(model)
    """
}

func fail(_ msg: String) -> Never {
    FileHandle.standardError.write(Data("dreamlab: \(msg)\n".utf8))
    exit(2)
}

// A plugin's own process (started by lab.plugin): nothing else in this file runs.
if CommandLine.arguments.dropFirst().first == "__plugin-child" { runPluginChild() }

var args = Array(CommandLine.arguments.dropFirst())
var chunks: [String] = []
var interactiveFile: String? = nil
var interactiveArgs: [String] = []
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
        guard !args.isEmpty else { fail("-i needs a script file: dreamlab -i FILE.lua [args...]") }
        interactiveFile = args.removeFirst()
        interactiveArgs = args; args = []
    case "--model":
        guard !args.isEmpty else { fail("--model needs a model directory or name") }
        setenv("LAB_MODEL", args.removeFirst(), 1)
    case "help":
        guard let name = args.first else { print(usage); exit(0) }
        guard let c = subcommands.first(where: { $0.name == name }) else { fail("no command \(name); commands: \(subcommands.map(\.name).joined(separator: ", ")), run, info") }
        print(c.help, terminator: ""); exit(0)
    case let name where subcommands.contains { $0.name == name }:
        installSignalHandler()
        exit(runSubcommand(subcommands.first { $0.name == name }!, args))
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
    // Ctrl-C ends a script with 130, as a shell expects; what it saved stays saved.
    let ok = interp.runFile(file, args: rest)
    exit(ok ? (interp.interruptedLastRun ? 130 : 0) : (interp.lastErrorWasInterrupt ? 130 : 1))
}
if let f = interactiveFile {
    // As python -i: the script and the prompt share one `m`, and the script's names stay; an error keeps the prompt.
    interp.loadDefaultModel()
    _ = interp.runFile(f, args: interactiveArgs, keepLocals: true)
}
if !chunks.isEmpty && interactiveFile == nil { exit(0) }
REPL(interp).loop()
exit(0)
