/// The files in Resources/, embedded at build time (Package.swift), as text.
enum EmbeddedResource {
    static let help = text(PackageResources.help_lua)
    static let completion = text(PackageResources.completion_lua)
    static let sandbox = text(PackageResources.sandbox_lua)
    static let pluginChild = text(PackageResources.plugin_child_lua)
    static let reportHTML = text(PackageResources.report_html)
    static let reportJS = text(PackageResources.report_js)

    /// Every embedded Lua file with the chunk name it loads under (also syntax-checked by the tests).
    static let luaFiles = [("help.lua", help), ("completion.lua", completion), ("sandbox.lua", sandbox), ("plugin_child.lua", pluginChild)]

    private static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
}
