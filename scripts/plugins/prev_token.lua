-- prev_token: how strongly a head attends from each position to the position just before it
-- (the "previous-token head" pattern). Maximise it to find inputs that make the head behave that way.
--   local p = lab.plugin("prev_token")
--   local obj = p.prev_token(3, 7, {to=5})      -- layer 3, head 7, queries 1..5 (the default sentence has T=7)
--   local obj = p.prev_token(3, 7, {from=2, to=5})  -- only queries 2..5
-- Value: mean over the chosen queries q of pattern[head][q][q-1].
return {
  prev_token = function(layer, head, opts)
    opts = opts or {}
    local name = string.format("prev_token(L%d,h%d)", layer, head)
    return lab.objective(function(a)
      local pat = a["blocks." .. layer .. ".attn.hook_pattern"][head]
      local first, last = opts.from or 1, opts.to
      local s, n = 0, 0
      -- T is not known while tracing; without `to` the plugin covers queries first..first+7.
      for q = first, last or (first + 7) do
        s = s + pat[q][q - 1]
        n = n + 1
      end
      return s / n
    end, name)
  end,
}
