import Engine
import Foundation

/// A command-line mistake; main prints it once as "dreamlab CMD: message".
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

/// One flag of a subcommand: its name, kind, default and one line of help.
struct Flag: Sendable {
    enum Kind: Sendable { case string, int, float, bool }
    let name: String
    let kind: Kind
    let defaultValue: String
    let help: String
    /// A PAIR flag Dreamlab does not implement: accepted only at its default, otherwise refused with this sentence.
    var refusal: String? = nil

    static func string(_ name: String, _ d: String, _ help: String) -> Flag { Flag(name: name, kind: .string, defaultValue: d, help: help) }
    static func int(_ name: String, _ d: Int, _ help: String) -> Flag { Flag(name: name, kind: .int, defaultValue: String(d), help: help) }
    static func float(_ name: String, _ d: String, _ help: String) -> Flag { Flag(name: name, kind: .float, defaultValue: d, help: help) }
    static func bool(_ name: String, _ d: Bool, _ help: String) -> Flag { Flag(name: name, kind: .bool, defaultValue: d ? "true" : "false", help: help) }
    static func refused(_ name: String, _ d: String, _ why: String) -> Flag {
        Flag(name: name, kind: .string, defaultValue: d, help: "PAIR's; not implemented (only \(d) is accepted)", refusal: why)
    }
}

/// A subcommand: its flag table, its positional arguments and what it runs. Each lives in its own file in CLI/
/// and is registered once, in main.swift's `subcommands`.
struct Subcommand: Sendable {
    let name: String
    /// One line for `dreamlab --help`.
    let brief: String
    let summary: String
    /// e.g. "--output_dir DIR [flags]"
    let usage: String
    let flags: [Flag]
    /// Positional arguments allowed: (name for help, how many at least, at most).
    var positionals: (name: String, min: Int, max: Int)? = nil
    let run: @Sendable (ParsedFlags) throws -> Int32

    var help: String {
        var s = "usage: dreamlab \(name) \(usage)\n\n\(summary)\n\nflags (PAIR's spellings work too: -flag value, --flag=value, --noflag, a bare boolean):\n"
        let width = min(30, (flags.map { $0.name.count + ($0.kind == .bool ? 0 : 6) }.max() ?? 10) + 4)
        for f in flags {
            let left = "--" + f.name + (f.kind == .bool ? "" : " " + ["string": "TEXT", "int": "N", "float": "X"][String(describing: f.kind)]!)
            let pad = String(repeating: " ", count: max(1, width - left.count))
            let def = f.defaultValue.isEmpty ? "" : " (default: \(f.kind == .string ? "\"\(f.defaultValue)\"" : f.defaultValue))"
            s += "  \(left)\(pad)\(f.help)\(def)\n"
        }
        s += "  -h, --help" + String(repeating: " ", count: max(1, width - 10)) + "this text\n"
        return s
    }

    /// Parses arguments the way absl does: `--flag=value`, `--flag value`, `-flag value`, a bare `--flag` or `--noflag`
    /// for booleans (and, beyond absl, `--flag true|false`). `--` ends the flags.
    func parse(_ args: [String]) throws -> ParsedFlags {
        var values: [String: String] = [:]
        var positional: [String] = []
        let byName = Dictionary(uniqueKeysWithValues: flags.map { ($0.name, $0) })
        var i = 0
        var flagsEnded = false
        while i < args.count {
            let a = args[i]
            i += 1
            if flagsEnded || !a.hasPrefix("-") || a == "-" || Double(a) != nil {
                positional.append(a); continue
            }
            if a == "--" { flagsEnded = true; continue }
            var name = String(a.drop { $0 == "-" }), value: String? = nil
            if let eq = name.firstIndex(of: "=") { value = String(name[name.index(after: eq)...]); name = String(name[..<eq]) }
            if name == "h" || name == "help" { throw HelpRequested() }
            var flag = byName[name]
            if flag == nil, value == nil, name.hasPrefix("no"), let b = byName[String(name.dropFirst(2))], b.kind == .bool {
                flag = b; value = "false"
            }
            guard let flag else { throw CLIError(unknownFlagMessage(name)) }
            if value == nil {
                if flag.kind == .bool {
                    if i < args.count, let b = Self.boolLiteral(args[i]) { value = b ? "true" : "false"; i += 1 } else { value = "true" }
                } else {
                    guard i < args.count else { throw CLIError("--\(flag.name) needs a value: \(flag.help)") }
                    value = args[i]; i += 1
                }
            }
            values[flag.name] = try check(flag, value!)
        }
        if let p = positionals {
            guard positional.count >= p.min && positional.count <= p.max else {
                throw CLIError("expected \(p.min == p.max ? "\(p.min)" : "\(p.min) to \(p.max == Int.max ? "any number of" : "\(p.max)")") \(p.name), got \(positional.count); usage: dreamlab \(name) \(usage)")
            }
        } else if let extra = positional.first {
            throw CLIError("unexpected argument \"\(extra)\"; flags look like --layer_id 5 (see dreamlab \(name) --help)")
        }
        return ParsedFlags(command: self, values: values, positional: positional)
    }

    private func check(_ flag: Flag, _ value: String) throws -> String {
        switch flag.kind {
        case .int:
            guard Int(value) != nil else { throw CLIError("--\(flag.name) must be an integer, got \"\(value)\"") }
        case .float:
            guard let x = Double(value), x.isFinite else { throw CLIError("--\(flag.name) must be a finite number, got \"\(value)\"") }
        case .bool:
            guard Self.boolLiteral(value) != nil else { throw CLIError("--\(flag.name) is true or false, got \"\(value)\"") }
        case .string: break
        }
        if let why = flag.refusal, value != flag.defaultValue { throw CLIError("--\(flag.name) \(value): \(why)") }
        return value
    }

    private func unknownFlagMessage(_ name: String) -> String {
        let names = flags.map(\.name)
        let close = names.filter { editDistance($0, name) <= 2 || $0.hasPrefix(name) || name.hasPrefix($0) }
        return "unknown flag --\(name)\(close.isEmpty ? "" : " (did you mean --\(close.joined(separator: " or --"))?)"); dreamlab \(self.name) takes "
            + names.map { "--" + $0 }.joined(separator: " ")
    }

    static func boolLiteral(_ s: String) -> Bool? {
        switch s.lowercased() {
        case "true", "1", "yes": return true
        case "false", "0", "no": return false
        default: return nil
        }
    }
}

struct HelpRequested: Error {}

/// A subcommand's parsed flags: every flag has a value (its default when not given).
struct ParsedFlags {
    let command: Subcommand
    let values: [String: String]
    let positional: [String]

    private func raw(_ k: String) -> String {
        guard let f = command.flags.first(where: { $0.name == k }) else { preconditionFailure("dreamlab \(command.name) has no flag --\(k)") }
        return values[k] ?? f.defaultValue
    }
    func given(_ k: String) -> Bool { values[k] != nil }
    func string(_ k: String) -> String { raw(k) }
    /// nil when empty: an optional path or name.
    func optional(_ k: String) -> String? { let v = raw(k); return v.isEmpty ? nil : v }
    func int(_ k: String) -> Int { Int(raw(k))! }
    func float(_ k: String) -> Float { Float(raw(k))! }
    func bool(_ k: String) -> Bool { Subcommand.boolLiteral(raw(k))! }
}

/// Levenshtein distance, for "did you mean".
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
    var row = Array(0...b.count)
    for i in 1...a.count {
        var prev = row[0]
        row[0] = i
        for j in 1...b.count {
            let cur = row[j]
            row[j] = min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] == b[j - 1] ? 0 : 1))
            prev = cur
        }
    }
    return row[b.count]
}
