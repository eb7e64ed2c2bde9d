import Foundation

/// One updating terminal line for long work: step, steps/s, ETA, temperature, activation and tokens.
/// Quiet when stderr is not a terminal, or after lab.quiet(true).
nonisolated(unsafe) var progressQuiet = false

final class Progress {
    /// Steps in all (a sweep learns it from its first report) and the line's label (a λ sweep relabels it per λ).
    var total: Int, label: String
    let enabled: Bool
    var start = Date()
    var last = Date.distantPast
    var shown = false
    /// The progress line now on the terminal, so the work's owner can clear it however the work ended.
    nonisolated(unsafe) private weak static var active: Progress?

    init(total: Int, label: String, quiet: Bool = false) {
        self.total = total; self.label = label
        enabled = !quiet && !progressQuiet && isatty(2) != 0
    }

    func update(step: Int, temperature: Float? = nil, activation: Float? = nil, best: Float? = nil, tokens: [String] = []) {
        guard enabled else { return }
        let now = Date()
        guard now.timeIntervalSince(last) > 0.1 || step == total else { return }
        last = now
        let el = now.timeIntervalSince(start)
        let rate = el > 0 ? Double(step) / el : 0
        let eta = rate > 0 ? Double(total - step) / rate : 0
        var s = String(format: "\r\u{1B}[K%@ %d/%d  %.1f/s  ETA %.0fs", label, step, total, rate, eta)
        if let t = temperature { s += String(format: "  T=%.3f", Double(t)) }
        if let a = activation { s += String(format: "  act=%.4f", Double(a)) }
        if let b = best { s += String(format: "  best=%.4f", Double(b)) }
        if !tokens.isEmpty { s += "  " + tokens.joined(separator: " ").prefix(40) }
        FileHandle.standardError.write(Data(s.utf8))
        shown = true
        Progress.active = self
    }

    func finish() {
        if shown { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        shown = false
    }

    /// Starts over for the next part of the work (a λ sweep's next dream).
    func restart(label: String) { finish(); self.label = label; start = Date(); last = .distantPast }

    /// Clears whatever progress line is showing.
    static func clearLine() { active?.finish() }

}
