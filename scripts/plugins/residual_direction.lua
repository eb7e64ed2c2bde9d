-- residual_direction: projection of the residual stream at one position onto a direction, for example the
-- difference between two words' activations (a "concept direction").
--   local p = lab.plugin("residual_direction")
--   local obj = p.between{model=m, layer=4, pos=2, from="good", to="bad"}  -- direction h("bad") - h("good")
--   local obj = p.along{layer=4, pos=2, vector=v}                          -- any list of H numbers
return {
  along = function(args)
    return lab.objectives.direction{site = "blocks." .. args.layer .. ".hook_resid_post", pos = args.pos, vector = args.vector}
  end,
  between = function(args)
    local m = args.model or lab.load()
    local site = "blocks." .. args.layer .. ".hook_resid_post"
    -- Each word alone between [CLS] and [SEP]: its row is position 1.
    local a = m:run(args.from):site(site):totable()[2]
    local b = m:run(args.to):site(site):totable()[2]
    local v, norm = {}, 0
    for i = 1, #a do v[i] = b[i] - a[i]; norm = norm + v[i] * v[i] end
    norm = math.sqrt(norm)
    for i = 1, #v do v[i] = v[i] / norm end
    return lab.objectives.direction{site = site, pos = args.pos, vector = v}
  end,
}
