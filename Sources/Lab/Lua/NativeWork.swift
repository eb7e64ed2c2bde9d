import CLua
import Engine

/// Set while native work runs: Ctrl-C then only asks the work to stop at its next step (see Signals.swift).
nonisolated(unsafe) private(set) var nativeWorkRunning = false

/// The one owner of Ctrl-C state for native work (a dream, a search, a sweep). The outermost scope clears the
/// request on entry and exit; an inner scope (a dream inside a λ sweep) leaves it alone, so one Ctrl-C stops the
/// whole outer job. Bindings never longjmp through Swift (see Lua.swift), so the exit always runs.
enum NativeWork {
    static func run<T>(_ body: () throws -> T) rethrows -> T {
        let outer = nativeWorkRunning
        if !outer { interruptRequested.store(false, ordering: .relaxed) }
        nativeWorkRunning = true
        defer {
            nativeWorkRunning = outer
            if !outer {
                // The work saw the Ctrl-C and returned what it had: the statement that receives the result completes
                // (r = lab.dream{...} keeps r), then the rest of the chunk stops at its next line or loop iteration.
                let interrupted = interruptRequested.load(ordering: .relaxed)
                interruptRequested.store(false, ordering: .relaxed)
                if let L = interruptibleState {
                    if interrupted { dl_arm_interrupt_at_line(L) } else { dl_disarm_interrupt(L) }
                }
            }
        }
        return try body()
    }
}
