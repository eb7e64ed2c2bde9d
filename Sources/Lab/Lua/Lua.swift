import CLua
import Foundation

/// A Swift error raised from a Lua binding: its message becomes the Lua error.
struct LuaError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

typealias LuaFn = @convention(c) (OpaquePointer?) -> Int32

/// Runs a binding body. Swift errors become a pushed message and -1; the C trampoline then raises the
/// Lua error after this Swift frame has returned, so no longjmp ever crosses Swift code.
@inline(__always)
func luaBinding(_ L: OpaquePointer?, _ body: (OpaquePointer) throws -> Int32) -> Int32 {
    guard let L else { return 0 }
    do { return try body(L) } catch {
        let msg = String(describing: error)
        lua_settop(L, 0)
        luaL_where(L, 1)
        lua_pushstring(L, msg)
        lua_concat(L, 2)
        return -1
    }
}

/// Pushes a Swift-implemented function wrapped by the C trampoline.
func pushFunction(_ L: OpaquePointer, _ fn: LuaFn) {
    dl_push_swift_function(L, fn)
}

func setField(_ L: OpaquePointer, _ name: String, _ fn: LuaFn) {
    pushFunction(L, fn)
    lua_setfield(L, -2, name)
}

// MARK: - reading arguments (never raising: errors are Swift throws)

func luaTypeName(_ L: OpaquePointer, _ i: Int32) -> String { String(cString: lua_typename(L, lua_type(L, i))) }

func argString(_ L: OpaquePointer, _ i: Int32, _ what: String) throws -> String {
    guard lua_type(L, i) == LUA_TSTRING || lua_type(L, i) == LUA_TNUMBER, let p = dl_tostring(L, i) else {
        throw LuaError("\(what) must be a string, got \(luaTypeName(L, i))")
    }
    return String(cString: p)
}

func argInt(_ L: OpaquePointer, _ i: Int32, _ what: String) throws -> Int {
    var ok: Int32 = 0
    let v = dl_tointeger(L, i, &ok)
    guard ok != 0 else {
        if lua_type(L, i) == LUA_TNUMBER { throw LuaError("\(what) must be an integer, got \(dl_tonumber(L, i, nil))") }
        throw LuaError("\(what) must be an integer, got \(luaTypeName(L, i))")
    }
    return Int(v)
}

func argNumber(_ L: OpaquePointer, _ i: Int32, _ what: String) throws -> Double {
    var ok: Int32 = 0
    let v = dl_tonumber(L, i, &ok)
    guard ok != 0 else { throw LuaError("\(what) must be a number, got \(luaTypeName(L, i))") }
    return v
}

/// Reads a Lua sequence of integers.
func argIntList(_ L: OpaquePointer, _ i: Int32, _ what: String) throws -> [Int] {
    guard lua_type(L, i) == LUA_TTABLE else { throw LuaError("\(what) must be a list of integers, got \(luaTypeName(L, i))") }
    let idx = lua_absindex(L, i)
    let n = Int(lua_rawlen(L, idx))   // raw: a lying __len or a raising __index never runs from Swift
    var out: [Int] = []
    out.reserveCapacity(n)
    for k in 1...max(n, 1) where n > 0 {
        lua_rawgeti(L, idx, lua_Integer(k))
        defer { dl_pop(L, 1) }
        out.append(try argInt(L, -1, "\(what)[\(k)]"))
    }
    return out
}

/// Pushes t[key] for the table at `index` without metamethods (a user's __index never runs from Swift); returns its type.
@discardableResult
func rawField(_ L: OpaquePointer, _ index: Int32, _ key: String) -> Int32 {
    let t = lua_absindex(L, index)
    lua_pushstring(L, key)
    return lua_rawget(L, t)
}

/// Pushes method `key` of a class whose __index is a function (its methods table sits in the registry), or nil.
func pushMethod(_ L: OpaquePointer, _ className: String, _ key: String) {
    rawField(L, dl_registryindex(), className + ".methods")
    rawField(L, -1, key)
    dl_remove(L, -2)
}

/// Pushes the global `name` without metamethods of _G.
@discardableResult
func rawGetGlobal(_ L: OpaquePointer, _ name: String) -> Int32 {
    dl_push_globals(L)
    let t = rawField(L, -1, name)
    dl_remove(L, -2)
    return t
}

/// Pops the top value into the global `name` without metamethods of _G.
func rawSetGlobal(_ L: OpaquePointer, _ name: String) {
    dl_push_globals(L)
    lua_pushstring(L, name)
    lua_rotate(L, -3, -1)   // globals, name, value
    lua_rawset(L, -3)
    dl_pop(L, 1)
}

// MARK: - pushing values

func push(_ L: OpaquePointer, _ s: String) { lua_pushstring(L, s) }

func pushList<T>(_ L: OpaquePointer, _ xs: [T], _ each: (T) -> Void) {
    lua_createtable(L, Int32(xs.count), 0)
    for (k, x) in xs.enumerated() { each(x); lua_seti(L, -2, lua_Integer(k + 1)) }
}

func pushStrings(_ L: OpaquePointer, _ xs: [String]) { pushList(L, xs) { lua_pushstring(L, $0) } }
func pushInts(_ L: OpaquePointer, _ xs: [Int]) { pushList(L, xs) { lua_pushinteger(L, lua_Integer($0)) } }
func pushNumbers(_ L: OpaquePointer, _ xs: [Float]) { pushList(L, xs) { lua_pushnumber(L, lua_Number($0)) } }

// MARK: - userdata holding Swift objects

final class Box<T>: @unchecked Sendable { let value: T; init(_ v: T) { value = v } }

/// Pushes a userdata that retains `object`, with the named metatable (created elsewhere).
func pushObject<T>(_ L: OpaquePointer, _ object: T, metatable: String) {
    let raw = dl_newuserdata(L, MemoryLayout<UnsafeMutableRawPointer>.size)!
    raw.storeBytes(of: Unmanaged.passRetained(Box(object)).toOpaque(), as: UnsafeMutableRawPointer.self)
    luaL_setmetatable(L, metatable)
}

/// The object in the userdata at `i`, if it carries the named metatable.
func toObject<T>(_ L: OpaquePointer, _ i: Int32, metatable: String, as: T.Type) -> T? {
    guard let raw = luaL_testudata(L, i, metatable) else { return nil }
    let p = raw.load(as: UnsafeMutableRawPointer?.self)
    guard let p else { return nil }
    return Unmanaged<Box<T>>.fromOpaque(p).takeUnretainedValue().value
}

/// __gc for every object userdata: releases the Swift box once. Called by hand on a foreign userdata (through
/// getmetatable(x).__gc(y)) it does nothing.
let releaseObject: LuaFn = { L in
    guard let L, lua_type(L, 1) == LUA_TUSERDATA, lua_getmetatable(L, 1) != 0 else { return 0 }
    lua_pushstring(L, "__name")
    let ours = lua_rawget(L, -2) == LUA_TSTRING && String(cString: dl_tostring(L, -1)).hasPrefix("dreamlab.")
    dl_pop(L, 2)
    guard ours, let raw = lua_touserdata(L, 1) else { return 0 }
    if let p = raw.load(as: UnsafeMutableRawPointer?.self) {
        Unmanaged<AnyObject>.fromOpaque(p).release()
        raw.storeBytes(of: nil, as: UnsafeMutableRawPointer?.self)
    }
    return 0
}

/// Creates a metatable with __gc, an optional __tostring, and an __index that finds the methods (kept in the registry
/// as "<name>.methods") and answers a typo with "did you mean".
func defineClass(_ L: OpaquePointer, _ name: String, methods: [(String, LuaFn)], tostring: LuaFn?) {
    luaL_newmetatable(L, name)
    pushFunction(L, releaseObject); lua_setfield(L, -2, "__gc")
    if let tostring { pushFunction(L, tostring); lua_setfield(L, -2, "__tostring") }
    lua_pushstring(L, name); lua_setfield(L, -2, "__name")
    pushFunction(L, methodIndex); lua_setfield(L, -2, "__index")
    dl_pop(L, 1)
    lua_createtable(L, 0, Int32(methods.count))
    for (n, f) in methods { setField(L, n, f) }
    lua_setfield(L, dl_registryindex(), name + ".methods")
}

/// The names in a class's methods table.
func methodNames(_ L: OpaquePointer, _ className: String) -> [String] {
    var out: [String] = []
    guard rawField(L, dl_registryindex(), className + ".methods") == LUA_TTABLE else { dl_pop(L, 1); return [] }
    lua_pushnil(L)
    while lua_next(L, -2) != 0 {
        if lua_type(L, -2) == LUA_TSTRING { out.append(String(cString: dl_tostring(L, -2))) }
        dl_pop(L, 1)
    }
    dl_pop(L, 1)
    return out.sorted()
}

/// Pushes method `key` of the class, or throws naming the class's fields and methods, with "did you mean".
func pushMethodOrFail(_ L: OpaquePointer, _ className: String, _ key: String, fields: [String] = []) throws {
    pushMethod(L, className, key)
    guard lua_type(L, -1) == LUA_TNIL else { return }
    dl_pop(L, 1)
    let methods = methodNames(L, className), what = className.replacingOccurrences(of: "dreamlab.", with: "")
    throw LuaError("\(what) has no field or method \"\(key)\"\(didYouMean(key, fields + methods))\(fields.isEmpty ? "" : "; fields: " + fields.joined(separator: " "))\(methods.isEmpty ? "" : "; methods (call with a colon): " + methods.joined(separator: " ")); help(x) tells more")
}

/// __index of the classes without fields: the methods, or an error with "did you mean".
let methodIndex: LuaFn = { L in luaBinding(L) { L in
    guard lua_getmetatable(L, 1) != 0, rawField(L, -1, "__name") == LUA_TSTRING else { throw LuaError("not a Dreamlab object") }
    let name = String(cString: dl_tostring(L, -1))
    dl_pop(L, 2)
    guard lua_type(L, 2) == LUA_TSTRING else { throw LuaError("\(name.replacingOccurrences(of: "dreamlab.", with: "")) is indexed by method names, got \(luaTypeName(L, 2))") }
    try pushMethodOrFail(L, name, String(cString: dl_tostring(L, 2)))
    return 1
} }

// MARK: - registry references

/// A value kept in the Lua registry for Swift (a temperature function, a callback). `release()` frees the slot;
/// the owner calls it when the work that needed the value ends, so repeated calls leave the registry as it was.
final class LuaRef {
    private let L: OpaquePointer
    private(set) var ref: Int32
    /// Takes the value at the top of the stack (popping it).
    init(popping L: OpaquePointer) { self.L = L; ref = luaL_ref(L, dl_registryindex()) }
    /// Pushes the value (nil once released).
    func push() { if ref == LUA_NOREF { lua_pushnil(L) } else { _ = lua_rawgeti(L, dl_registryindex(), lua_Integer(ref)) } }
    func release() {
        guard ref != LUA_NOREF else { return }
        luaL_unref(L, dl_registryindex(), ref)
        ref = LUA_NOREF
    }
}
