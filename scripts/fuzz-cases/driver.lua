-- scripts/fuzz's driver: splits the cases into worker processes, two at a time, and reads their verdicts. A worker that
-- dies (a crash) or outlives its time (a hang) is charged to the case it had started; the rest of its range is rerun.
local usage = [[
usage: scripts/fuzz [--cases N] [--seed S] [--case I] [--jobs J] [--keep]
  --cases N   how many cases (default 3000; the full set is --cases 100000)
  --seed S    the run's seed (default 1); case i of seed S is always the same input
  --case I    replay case I alone and print what it did
  --jobs J    worker processes at a time (default: the CPUs this process may use)
  --keep      keep the work folder (models, plugins and verdicts) for a look afterwards
Families: hostile model folders (40%), hostile calls into every lab.* function and method (50%), hostile plugins (10%).
Exit status 0 only with no crash, no hang and nothing wrongly accepted.]]
local opts = { cases = 3000, seed = 1, jobs = nil, keep = false }
local i = 1
while i <= #arg do
  local a = arg[i]
  if a == "--help" or a == "-h" then print(usage) os.exit(0)
  elseif a == "--keep" then opts.keep = true
  elseif a == "--cases" or a == "--seed" or a == "--case" or a == "--jobs" then
    local v = tonumber(arg[i + 1])
    if not v or v < 0 or v ~= math.floor(v) then io.stderr:write("scripts/fuzz: ", a, " takes a whole number\n", usage, "\n") os.exit(2) end
    opts[a:sub(3)] = math.floor(v); i = i + 1
  else io.stderr:write("scripts/fuzz: unknown argument ", a, "\n", usage, "\n") os.exit(2) end
  i = i + 1
end

local here = arg[0]:match("^(.*)/[^/]*$") or "."
local exe = io.popen("readlink -f /proc/" .. io.open("/proc/self/stat"):read("l"):match("^(%d+)") .. "/exe"):read("l")
local function sh(cmd) local ok, how, code = os.execute(cmd); return ok, how, code end
local work = os.getenv("DREAMLAB_FUZZ_DIR") or ("/tmp/dreamlab-fuzz-" .. os.time() .. "-" .. math.random(1e6))
sh("rm -rf '" .. work .. "' && mkdir -p '" .. work .. "'")
local base = work .. "/base-model"
assert(sh("'" .. exe .. "' random-model --out '" .. base .. "' --hidden 32 --layers 2 --heads 2 --intermediate 64 --max_positions 64 >/dev/null 2>&1"),
  "scripts/fuzz: could not make the base model with dreamlab random-model")

-- The shell command that runs cases [from, to) in one worker, killed after `timeout` seconds.
local function worker_command(from, to, results, timeout)
  return string.format("cd '%s' && timeout -s KILL %d '%s' run '%s/worker.lua' '%s' '%s' %d %d %d '%s' >/dev/null 2>>'%s/stderr.log'",
    work, timeout, exe, here, base, work, opts.seed, from, to, results, work)
end

local function verdicts(results)
  local started, done = {}, {}
  local f = io.open(results, "r")
  if f then
    for line in f:lines() do
      local s = line:match("^start (%d+)$")
      if s then started[#started + 1] = tonumber(s)
      else
        local n, kind, verdict, detail = line:match("^(%d+)\t(%w+)\t(%w+)\t(.*)$")
        if n then done[tonumber(n)] = { kind = kind, verdict = verdict, detail = detail } end
      end
    end
    f:close()
  end
  return started, done
end

if opts.case then
  local results = work .. "/one.txt"
  local ok = sh(worker_command(opts.case, opts.case + 1, results, 120))
  local _, done = verdicts(results)
  local v = done[opts.case]
  print(string.format("case %d (seed %d): %s", opts.case, opts.seed, v and (v.kind .. " " .. v.verdict .. ": " .. v.detail) or (ok and "no verdict" or "CRASH or HANG")))
  if not opts.keep then sh("rm -rf '" .. work .. "'") end
  os.exit(v and v.verdict == "ok" and 0 or 1)
end

-- Ranges of 100 cases; a worker gets 30 s plus 4 s a case (DREAMLAB_FUZZ_TIMEOUT: seconds per worker) before it counts as hung.
local chunk, jobs = 100, opts.jobs or tonumber(io.popen("nproc"):read("l")) or 2
local pending = {}
for from = 0, opts.cases - 1, chunk do pending[#pending + 1] = { from, math.min(from + chunk, opts.cases) } end
local tally = { model = {}, lua = {}, plugin = {} }
local failures = {}
local t0 = os.time()
local counted = 0

local function settle(range, results, ok, how, code)
  local started, done = verdicts(results)
  for n, v in pairs(done) do
    local t = tally[v.kind]; t[v.verdict] = (t[v.verdict] or 0) + 1
    counted = counted + 1
    if v.verdict ~= "ok" then failures[#failures + 1] = string.format("case %d %s WRONG: %s", n, v.kind, v.detail) end
    if v.detail:find("^.-: accepted") then t.accepted = (t.accepted or 0) + 1 end
  end
  local last = started[#started]
  if last and not done[last] then
    local kind = ({ [0] = "model", "model", "model", "model", "lua", "lua", "lua", "lua", "lua", "plugin" })[last % 10]
    local what = (how == "signal" and code == 9) and "HANG" or "CRASH"   -- timeout -s KILL ends a hung worker
    tally[kind][what] = (tally[kind][what] or 0) + 1
    counted = counted + 1
    failures[#failures + 1] = string.format("case %d %s %s (worker ended: %s %s); replay: scripts/fuzz --seed %d --case %d", last, kind, what, tostring(how), tostring(code), opts.seed, last)
    if last + 1 < range[2] then table.insert(pending, 1, { last + 1, range[2] }) end
  end
end

-- Workers run as background shell jobs, `jobs` at a time; each writes its exit status beside its verdicts.
local batch = 0
while #pending > 0 do
  local running = {}
  for _ = 1, jobs do
    local r = table.remove(pending, 1)
    if not r then break end
    batch = batch + 1
    local results = string.format("%s/verdicts-%d.txt", work, batch)
    local timeout = tonumber(os.getenv("DREAMLAB_FUZZ_TIMEOUT") or "") or (30 + 4 * (r[2] - r[1]))
    running[#running + 1] = { r, results }
    sh("(" .. worker_command(r[1], r[2], results, timeout) .. "; echo $? > '" .. results .. ".status') &")
  end
  for _, job in ipairs(running) do
    local status
    repeat
      local f = io.open(job[2] .. ".status", "r")
      if f then status = tonumber(f:read("l")); f:close() end
      if not status then sh("sleep 0.2") end
    until status
    settle(job[1], job[2], status == 0, status and status > 128 and "signal" or "exit", status and status > 128 and status - 128 or status)
  end
  io.stderr:write(string.format("\rscripts/fuzz: %d of %d cases, %d s", counted, opts.cases, os.time() - t0))
end
io.stderr:write("\n")

local function n(t, k) return t[k] or 0 end
print(string.format("scripts/fuzz: seed %d, %d cases in %d s (%s)", opts.seed, counted, os.time() - t0, io.popen("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"):read("l") or "?"))
print(string.format("  %-8s %7s %7s %9s %7s %6s", "family", "cases", "ok", "wrong", "crashes", "hangs"))
local bad = 0
for _, kind in ipairs({ "model", "lua", "plugin" }) do
  local t = tally[kind]
  local total = n(t, "ok") + n(t, "wrong") + n(t, "CRASH") + n(t, "HANG")
  print(string.format("  %-8s %7d %7d %9d %7d %6d", kind, total, n(t, "ok"), n(t, "wrong"), n(t, "CRASH"), n(t, "HANG")))
  bad = bad + n(t, "wrong") + n(t, "CRASH") + n(t, "HANG")
end
print(string.format("  model folders that loaded: %d (each one ran, or refused to run with a message)", n(tally.model, "accepted")))
for k = 1, math.min(#failures, 40) do print("  " .. failures[k]) end
if #failures > 40 then print("  ... " .. (#failures - 40) .. " more in " .. work) end
if bad > 0 or opts.keep then print("  work folder kept: " .. work) else sh("rm -rf '" .. work .. "'") end
print(bad == 0 and "scripts/fuzz: 0 crashes, 0 hangs, 0 wrongly accepted" or ("scripts/fuzz: " .. bad .. " failures"))
os.exit(bad == 0 and 0 or 1)
