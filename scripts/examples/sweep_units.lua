-- Sweep the first 16 units of a layer: one short dream per unit, one JSON line per unit.
-- usage: dreamlab run scripts/examples/sweep_units.lua [layer=5] [steps=200] [out=out/sweep.jsonl]
local layer = tonumber(arg[1]) or 5
local steps = tonumber(arg[2]) or 200
local path = arg[3] or "out/sweep.jsonl"
local m = lab.load()
os.execute("mkdir -p " .. path:match("^(.*)/") )
local f = assert(io.open(path, "w"))
for unit = 0, 15 do
  local obj = lab.objectives.neuron{model=m, layer=layer, word=2, unit=unit}
  local r = lab.dream{model=m, first=2, last=2, objective=obj, steps=steps, every=steps, quiet=true}
  local line = lab.json.encode({layer=layer, unit=unit, best=r.best.tokens[3], best_activation=r.best.activation,
                                final=r.tokens[3], activation=r.activation, steps_per_second=r.steps_per_second})
  f:write(line, "\n"); f:flush()   -- a line per unit as it finishes: an interrupted sweep keeps what it did
  print(line)
end
f:close()
print("wrote " .. path)
