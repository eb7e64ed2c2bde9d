-- attend_sep: attention mass that one head puts on the final [SEP] from one query position, a common
-- "no-op" sink in BERT. Maximise it (or minimise with a minus sign) to probe when a head parks its attention.
--   local p = lab.plugin("attend_sep")
--   local obj = p.attend_sep{layer=2, head=4, query=2, sep=6}   -- sep: 0-based position of [SEP] in your input
return {
  attend_sep = function(args)
    return lab.objectives.attention{layer = args.layer, head = args.head, from = args.query, to = args.sep}
  end,
}
