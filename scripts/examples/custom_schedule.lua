-- A temperature schedule written in Lua: hold T=2 for 100 steps, then decay geometrically to 0.05 so that the
-- relaxation actually becomes nearly one-hot (PAIR's default never gets colder than about 0.49 in 3000 steps).
-- usage: dreamlab run scripts/examples/custom_schedule.lua [steps=800]
local steps = tonumber(arg[1]) or 800
local function schedule(step)
  if step < 100 then return 2.0 end
  local f = (step - 100) / math.max(1, steps - 100)
  return 2.0 * (0.05 / 2.0) ^ f
end
local m = lab.load()
local r = lab.dream{model=m, first=2, last=2, objective=lab.objectives.neuron{model=m, layer=5, word=2, unit=300},
                    steps=steps, temperature=schedule, every=100}
for _, rec in ipairs(r.history) do
  print(string.format("step %5d  T=%.3f  soft %.4f  discrete %.4f  %s", rec.number, rec.temperature, rec.activation,
                      rec.ids_activation, rec.tokens[3]))
end
print("best:", r.best.text, r.best.activation)
