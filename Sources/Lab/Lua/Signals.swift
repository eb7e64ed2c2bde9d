import CLua
import CReadline
import Engine
import Foundation

/// The Lua state Ctrl-C should interrupt (set by the interpreter).
nonisolated(unsafe) var interruptibleState: OpaquePointer? = nil
nonisolated(unsafe) var lastInterrupt: Double = 0

/// Ctrl-C, as lua.c does it: the handler only sets flags. Native work (a dream, a search) polls
/// `interruptRequested` at each step and returns what it has; Lua code gets a hook that raises "interrupted!".
/// A second Ctrl-C within a second while native work runs ends the process (results are written atomically,
/// so nothing on disk is half-written).
func installSignalHandler() {
    signal(SIGINT) { _ in
        var ts = timespec(); clock_gettime(CLOCK_MONOTONIC, &ts)
        let now = Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
        if atPrompt {
            // At the prompt Ctrl-C clears the line, as in a shell, and drops a chunk still waiting for its end.
            dropPendingChunk = true
            dl_rl_set_prompt("> ")
            dl_rl_clear_line()
            return
        }
        if nativeWorkRunning {
            if interruptRequested.load(ordering: .relaxed) && now - lastInterrupt < 1 { _exit(130) }
            interruptRequested.store(true, ordering: .relaxed)
            // A Lua callback of the native work (on_step, a schedule, a sweep's template) may be what is running:
            // it gets "interrupted!" too. NativeWork disarms the hook if no Lua ran before the work returned.
            if let L = interruptibleState { dl_arm_interrupt(L) }
        } else if let L = interruptibleState {
            dl_arm_interrupt(L)
        } else {
            _exit(130)
        }
        lastInterrupt = now
    }
}
