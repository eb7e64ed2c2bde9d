#ifndef DREAMLAB_LUA_SHIM_H
#define DREAMLAB_LUA_SHIM_H
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#include <string.h>
#include <stdlib.h>
#include <stdio.h>
#include <signal.h>
#include <unistd.h>

// Lua's macros as functions Swift can call.
static inline void dl_pop(lua_State *L, int n) { lua_settop(L, -(n)-1); }
static inline const char *dl_tostring(lua_State *L, int i) { return lua_tolstring(L, i, NULL); }
static inline lua_Number dl_tonumber(lua_State *L, int i, int *isnum) { return lua_tonumberx(L, i, isnum); }
static inline lua_Integer dl_tointeger(lua_State *L, int i, int *isnum) { return lua_tointegerx(L, i, isnum); }
static inline int dl_isnoneornil(lua_State *L, int i) { return lua_type(L, i) <= 0; }
static inline int dl_registryindex(void) { return LUA_REGISTRYINDEX; }
static inline void dl_push_globals(lua_State *L) { lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS); }
static inline void *dl_newuserdata(lua_State *L, size_t n) { return lua_newuserdatauv(L, n, 1); }
static inline int dl_loadbuffer(lua_State *L, const char *s, size_t n, const char *name, const char *mode) {
    return luaL_loadbufferx(L, s, n, name, mode);
}
static inline int dl_getmetatable(lua_State *L, const char *name) { lua_pushstring(L, name); return lua_rawget(L, LUA_REGISTRYINDEX); }
static inline void dl_remove(lua_State *L, int idx) { lua_rotate(L, idx, -1); lua_settop(L, -2); }

// A native function implemented in Swift. It returns the number of results, or -1 after
// pushing an error message; the trampoline then raises the Lua error, so no longjmp
// ever crosses a Swift frame.
typedef int (*dl_swift_fn)(lua_State *L);

// The allocator's bookkeeping. `cap` is the state's own memory cap (0: none); `limit` is the cap in force, lower
// while a plugin runs. `in_swift` is set while a Swift function is the innermost native code.
// In a plugin's own process (`child`), running out of budget, memory or CPU time ends the process at once with a
// message on stop_fd, so no pcall in plugin code can catch it; `where` is the plugin line last seen by the count hook.
typedef struct {
    size_t used; size_t limit; size_t cap; long long budget; int in_swift; int over_limit; int interrupt_armed;
    int child; int stop_fd; int lines_seen; long long budget_total; long long seconds; long long space_mb; char where[256];
} dl_limits;
static inline dl_limits *dl_get_limits(lua_State *L) {
    void *ud = NULL;
    lua_getallocf(L, &ud);
    return (dl_limits *)ud;
}

// Ctrl-C, as lua.c: the signal handler only sets this hook; the hook raises inside Lua. `interrupt_armed` says
// whether it is still set, so native work that ran no Lua after the signal can take it back.
static inline void dl_interrupt_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    dl_get_limits(L)->interrupt_armed = 0;
    lua_sethook(L, NULL, 0, 0);
    luaL_error(L, "interrupted!");
}
static inline void dl_arm_interrupt(lua_State *L) {
    dl_get_limits(L)->interrupt_armed = 1;
    lua_sethook(L, dl_interrupt_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT, 1);
}
// After native work that Ctrl-C stopped: the statement that receives its result finishes, and "interrupted!" is
// raised at the next line or loop iteration, so the rest of the chunk (a loop of dreams) stops too.
static inline void dl_arm_interrupt_at_line(lua_State *L) {
    dl_get_limits(L)->interrupt_armed = 1;
    lua_sethook(L, dl_interrupt_hook, LUA_MASKLINE, 0);
}
static inline int dl_interrupt_pending(lua_State *L) { return dl_get_limits(L)->interrupt_armed; }
static inline void dl_disarm_interrupt(lua_State *L) {
    dl_limits *lim = dl_get_limits(L);
    if (lim->interrupt_armed) { lim->interrupt_armed = 0; lua_sethook(L, NULL, 0, 0); }
}

// While Swift code runs the allocator never fails: a failed allocation would raise a Lua memory error that
// longjmps through Swift frames. It records the overrun instead, and the trampoline raises the memory error
// here, in C, once the Swift frame has returned.
static inline int dl_trampoline(lua_State *L) {
    dl_swift_fn fn = (dl_swift_fn)lua_touserdata(L, lua_upvalueindex(1));
    dl_limits *lim = dl_get_limits(L);
    // Each frame owns its overrun: a finalizer run by a GC step inside another binding neither takes nor clears
    // the outer binding's flag.
    int outer = lim->in_swift, outer_over = lim->over_limit;
    lim->in_swift = 1;
    lim->over_limit = 0;
    int n = fn(L);
    int over = lim->over_limit;
    lim->in_swift = outer;
    lim->over_limit = outer_over;
    if (over) {
        lua_settop(L, 0);
        return luaL_error(L, "not enough memory: Lua reached its memory cap of %d MB (DREAMLAB_LUA_MEMORY); "
                             "keep fewer results alive or raise the cap", (int)(lim->limit >> 20));
    }
    if (n < 0) return lua_error(L);
    return n;
}

// Every pcall Swift makes: inside it Lua may raise again (the pcall in C catches it), so the allocator may fail.
static inline int dl_pcall(lua_State *L, int nargs, int nres, int msgh) {
    dl_limits *lim = dl_get_limits(L);
    int outer = lim->in_swift, outer_over = lim->over_limit;
    lim->in_swift = 0;
    lim->over_limit = 0;
    int rc = lua_pcallk(L, nargs, nres, msgh, 0, NULL);
    lim->in_swift = outer;
    lim->over_limit = outer_over;
    return rc;
}
static inline void dl_push_swift_function(lua_State *L, dl_swift_fn fn) {
    lua_pushlightuserdata(L, (void *)fn);
    lua_pushcclosure(L, dl_trampoline, 1);
}
// The same with the n values on top of the stack as upvalues 2...n+1 (the function is upvalue 1).
static inline void dl_push_swift_closure(lua_State *L, dl_swift_fn fn, int n) {
    lua_pushlightuserdata(L, (void *)fn);
    lua_rotate(L, -(n + 1), 1);
    lua_pushcclosure(L, dl_trampoline, n + 1);
}
static inline int dl_upvalue(int i) { return lua_upvalueindex(i); }

// Message handler for pcall: the error message plus a traceback, as lua.c does.
static inline int dl_traceback(lua_State *L) {
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}
static inline void dl_push_traceback_handler(lua_State *L) { lua_pushcfunction(L, dl_traceback); }

// Ends a plugin's process: "stopped <where>: <message>" on stop_fd (the parent reads it), then _exit(3). Only
// async-signal-safe calls, since the CPU-time signal lands here too.
static inline void dl_child_stop(dl_limits *lim, const char *fmt, long long n) {
    char msg[768];
    int k = snprintf(msg, sizeof msg, "\nDREAMLAB-PLUGIN-STOP plugin stopped at %s: ", lim->where[0] ? lim->where : "(start)");
    if (k < 0 || k >= (int)sizeof msg) k = 0;
    int m = snprintf(msg + k, sizeof msg - k, fmt, n);
    if (m > 0) k += m < (int)(sizeof msg - k) ? m : (int)(sizeof msg - k) - 1;
    ssize_t w = write(lim->stop_fd, msg, (size_t)k); (void)w;
    _exit(3);
}
// The child's CPU-time limit (RLIMIT_CPU sends SIGXCPU at the soft limit).
// A function-local static: Swift's importer emits no file-scope statics from a header.
static inline dl_limits **dl_child_slot(void) { static dl_limits *lim; return &lim; }
static inline void dl_child_xcpu(int sig) {
    (void)sig;
    dl_limits *lim = *dl_child_slot();
    dl_child_stop(lim, "used its %lld s of CPU time (an endless loop in a library call?); raise it with lab.plugin(name, {seconds=N}) if the work is legitimate", lim->seconds);
}
// A native allocation past the address-space limit aborts (Swift's allocator traps): say which plugin line did it.
static inline void dl_child_abort(int sig) {
    (void)sig;
    dl_limits *lim = *dl_child_slot();
    dl_child_stop(lim, "went over its memory limit (%lld MB of address space for models, traces and Lua); raise it with lab.plugin(name, {memory=bytes}) if that is legitimate", lim->space_mb);
}
static inline void dl_child_install(dl_limits *lim, long long seconds, int stop_fd, long long space_mb) {
    lim->child = 1;
    lim->stop_fd = stop_fd;
    lim->seconds = seconds;
    lim->space_mb = space_mb;
    *dl_child_slot() = lim;
    signal(SIGXCPU, dl_child_xcpu);
    signal(SIGABRT, dl_child_abort);
    signal(SIGSEGV, dl_child_abort);
    signal(SIGBUS, dl_child_abort);
    signal(SIGTRAP, dl_child_abort);
    signal(SIGILL, dl_child_abort);
}

// Limits: an allocator that can cap memory (the prompt's DREAMLAB_LUA_MEMORY, a plugin's heap) and a count hook that
// spends a plugin's instruction budget. Both live in C: exceeding them raises a Lua error (a longjmp) in the host, and
// ends the process in a plugin's.
static inline void *dl_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    dl_limits *lim = (dl_limits *)ud;
    size_t old = ptr ? osize : 0;   // with ptr NULL, osize is a type tag, not a size
    if (nsize == 0) { lim->used -= old; free(ptr); return NULL; }
    if (lim->limit && nsize > old && lim->used - old + nsize > lim->limit) {
        if (lim->child) dl_child_stop(lim, "went over its memory cap of %lld MB; raise it with lab.plugin(name, {memory=bytes}) if that is legitimate", (long long)(lim->limit >> 20));
        if (!lim->in_swift) return NULL;
        lim->over_limit = 1;   // raised by the trampoline once the Swift frame is gone
    }
    void *p = realloc(ptr, nsize);
    if (p) lim->used = lim->used - old + nsize;
    return p;
}

static inline void dl_budget_hook(lua_State *L, lua_Debug *ar) {
    dl_limits *lim = dl_get_limits(L);
    // Only in a plugin's own process (lab.__limits exists nowhere else). Line events (the first few thousand, so a
    // stall inside one library call is placed) and count events both record where the plugin is; only count events
    // spend the budget.
    if (ar->event == LUA_HOOKLINE) {
        if (++lim->lines_seen >= 4096) lua_sethook(L, dl_budget_hook, LUA_MASKCOUNT, 1000);
    } else {
        lim->budget -= 1000;
    }
    lua_getinfo(L, "Sl", ar);
    snprintf(lim->where, sizeof lim->where, "%s:%d", ar->short_src, ar->currentline);
    if (lim->budget <= 0)
        dl_child_stop(lim, "used up its instruction budget of %lld (an endless loop?); raise it with lab.plugin(name, {instructions=N}) if the work is legitimate", lim->budget_total);
}

// An error with no pcall to catch it (a bug: Swift only calls raising functions inside dl_pcall) ends the process
// with a message instead of an unexplained abort.
static inline int dl_panic(lua_State *L) {
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "dreamlab: unprotected Lua error (a Dreamlab bug, please report it): %s\n", msg ? msg : "?");
    return 0;   // Lua then aborts
}
// Host Swift code (outside any binding) counts as Swift: the allocator never fails under it (in_swift = 1).
static inline lua_State *dl_newstate(dl_limits *lim) {
    lim->in_swift = 1;
    lua_State *L = lua_newstate(dl_alloc, lim);
    if (L) lua_atpanic(L, dl_panic);
    return L;
}
static inline void dl_set_memory_cap(lua_State *L, size_t bytes) { dl_limits *lim = dl_get_limits(L); lim->cap = bytes; lim->limit = bytes; }
static inline void dl_begin_limits(lua_State *L, long long instructions, size_t memory) {
    dl_limits *lim = dl_get_limits(L);
    lim->budget_total = instructions;
    lim->budget = instructions;
    lim->limit = memory ? lim->used + memory : lim->cap;
    if (lim->cap && (lim->limit == 0 || lim->limit > lim->cap)) lim->limit = lim->cap;
    if (instructions > 0) lua_sethook(L, dl_budget_hook, LUA_MASKCOUNT | LUA_MASKLINE, 1000);
}
static inline void dl_end_limits(lua_State *L) {
    dl_limits *lim = dl_get_limits(L);
    lim->limit = lim->cap;
    lim->budget = 0;
    lua_sethook(L, NULL, 0, 0);
}
static inline size_t dl_memory_used(lua_State *L) { return dl_get_limits(L)->used; }
#endif
