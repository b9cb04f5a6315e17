-- Atomic rate-limit checks. One call carries one or more independent checks (concurrent checks of one process
-- are coalesced into one call); each check is atomic on its own and sees the effects of the checks before it.
-- Time is the server's (TIME), read once per call, and only when a policy needs it.
--
-- A policy travels as one spec string 'algorithm:limit:window ms:extra', parsed once per call:
--   1 fixed window           extra unused
--   2 sliding window log     extra unused
--   3 sliding window counter extra unused
--   4 token bucket           window = replenishment period, extra = tokens per period
--   5 GCRA                   window = period of `limit` requests, extra = burst
--   6 concurrency            window = lease TTL, extra unused (generic layout only)
--
-- Two layouts, chosen by the sign of ARGV[1]:
-- Single-policy (ARGV[1] = -checks): per check c, KEYS[c] and ARGV[2c], ARGV[2c+1] = spec, cost.
--   Reply per check: remaining, reset ms, retry-after ms (0 = allowed, -1 = never).
-- Multi-policy (ARGV[1] = checks): per check at position a, ARGV[a] = number of policies n, ARGV[a+1] = cost
--   (0 = look without consuming), ARGV[a+2] = lease id (concurrency policies only), ARGV[a+3..a+2+n] = specs;
--   the check's n keys follow the previous checks' keys in KEYS (all with the partition's hash tag).
--   Phase 1 evaluates every policy without writing; phase 2 writes only when all allow, so a request denied by
--   one policy consumes nothing from the others.
--   Reply per check: allowed (1/0), index of the first denying policy (0 = none), then per policy: remaining,
--   reset ms, retry-after ms.
-- Both layouts run the same per-algorithm functions below. A single policy of the fixed window or the log writes as
-- part of its evaluation (counts optimistically and gives back on a deny): the fixed window through fixedCommit,
-- the log through logEval's `commit`.
-- Every key written gets a TTL in the same call; a window is never extended by traffic.
--
-- Every call runs the whole chunk up to its `return`, and each `local function` statement builds a closure when it
-- runs, so the order of this file is a cost: the single-policy fixed window (the most common check) comes first and
-- a call made only of such checks returns before any other closure is built (measured with redis-benchmark:
-- about 6.5 us per lone check against 10 us when it ran after every definition, and 1.5 against 1.9 us per check in
-- calls of 17). What only the multi-policy layout needs comes after the single-policy layout's `return`.

local reply = {}

-- Fixed window: the key's own expiry is the window; it starts with the first permit and is never extended
-- (INCRBY keeps the TTL). The single-policy check counts first and gives the permits back on a deny, so the common
-- (allowed) case is one write. `costs` is the cost as the caller sent it (no formatting), `ws` the window as the spec
-- had it. Writes the single-policy reply (remaining, reset, retry-after) at reply[r + 1 .. r + 3]. Its verdict is
-- written out here and again in fixedEval: through a shared function it cost about 0.12 us more per check
-- (redis-benchmark, calls of 17), on the path every fixed-window check takes.
local function fixedCommit(key, cost, costs, limit, window, ws, r)
  local used = redis.call('INCRBY', key, costs) - cost
  local ok = used + cost <= limit
  local ttl = window
  if used > 0 then
    ttl = redis.call('PTTL', key)
    if ttl < 0 then
      ttl = window
      if ok then redis.call('PEXPIRE', key, ws) end
    end
    if not ok then redis.call('DECRBY', key, costs) end
  elseif ok then
    redis.call('PEXPIRE', key, ws)
  else
    redis.call('DEL', key)
  end
  local remaining, retry = limit - used, 0
  if ok then remaining = remaining - cost elseif cost > limit then retry = -1 else retry = math.max(1, ttl) end
  if remaining < 0 then remaining = 0 end
  reply[r + 1] = remaining
  reply[r + 2] = ttl
  reply[r + 3] = retry
end

-- The single-policy layout's leading run of fixed-window checks that take permits: each spec is matched once per
-- run of equal specs. The first check of any other kind (another algorithm, a cost of 0, a spec that does not
-- parse) ends the run; the single-policy loop below takes over from it.
local single = -tonumber(ARGV[1]) -- the single-policy layout's check count, or <= 0 for the multi-policy layout
local from = 1
if single > 0 then
  local last, limit, window, ws
  while from <= single do
    local s = ARGV[2 * from]
    if s ~= last then
      local l, w = string.match(s, '^1:(%d+):(%d+):%d+$')
      if l == nil then break end
      limit, window, ws, last = tonumber(l), tonumber(w), w, s
    end
    local costs = ARGV[2 * from + 1]
    local cost = tonumber(costs)
    if not (cost > 0) then break end
    fixedCommit(KEYS[from], cost, costs, limit, window, ws, 3 * from - 3)
    from = from + 1
  end
  if from > single then return reply end
end

local now, nowms -- server time in ms: a number, and its 13-digit string (what the log stores)
local function clock()
  if now == nil then
    local tm = redis.call('TIME')
    local ms = math.floor(tonumber(tm[2]) / 1000)
    now = tonumber(tm[1]) * 1000 + ms
    nowms = tm[1] .. string.format('%03d', ms)
  end
  return now
end

-- Integers go to Redis as strings formatted here: cheaper than Lua's own number formatting.
local ints = {}
local function int(x)
  local s = ints[x]
  if s == nil then
    s = string.format('%d', x)
    ints[x] = s
  end
  return s
end

local specs = {}
local function spec(s)
  local p = specs[s]
  if p == nil then
    local a, l, w, e = string.match(s, '^(%d+):(%d+):(%d+):(%d+)$')
    if a == nil then error('bad rate limit policy spec ' .. s) end
    p = { algo = tonumber(a), limit = tonumber(l), window = tonumber(w), ws = w, extra = tonumber(e) }
    specs[s] = p
  end
  return p
end

local function verdict(ok, remaining, cost)
  if ok then remaining = remaining - cost end
  if remaining < 0 then remaining = 0 end
  return remaining
end

-- Each algorithm: eval(key, cost, p, commit) -> ok, remaining, reset, retry, s1, s2, s3 and
-- apply(key, cost, p, s1, s2, s3, leaseid), which writes the permits with the state s1..s3 that eval saw.
-- The log takes `commit` (a single policy: write as part of the evaluation when it allows) and then writes itself;
-- the fixed window's single policy has fixedCommit; for the others the caller applies. The writes that only the
-- multi-policy layout uses (fixed window, log, concurrency) are defined below the single-policy layout.

-- Fixed window, multi-policy evaluation: reads without writing (fixedApply writes when every policy allows). The
-- verdict is fixedCommit's, on the count before this check.
local function fixedEval(key, cost, p)
  local limit = p.limit
  local used = tonumber(redis.call('GET', key) or '0')
  local ttl, fix = p.window, false
  if used > 0 then
    ttl = redis.call('PTTL', key)
    if ttl < 0 then ttl = p.window; fix = true end
  end
  local ok, retry = used + cost <= limit, 0
  if not ok then
    if cost > limit then retry = -1 else retry = math.max(1, ttl) end
  end
  return ok, verdict(ok, limit - used, cost), ttl, retry, used, fix
end

-- Sliding window log: a list of the server-ms arrival time of every permit, oldest first, as 13-digit strings
-- (windows are at most 365 days, so every timestamp and every cut-off has 13 digits until the year 2286, and string
-- order is time order). Entries leave from the head once a window old; the count in the window is the list's length.
-- O(1) per permit, where a sorted set costs O(log n) plus member bookkeeping.
--
-- The key's TTL is two windows, set only when no marked entry is left, not on every permit. A marked entry is a
-- timestamp with a '.' appended (tonumber reads it as the same number). Invariant: while an entry marked t is in the
-- list, the key expires no earlier than t + 2 windows (the TTL is set at time t, or later, when t is marked).
-- Proof that no permit is lost to expiry: a check at `now` trims every entry at or before now - window first, so a
-- mark still present after the trim has t > now - window; the permits pushed now must live until now + window,
-- which is before t + 2 windows. When a trim removes the last mark (about once a window per busy key), the check
-- marks the newest entry and sets the TTL again; a new key gets its mark and TTL with its first push. The cost: an
-- idle key lives up to two windows after its last permit. A list without a mark (written by hand, or by an older
-- version of this script) keeps its TTL and is rebuilt, marked, after it expires.
local cuts = {}
-- Removes permits a window old from the head, past what logEval settles itself (its caller reads the three oldest
-- entries, `chunk`, and sees that the head is out of the window and the common case does not apply). Returns 'new'
-- (the trim emptied the list), 'remark' (the trim removed the last mark and left entries: the caller must mark one
-- and set the TTL), or nil (the mark is still there).
local function logTrim(key, chunk, cut)
  local n, size, marked, emptied = 0, 3, false, false
  while true do
    local k = 0
    for j = 1, #chunk do
      local e = chunk[j]
      if e > cut then break end
      k = j
      if #e > 13 then marked = true end
    end
    n = n + k
    if k < size then
      emptied = k == #chunk
      break
    end
    size = size * 4
    chunk = redis.call('LRANGE', key, int(n), int(n + size - 1))
  end
  redis.call('LTRIM', key, int(n), '-1')
  -- An emptied list is gone: the next push creates the key again, and it must get a mark and a TTL.
  if emptied then return 'new' end
  if marked then return 'remark' end
  return nil
end

-- Sets the log's TTL: two windows from now (the moment its mark is placed).
local function logExpire(key, p)
  local ttl = p.ttl2
  if ttl == nil then
    ttl = int(2 * p.window)
    p.ttl2 = ttl
  end
  redis.call('PEXPIRE', key, ttl)
end

-- Marks the newest entry (after a trim removed the mark) and sets the TTL again; false when the list is empty.
local function logRemark(key, p)
  local tail = redis.call('LINDEX', key, '-1')
  if not tail then return false end
  if #tail == 13 then redis.call('LSET', key, '-1', tail .. '.') end
  logExpire(key, p)
  return true
end

-- Pushes `cost` permits at `now`; the first permit of a new key carries the mark and the key gets its TTL.
local function logPush(key, cost, p, new)
  local first = nowms
  if new then first = nowms .. '.' end
  local length
  if cost == 1 then
    length = redis.call('RPUSH', key, first)
  else
    local args = { first }
    for j = 2, cost do args[j] = nowms end
    length = redis.call('RPUSH', key, unpack(args))
  end
  if new then logExpire(key, p) end
  return length
end

-- The common cases run inline, not in calls of their own (a single-policy log check is two commands, LRANGE and
-- RPUSH, and the Lua around them costs as much again): the head is in the window, or only the head is out of it and
-- carries no mark, and is left for the next check to remove with the ones after it (under steady traffic about one
-- entry leaves per check, so this halves the LTRIMs; the count stays exact, the stale head not counted).
local function logEval(key, cost, p, commit)
  local limit, window = p.limit, p.window
  local cut = cuts[window]
  if cut == nil then
    -- '/' sorts after '.' and after the end of a string: an entry at the cut-off, marked or not, is <= cut.
    cut = int(clock() - window) .. '/'
    cuts[window] = cut
  end
  -- The three oldest entries in one read: with one stale entry left by the check before and about one more leaving
  -- now, this usually settles the trim without a second read.
  local chunk = redis.call('LRANGE', key, '0', '2')
  local new, stale = false, 0
  if #chunk == 0 then
    new = true
  else
    local head = chunk[1]
    if head <= cut then
      if #chunk >= 2 and chunk[2] > cut and #head == 13 then
        stale = 1
      else
        local trim = logTrim(key, chunk, cut)
        if trim == 'new' or (trim == 'remark' and not logRemark(key, p)) then new = true end
      end
    end
  end
  local used
  if commit and cost > 0 then
    used = logPush(key, cost, p, new) - cost - stale
    if used + cost <= limit then
      return true, limit - used - cost, window, 0
    end
    -- Give the permits back. The mark is older than them, unless the key is new: then nothing is left (used is 0)
    -- and the key goes with them.
    redis.call('LTRIM', key, '0', int(-cost - 1))
  else
    used = new and 0 or redis.call('LLEN', key) - stale
  end
  local ok = used + cost <= limit
  -- Full reset comes one window after the newest permit: the one taken now, or the newest kept.
  local reset, retry = window, 0
  if not ok then
    if used > 0 then reset = tonumber(redis.call('LINDEX', key, '-1')) + window - now end
    if cost > limit then
      retry = -1
    else
      retry = tonumber(redis.call('LINDEX', key, int(stale + used + cost - limit - 1))) + window - now
    end
  end
  -- apply marks its first permit and sets the TTL when the key is new.
  return ok, verdict(ok, limit - used, cost), reset, retry, new
end

-- Sliding window counter: current and previous aligned windows, the previous one weighted by the part of it
-- still inside the sliding window.
local function counterApply(key, cost, p, start, c, prev)
  redis.call('HSET', key, 's', int(start), 'c', int(c + cost), 'p', int(prev))
  redis.call('PEXPIRE', key, int(start + 2 * p.window - now))
end

local function counterEval(key, cost, p)
  local limit, window = p.limit, p.window
  local t = clock()
  local start = t - (t % window)
  local h = redis.call('HMGET', key, 's', 'c', 'p')
  local ws = tonumber(h[1])
  local c = tonumber(h[2]) or 0
  local prev = tonumber(h[3]) or 0
  if ws == nil then
    c = 0; prev = 0
  elseif ws ~= start then
    if ws == start - window then prev = c else prev = 0 end
    c = 0
  end
  local elapsed = t - start
  local estimate = prev * (window - elapsed) / window + c
  local ok = estimate + cost <= limit
  local remaining = math.floor(verdict(ok, limit - estimate, cost))
  local retry = 0
  if ok then
    retry = 0
  elseif cost > limit then
    retry = -1
  elseif c + cost <= limit and prev > 0 then
    retry = math.max(1, math.ceil(window - (limit - c - cost) * window / prev - elapsed))
  else
    local e2 = 0
    if c > 0 then e2 = math.max(0, window - (limit - cost) * window / c) end
    retry = math.max(1, (window - elapsed) + math.ceil(e2))
  end
  return ok, remaining, window - elapsed, retry, start, c, prev
end

-- Token bucket, refilled continuously at extra tokens per window.
local function bucketApply(key, cost, p, left)
  local rate = p.extra / p.window
  redis.call('HSET', key, 't', string.format('%.17g', left), 'ts', int(now))
  redis.call('PEXPIRE', key, int(math.max(1, math.ceil((p.limit - left) / rate))))
end

local function bucketEval(key, cost, p)
  local limit = p.limit
  local t = clock()
  local rate = p.extra / p.window
  local h = redis.call('HMGET', key, 't', 'ts')
  local tokens = tonumber(h[1])
  local ts = tonumber(h[2])
  if tokens == nil or ts == nil then
    tokens = limit
  else
    tokens = math.min(limit, tokens + math.max(0, t - ts) * rate)
  end
  local ok = cost <= tokens
  local left, retry = tokens, 0
  if ok then
    left = tokens - cost
  elseif cost <= limit then
    retry = math.max(1, math.ceil((cost - tokens) / rate))
  else
    retry = -1
  end
  return ok, math.floor(left), math.ceil((limit - left) / rate), retry, left
end

-- GCRA: one theoretical arrival time per partition; emission interval window/limit, burst extra.
local function gcraApply(key, cost, p, newtat)
  redis.call('SET', key, string.format('%.17g', newtat), 'PX', int(math.max(1, math.ceil(newtat - now))))
end

local function gcraEval(key, cost, p)
  local t = clock()
  local interval = p.window / p.limit
  local burst = p.extra
  local tau = interval * burst
  local tat = tonumber(redis.call('GET', key) or '')
  if tat == nil or tat < t then tat = t end
  local newtat = tat + interval * cost
  local allowat = newtat - tau
  local ok = allowat <= t + 0.0001
  local base, retry = tat, 0
  if ok then
    base = newtat
  elseif cost <= burst then
    retry = math.max(1, math.ceil(allowat - t))
  else
    retry = -1
  end
  local remaining = math.max(0, math.floor((t - (base - tau)) / interval + 0.0001))
  return ok, remaining, math.ceil(base - t), retry, newtat
end

-- Every call runs the whole chunk, so what only the multi-policy layout needs is defined after the
-- single-policy layout has returned: each closure and table costs every call.
local EVAL = { fixedEval, logEval, counterEval, bucketEval, gcraEval }

-- The single-policy layout, from the first check the leading run above left.
if single > 0 then
  for c = from, single do
    local p = spec(ARGV[2 * c])
    local algo = p.algo
    local key, costs = KEYS[c], ARGV[2 * c + 1]
    local cost = tonumber(costs)
    local r = 3 * c - 3
    if algo == 1 and cost > 0 then
      fixedCommit(key, cost, costs, p.limit, p.window, p.ws, r)
    else
      local eval = EVAL[algo]
      if eval == nil then error('algorithm ' .. algo .. ' has no single-policy layout') end
      local ok, remaining, reset, retry, s1, s2, s3 = eval(key, cost, p, true)
      if ok and cost > 0 then -- the log (2) has written already
        if algo == 3 then counterApply(key, cost, p, s1, s2, s3)
        elseif algo == 4 then bucketApply(key, cost, p, s1)
        elseif algo == 5 then gcraApply(key, cost, p, s1) end
      end
      reply[r + 1] = remaining
      reply[r + 2] = reset
      reply[r + 3] = retry
    end
  end
  return reply
end

local function fixedApply(key, cost, p, used, fix)
  if used == 0 then
    redis.call('SET', key, int(cost), 'PX', p.ws)
  else
    redis.call('INCRBY', key, int(cost))
    if fix then redis.call('PEXPIRE', key, p.ws) end
  end
end

local function logApply(key, cost, p, new)
  logPush(key, cost, p, new)
end

-- Concurrency: one member per held permit, scored by the server-time deadline its holder keeps pushing forward
-- with heartbeats; a member past its deadline belongs to a dead holder.
local function concurrencyApply(key, cost, p, _, _, _, leaseid)
  local deadline = now + p.window
  local args = {}
  for j = 1, cost do
    args[#args + 1] = deadline
    args[#args + 1] = leaseid .. ':' .. j
  end
  redis.call('ZADD', key, unpack(args))
  if redis.call('PTTL', key) < p.window then
    redis.call('PEXPIRE', key, p.ws)
  end
end

local function concurrencyEval(key, cost, p)
  local limit = p.limit
  local t = clock()
  redis.call('ZREMRANGEBYSCORE', key, '-inf', t)
  local used = redis.call('ZCARD', key)
  local ok = used + cost <= limit
  local retry = 0
  if not ok then
    if cost > limit then
      retry = -1
    else
      local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
      retry = math.max(1, tonumber(first[2]) - t)
    end
  end
  return ok, verdict(ok, limit - used, cost), 0, retry
end

EVAL[6] = concurrencyEval
local APPLY = { fixedApply, logApply, counterApply, bucketApply, gcraApply, concurrencyApply }

local function check(k0, a)
  local n = tonumber(ARGV[a])
  local cost = tonumber(ARGV[a + 1])
  local leaseid = ARGV[a + 2]
  local first = #reply + 1
  reply[first] = 1
  reply[first + 1] = 0
  local state = {}
  local allowed = true
  for i = 1, n do
    local p = spec(ARGV[a + 2 + i])
    local eval = EVAL[p.algo]
    if eval == nil then error('unknown rate limit algorithm ' .. p.algo) end
    local ok, remaining, reset, retry, s1, s2, s3 = eval(KEYS[k0 + i], cost, p, false)
    state[i] = { p, s1, s2, s3 }
    reply[#reply + 1] = remaining
    reply[#reply + 1] = reset
    reply[#reply + 1] = retry
    if not ok and allowed then
      allowed = false
      reply[first] = 0
      reply[first + 1] = i
    end
  end
  if allowed and cost > 0 then
    for i = 1, n do
      local s = state[i]
      APPLY[s[1].algo](KEYS[k0 + i], cost, s[1], s[2], s[3], s[4], leaseid)
    end
  end
  return n
end

local a, k0 = 2, 0
for _ = 1, tonumber(ARGV[1]) do
  local n = check(k0, a)
  k0 = k0 + n
  a = a + 3 + n
end
return reply
