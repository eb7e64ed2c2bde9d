import CLua
import Foundation

/// Lua value -> JSON-ready Swift value. Tables with keys 1..n are arrays; other tables are objects.
func luaToJSON(_ L: OpaquePointer, _ i: Int32, depth: Int = 0) throws -> Any {
    guard depth < 100 else { throw LuaError("lab.json.encode: nesting deeper than 100 (a cycle?)") }
    guard lua_checkstack(L, 4) != 0 else { throw LuaError("lab.json.encode: out of Lua stack space") }
    let idx = lua_absindex(L, i)
    switch lua_type(L, idx) {
    case LUA_TNIL: return NSNull()
    case LUA_TBOOLEAN: return lua_toboolean(L, idx) != 0
    case LUA_TNUMBER:
        if lua_isinteger(L, idx) != 0 { return Int(dl_tointeger(L, idx, nil)) }
        let d = dl_tonumber(L, idx, nil)
        guard d.isFinite else { throw LuaError("lab.json.encode: \(d) has no JSON form; replace NaN/inf before encoding") }
        return d
    case LUA_TSTRING: return String(cString: dl_tostring(L, idx))
    case LUA_TLIGHTUSERDATA where lua_touserdata(L, idx) == jsonNullSentinel: return NSNull()
    case LUA_TTABLE:
        let n = Int(lua_rawlen(L, idx))
        var count = 0
        lua_pushnil(L)
        while lua_next(L, idx) != 0 { count += 1; dl_pop(L, 1) }
        if count == n && n > 0 {
            var arr: [Any] = []
            for k in 1...n { lua_rawgeti(L, idx, lua_Integer(k)); arr.append(try luaToJSON(L, -1, depth: depth + 1)); dl_pop(L, 1) }
            return arr
        }
        var obj: [String: Any] = [:]
        lua_pushnil(L)
        while lua_next(L, idx) != 0 {
            let key: String
            if lua_type(L, -2) == LUA_TSTRING { key = String(cString: dl_tostring(L, -2)) }
            else if lua_type(L, -2) == LUA_TNUMBER { lua_pushvalue(L, -2); key = String(cString: dl_tostring(L, -1)); dl_pop(L, 1) }
            else { dl_pop(L, 2); throw LuaError("lab.json.encode: table keys must be strings or numbers, got \(luaTypeName(L, -2))") }
            do { obj[key] = try luaToJSON(L, -1, depth: depth + 1) } catch { dl_pop(L, 2); throw error }
            dl_pop(L, 1)
        }
        return obj
    default:
        throw LuaError("lab.json.encode: a \(luaTypeName(L, idx)) has no JSON form")
    }
}

/// JSON value -> Lua value on the stack. Every level makes room on the Lua stack first (deep JSON is refused
/// at decode time; see lab.json.decode).
func pushJSON(_ L: OpaquePointer, _ v: Any) {
    guard lua_checkstack(L, 3) != 0 else { lua_pushnil(L); return }
    switch v {
    case is NSNull: lua_pushlightuserdata(L, jsonNullSentinel)
    case let b as Bool where type(of: v) == Bool.self || "\(type(of: v))".contains("Bool"): lua_pushboolean(L, b ? 1 : 0)
    case let n as NSNumber:
        let d = n.doubleValue
        if d == d.rounded(), abs(d) < 9e15, !"\(n)".contains(".") && !"\(n)".contains("e") { lua_pushinteger(L, lua_Integer(n.int64Value)) }
        else { lua_pushnumber(L, d) }
    case let s as String: lua_pushstring(L, s)
    case let a as [Any]: pushList(L, a) { pushJSON(L, $0) }
    case let o as [String: Any]:
        lua_createtable(L, 0, Int32(o.count))
        for (k, x) in o { pushJSON(L, x); lua_setfield(L, -2, k) }
    default: lua_pushnil(L)
    }
}

nonisolated(unsafe) let jsonNullSentinel = UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 1)

func jsonString(_ value: Any, pretty: Bool = false) throws -> String {
    let data = try JSONSerialization.data(withJSONObject: value, options: pretty ? [.prettyPrinted, .sortedKeys, .fragmentsAllowed] : [.sortedKeys, .fragmentsAllowed])
    return String(decoding: data, as: UTF8.self)
}

let jsonEncode: LuaFn = { L in luaBinding(L) { L in
    let v = try luaToJSON(L, 1)
    let pretty = lua_toboolean(L, 2) != 0
    push(L, try jsonString(v, pretty: pretty))
    return 1
} }

let jsonDecode: LuaFn = { L in luaBinding(L) { L in
    let s = try argString(L, 1, "JSON text")
    let v: Any
    do { v = try JSONSerialization.jsonObject(with: Data(s.utf8), options: [.fragmentsAllowed]) } catch {
        throw LuaError("lab.json.decode: not valid JSON (\(error.localizedDescription))")
    }
    pushJSON(L, v)
    return 1
} }

/// Leaves the `json` table on the stack.
func installJSON(_ L: OpaquePointer) {
    lua_createtable(L, 0, 3)
    setField(L, "encode", jsonEncode)
    setField(L, "decode", jsonDecode)
    lua_pushlightuserdata(L, jsonNullSentinel); lua_setfield(L, -2, "null")
}

/// A Codable result as plain JSON values, to push into Lua with the same keys its file has.
func jsonObject<T: Encodable>(_ value: T) throws -> Any {
    try JSONSerialization.jsonObject(with: JSONEncoder().encode(value), options: [.fragmentsAllowed])
}
