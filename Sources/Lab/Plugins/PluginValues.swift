import CLua
import Engine
import Foundation
import Objectives

/// A value crossing between the host and a plugin's process: data only. Functions, traces and anything else that
/// would let one side run code in the other stay behind, with an error naming what to pass instead.
indirect enum PluginValue: Codable {
    case null
    case bool(Bool)
    case int(Int64)
    case number(Double)
    case string(String)
    case bytes(Data)                     // a Lua string that is not UTF-8
    case table(keys: [PluginValue], values: [PluginValue])
    case model(String)                   // the model's folder; the other side loads its own copy
    case tensor(shape: [Int], data: [Float])
    case objective(ObjectiveRecipe)
    case schedule(keys: [PluginValue], values: [PluginValue])   // a lab.schedules table

    static let maxDepth = 32
    /// Values in one crossing: a plugin's objectives and settings are small; this bounds the host's memory.
    static let maxItems = 1 << 20

    /// Plain JSON with NaN and infinities spelt out (Lua numbers may be either).
    static func encode(_ v: some Encodable) throws -> Data {
        let e = JSONEncoder()
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try e.encode(v)
    }
    static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try d.decode(type, from: data)
    }
}

/// Reads Lua values into PluginValues with raw access only: no metamethod of the value runs.
struct PluginValueReader {
    let L: OpaquePointer
    /// Says where the value came from, for errors: "plugin attend_sep.lua: the result of attend_sep".
    let context: String
    var items = 0

    mutating func read(_ i: Int32, depth: Int = 0) throws -> PluginValue {
        guard depth < PluginValue.maxDepth else { throw LuaError("\(context): tables nested deeper than \(PluginValue.maxDepth) (a table that contains itself?)") }
        guard lua_checkstack(L, 4) != 0 else { throw LuaError("\(context): out of Lua stack space") }
        items += 1
        guard items <= PluginValue.maxItems else { throw LuaError("\(context): more than \(PluginValue.maxItems) values") }
        let idx = lua_absindex(L, i)
        switch lua_type(L, idx) {
        case LUA_TNIL: return .null
        case LUA_TBOOLEAN: return .bool(lua_toboolean(L, idx) != 0)
        case LUA_TNUMBER:
            return lua_isinteger(L, idx) != 0 ? .int(Int64(dl_tointeger(L, idx, nil))) : .number(dl_tonumber(L, idx, nil))
        case LUA_TSTRING:
            var n = 0
            let p = lua_tolstring(L, idx, &n)!
            let bytes = Data(bytes: p, count: n)
            if let s = String(data: bytes, encoding: .utf8) { return .string(s) }
            return .bytes(bytes)
        case LUA_TUSERDATA:
            if let m = toObject(L, idx, metatable: modelClass, as: BertModel.self) { return .model(m.directory) }
            if let t = toObject(L, idx, metatable: tensorClass, as: Tensor.self) { return .tensor(shape: t.shape, data: t.data) }
            if let o = toObject(L, idx, metatable: objectiveClass, as: ActivationObjective.self) {
                do { return .objective(try ObjectiveRecipe(o)) } catch { throw LuaError("\(context): \(error)") }
            }
            if toObject(L, idx, metatable: traceClass, as: Trace.self) != nil {
                throw LuaError("\(context): a trace stays in the process that made it; pass tr:site(name) (a tensor) instead")
            }
            throw LuaError("\(context): a \(luaTypeName(L, idx)) cannot cross to or from a plugin; pass models, tensors, objectives, schedules and plain values")
        case LUA_TTABLE:
            var isSchedule = false
            if lua_getmetatable(L, idx) != 0 {
                _ = dl_getmetatable(L, scheduleClass)
                isSchedule = lua_rawequal(L, -1, -2) != 0
                dl_pop(L, 2)
            }
            var keys: [PluginValue] = [], values: [PluginValue] = []
            lua_pushnil(L)
            while lua_next(L, idx) != 0 {
                do {
                    let k = try read(-2, depth: depth + 1)
                    if case .table = k { throw LuaError("\(context): a table used as a table key cannot cross") }
                    keys.append(k)
                    values.append(try read(-1, depth: depth + 1))
                } catch { dl_pop(L, 2); throw error }
                dl_pop(L, 1)
            }
            return isSchedule ? .schedule(keys: keys, values: values) : .table(keys: keys, values: values)
        case LUA_TFUNCTION:
            throw LuaError("\(context): a function cannot cross to or from a plugin (plugins run in their own process); pass data, and for a temperature schedule a lab.schedules.* table")
        default:
            throw LuaError("\(context): a \(luaTypeName(L, idx)) cannot cross to or from a plugin")
        }
    }
}

/// Pushes PluginValues as Lua values. Objectives are rebuilt for `model` (resolved lazily: the model passed along,
/// else the default one).
struct PluginValuePusher {
    let L: OpaquePointer
    let context: String
    let model: () throws -> BertModel

    func push(_ v: PluginValue, depth: Int = 0) throws {
        guard depth < PluginValue.maxDepth + 1 else { throw LuaError("\(context): values nested too deep") }
        guard lua_checkstack(L, 4) != 0 else { throw LuaError("\(context): out of Lua stack space") }
        switch v {
        case .null: lua_pushnil(L)
        case .bool(let b): lua_pushboolean(L, b ? 1 : 0)
        case .int(let n): lua_pushinteger(L, lua_Integer(n))
        case .number(let d): lua_pushnumber(L, d)
        case .string(let s):
            // With its length: a string may hold NUL bytes.
            var u = s
            u.withUTF8 { b in _ = b.withMemoryRebound(to: CChar.self) { lua_pushlstring(L, $0.baseAddress, $0.count) } }
        case .bytes(let d): _ = d.withUnsafeBytes { lua_pushlstring(L, $0.baseAddress?.assumingMemoryBound(to: CChar.self), d.count) }
        case .model(let dir):
            do { pushObject(L, try loadModel(dir), metatable: modelClass) } catch { throw LuaError("\(context): \(error)") }
        case .tensor(let shape, let data):
            var count = 1
            for s in shape {
                guard s >= 0, !count.multipliedReportingOverflow(by: s).overflow else { throw LuaError("\(context): a tensor of shape \(shape)") }
                count *= s
            }
            guard count == data.count else { throw LuaError("\(context): a tensor of shape \(shape) holds \(data.count) numbers") }
            pushObject(L, Tensor(shape: shape, data: data), metatable: tensorClass)
        case .objective(let recipe):
            do { pushObjective(L, try recipe.objective(for: try model())) } catch let e as LuaError { throw e } catch {
                throw LuaError("\(context): \(error)")
            }
        case .table(let keys, let values), .schedule(let keys, let values):
            guard keys.count == values.count else { throw LuaError("\(context): a table with \(keys.count) keys and \(values.count) values") }
            lua_createtable(L, 0, 0)
            for (k, x) in zip(keys, values) {
                if case .null = k { continue }
                if case .number(let d) = k, d.isNaN { continue }
                try push(k, depth: depth + 1)
                try push(x, depth: depth + 1)
                lua_rawset(L, -3)
            }
            if case .schedule = v { _ = dl_getmetatable(L, scheduleClass); lua_setmetatable(L, -2) }
        }
    }
}

extension PluginValue {
    /// The first model among these values (top level or one table down): the model a plugin's objectives are for.
    static func firstModel(in values: [PluginValue]) -> String? {
        for v in values {
            if case .model(let dir) = v { return dir }
            if case .table(_, let xs) = v { for x in xs { if case .model(let dir) = x { return dir } } }
        }
        return nil
    }
}
