-- Atomic rate-limit checks, in one of two layouts chosen by the sign of ARGV[1].
--
-- Single-policy fast path (ARGV[1] = -checks): each check is one windowed policy (algorithms 1-5) of one
-- partition. Per check c: KEYS[c], and ARGV[2+5(c-1)..] = algorithm, cost, limit, window in ms, extra.
-- Reply per check: allowed (1/0), remaining, reset ms, retry-after ms (0 = allowed, -1 = never). Same
-- decisions, same writes (TTL on every key, a window never extended by traffic) as the generic path below,
-- without its bookkeeping: a single policy can write as soon as it allows.
if tonumber(ARGV[1]) < 0 then
  local checks = -tonumber(ARGV[1])
  local out = {}
  local t = nil
  local tus = nil
  local seq = 0
  for c = 1, checks do
    local a = 2 + (c - 1) * 5
    local algo = tonumber(ARGV[a])
    local cost = tonumber(ARGV[a + 1])
    local limit = tonumber(ARGV[a + 2])
    local window = tonumber(ARGV[a + 3])
    local key = KEYS[c]
    local ok, remaining, reset, retry
    if algo ~= 1 and t == nil then
      local tm = redis.call('TIME')
      t = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)
      tus = tm[1] .. '.' .. tm[2]
    end

    if algo == 1 then
      -- Fixed window: count first (INCRBY keeps the TTL, so traffic never extends the window), give the
      -- permits back on a deny. A new window gets its TTL in the same script.
      local used, ttl
      if cost > 0 then
        used = redis.call('INCRBY', key, cost) - cost
      else
        used = tonumber(redis.call('GET', key) or '0')
      end
      ok = used + cost <= limit
      if used > 0 then
        ttl = redis.call('PTTL', key)
        if ttl < 0 then
          ttl = window
          if ok and cost > 0 then redis.call('PEXPIRE', key, window) end
        end
      else
        ttl = window
        if cost > 0 then
          if ok then redis.call('PEXPIRE', key, window) else redis.call('DEL', key) end
        end
      end
      if not ok and cost > 0 and used > 0 then redis.call('DECRBY', key, cost) end
      remaining = limit - used
      if ok then remaining = remaining - cost end
      reset = ttl
      if ok then retry = 0 elseif cost > limit then retry = -1 else retry = ttl end
    elseif algo == 2 then
      redis.call('ZREMRANGEBYSCORE', key, '-inf', t - window)
      local used = redis.call('ZCARD', key)
      ok = used + cost <= limit
      remaining = limit - used
      if ok then remaining = remaining - cost end
      reset = window
      if not ok and used > 0 then
        local newest = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
        reset = tonumber(newest[2]) + window - t
      end
      if ok then
        retry = 0
        if cost > 0 then
          local args = {}
          for j = 1, cost do
            args[#args + 1] = t
            seq = seq + 1
            args[#args + 1] = tus .. '-' .. seq
          end
          redis.call('ZADD', key, unpack(args))
          redis.call('PEXPIRE', key, window)
        end
      elseif cost > limit then
        retry = -1
      else
        local e = redis.call('ZRANGE', key, used + cost - limit - 1, used + cost - limit - 1, 'WITHSCORES')
        retry = tonumber(e[2]) + window - t
      end
    elseif algo == 3 then
      local start = t - (t % window)
      local h = redis.call('HMGET', key, 's', 'c', 'p')
      local ws = tonumber(h[1])
      local cn = tonumber(h[2]) or 0
      local p = tonumber(h[3]) or 0
      if ws == nil then
        cn = 0; p = 0
      elseif ws ~= start then
        if ws == start - window then p = cn else p = 0 end
        cn = 0
      end
      local elapsed = t - start
      local estimate = p * (window - elapsed) / window + cn
      ok = estimate + cost <= limit
      remaining = limit - estimate
      if ok then remaining = remaining - cost end
      remaining = math.floor(remaining)
      reset = window - elapsed
      if ok then
        retry = 0
        if cost > 0 then
          redis.call('HSET', key, 's', start, 'c', cn + cost, 'p', p)
          redis.call('PEXPIRE', key, start + 2 * window - t)
        end
      elseif cost > limit then
        retry = -1
      elseif cn + cost <= limit and p > 0 then
        retry = math.ceil(window - (limit - cn - cost) * window / p - elapsed)
      else
        local e2 = 0
        if cn > 0 then e2 = math.max(0, window - (limit - cost) * window / cn) end
        retry = (window - elapsed) + math.ceil(e2)
      end
      if not ok and retry ~= -1 and retry < 1 then retry = 1 end
    elseif algo == 4 then
      local rate = tonumber(ARGV[a + 4]) / window
      local h = redis.call('HMGET', key, 't', 'ts')
      local tokens = tonumber(h[1])
      local ts = tonumber(h[2])
      if tokens == nil or ts == nil then
        tokens = limit
      else
        tokens = math.min(limit, tokens + math.max(0, t - ts) * rate)
      end
      ok = cost <= tokens
      local left = tokens
      if ok then left = tokens - cost end
      remaining = math.floor(left)
      reset = math.ceil((limit - left) / rate)
      if ok then
        retry = 0
        if cost > 0 then
          redis.call('HSET', key, 't', string.format('%.17g', left), 'ts', t)
          redis.call('PEXPIRE', key, math.max(1, math.ceil((limit - left) / rate)))
        end
      elseif cost > limit then
        retry = -1
      else
        retry = math.max(1, math.ceil((cost - tokens) / rate))
      end
    elseif algo == 5 then
      local burst = tonumber(ARGV[a + 4])
      local interval = window / limit
      local tau = interval * burst
      local tat = tonumber(redis.call('GET', key) or '')
      if tat == nil or tat < t then tat = t end
      local newtat = tat + interval * cost
      local allowat = newtat - tau
      ok = allowat <= t + 0.0001
      local base2 = tat
      if ok then base2 = newtat end
      remaining = math.max(0, math.floor((t - (base2 - tau)) / interval + 0.0001))
      reset = math.ceil(base2 - t)
      if ok then
        retry = 0
        if cost > 0 then
          redis.call('SET', key, string.format('%.17g', newtat), 'PX', math.max(1, math.ceil(newtat - t)))
        end
      elseif cost > burst then
        retry = -1
      else
        retry = math.max(1, math.ceil(allowat - t))
      end
    else
      error('algorithm ' .. tostring(algo) .. ' has no single-policy fast path')
    end

    if remaining < 0 then remaining = 0 end
    local o = #out
    if ok then out[o + 1] = 1 else out[o + 1] = 0 end
    out[o + 2] = remaining
    out[o + 3] = reset
    out[o + 4] = retry
  end
  return out
end

-- Generic multi-policy path (ARGV[1] = checks > 0).
-- One call carries one or more independent checks (concurrent checks of one process are
-- coalesced into one call); each check is one or more policies of one partition, all-or-nothing.
-- ARGV[1]  number of checks
-- per check c, at position a: ARGV[a] number of policies n, ARGV[a+1] cost (0 = look without consuming),
--   ARGV[a+2] lease id (read by concurrency policies only), then per policy i: ARGV[a+3+4(i-1)..] =
--   algorithm, limit, window in ms, extra; the check's n keys follow the previous checks' keys in KEYS.
--   1 fixed window           extra unused
--   2 sliding window log     extra unused
--   3 sliding window counter extra unused
--   4 token bucket           window = replenishment period, extra = tokens per period
--   5 GCRA                   window = period of `limit` requests, extra = burst
--   6 concurrency            window = lease TTL, extra unused
-- Keys of one check carry the partition's hash tag; on a cluster only checks of one slot share a call.
-- Phase 1 evaluates every policy of a check without writing; phase 2 writes only when all allow, so a request
-- denied by one policy consumes nothing from the others. Time is the server's (TIME), read once per call.
-- Reply, per check: allowed (1/0), index of the first denying policy (0 = none),
--   then per policy: remaining, reset ms, retry-after ms (0 = allowed, -1 = never).
local now = nil
local nowus = nil
local function clock()
  if now == nil then
    local t = redis.call('TIME')
    now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    nowus = t[1] .. '.' .. t[2]
  end
  return now
end
local function num(x)
  return string.format('%.17g', x)
end

local reply = {}
local seq = 0

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
    local base = a + 2 + (i - 1) * 4
    local algo = tonumber(ARGV[base + 1])
    local limit = tonumber(ARGV[base + 2])
    local window = tonumber(ARGV[base + 3])
    local extra = tonumber(ARGV[base + 4])
    local key = KEYS[k0 + i]
    local ok, remaining, reset, retry
    local s = {}

    if algo == 1 then
      -- Fixed window: the key's own expiry is the window; it starts with the first permit and is
      -- never extended (INCRBY keeps the TTL).
      local used = tonumber(redis.call('GET', key) or '0')
      local ttl = window
      if used > 0 then
        ttl = redis.call('PTTL', key)
        if ttl < 0 then ttl = window; s.fix = true end
      end
      ok = used + cost <= limit
      remaining = limit - used
      if ok then remaining = remaining - cost end
      reset = ttl
      if ok then retry = 0 elseif cost > limit then retry = -1 else retry = ttl end
      s.used = used
    elseif algo == 2 then
      -- Sliding window log: one sorted-set member per permit, scored by server ms.
      local t = clock()
      redis.call('ZREMRANGEBYSCORE', key, '-inf', t - window)
      local used = redis.call('ZCARD', key)
      ok = used + cost <= limit
      remaining = limit - used
      if ok then remaining = remaining - cost end
      -- Full reset comes one window after the newest permit: the one taken now, or the newest kept.
      reset = window
      if not ok and used > 0 then
        local newest = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
        reset = tonumber(newest[2]) + window - t
      end
      if ok then
        retry = 0
      elseif cost > limit then
        retry = -1
      else
        local e = redis.call('ZRANGE', key, used + cost - limit - 1, used + cost - limit - 1, 'WITHSCORES')
        retry = tonumber(e[2]) + window - t
      end
    elseif algo == 3 then
      -- Sliding window counter: current and previous aligned windows, the previous one weighted by
      -- the part of it still inside the sliding window.
      local t = clock()
      local start = t - (t % window)
      local h = redis.call('HMGET', key, 's', 'c', 'p')
      local ws = tonumber(h[1])
      local c = tonumber(h[2]) or 0
      local p = tonumber(h[3]) or 0
      if ws == nil then
        c = 0; p = 0
      elseif ws ~= start then
        if ws == start - window then p = c else p = 0 end
        c = 0
      end
      local elapsed = t - start
      local estimate = p * (window - elapsed) / window + c
      ok = estimate + cost <= limit
      remaining = limit - estimate
      if ok then remaining = remaining - cost end
      remaining = math.floor(remaining)
      reset = window - elapsed
      if ok then
        retry = 0
      elseif cost > limit then
        retry = -1
      elseif c + cost <= limit and p > 0 then
        retry = math.ceil(window - (limit - c - cost) * window / p - elapsed)
      else
        local e2 = 0
        if c > 0 then e2 = math.max(0, window - (limit - cost) * window / c) end
        retry = (window - elapsed) + math.ceil(e2)
      end
      if not ok and retry ~= -1 and retry < 1 then retry = 1 end
      s.start = start; s.c = c; s.p = p
    elseif algo == 4 then
      -- Token bucket, refilled continuously at extra tokens per window.
      local t = clock()
      local rate = extra / window
      local h = redis.call('HMGET', key, 't', 'ts')
      local tokens = tonumber(h[1])
      local ts = tonumber(h[2])
      if tokens == nil or ts == nil then
        tokens = limit
      else
        tokens = math.min(limit, tokens + math.max(0, t - ts) * rate)
      end
      ok = cost <= tokens
      local left = tokens
      if ok then left = tokens - cost end
      remaining = math.floor(left)
      reset = math.ceil((limit - left) / rate)
      if ok then retry = 0 elseif cost > limit then retry = -1 else retry = math.max(1, math.ceil((cost - tokens) / rate)) end
      s.left = left; s.rate = rate
    elseif algo == 5 then
      -- GCRA: one theoretical arrival time per partition; emission interval window/limit, burst extra.
      local t = clock()
      local interval = window / limit
      local tau = interval * extra
      local tat = tonumber(redis.call('GET', key) or '')
      if tat == nil or tat < t then tat = t end
      local newtat = tat + interval * cost
      local allowat = newtat - tau
      ok = allowat <= t + 0.0001
      local base2 = tat
      if ok then base2 = newtat end
      remaining = math.max(0, math.floor((t - (base2 - tau)) / interval + 0.0001))
      reset = math.ceil(base2 - t)
      if ok then retry = 0 elseif cost > extra then retry = -1 else retry = math.max(1, math.ceil(allowat - t)) end
      s.newtat = newtat
    elseif algo == 6 then
      -- Concurrency: one member per held permit, scored by the server-time deadline its holder keeps
      -- pushing forward with heartbeats; a member past its deadline belongs to a dead holder.
      local t = clock()
      redis.call('ZREMRANGEBYSCORE', key, '-inf', t)
      local used = redis.call('ZCARD', key)
      ok = used + cost <= limit
      remaining = limit - used
      if ok then remaining = remaining - cost end
      reset = 0
      if ok then
        retry = 0
      elseif cost > limit then
        retry = -1
      else
        local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
        retry = math.max(1, tonumber(first[2]) - t)
      end
    else
      error('unknown rate limit algorithm ' .. tostring(algo))
    end

    if remaining < 0 then remaining = 0 end
    s.algo = algo; s.limit = limit; s.window = window; s.key = key
    state[i] = s
    reply[#reply + 1] = remaining
    reply[#reply + 1] = reset
    reply[#reply + 1] = retry
    if not ok and allowed then
      allowed = false
      reply[first] = 0
      reply[first + 1] = i
    end
  end

  if not allowed or cost <= 0 then
    return n
  end

  for i = 1, n do
    local s = state[i]
    local key = s.key
    if s.algo == 1 then
      if s.used == 0 then
        redis.call('SET', key, cost, 'PX', s.window)
      else
        redis.call('INCRBY', key, cost)
        if s.fix then redis.call('PEXPIRE', key, s.window) end
      end
    elseif s.algo == 2 then
      local args = {}
      for j = 1, cost do
        args[#args + 1] = now
        seq = seq + 1
        args[#args + 1] = nowus .. '-' .. seq
      end
      redis.call('ZADD', key, unpack(args))
      redis.call('PEXPIRE', key, s.window)
    elseif s.algo == 3 then
      redis.call('HSET', key, 's', s.start, 'c', s.c + cost, 'p', s.p)
      redis.call('PEXPIRE', key, s.start + 2 * s.window - now)
    elseif s.algo == 4 then
      redis.call('HSET', key, 't', num(s.left), 'ts', now)
      redis.call('PEXPIRE', key, math.max(1, math.ceil((s.limit - s.left) / s.rate)))
    elseif s.algo == 5 then
      redis.call('SET', key, num(s.newtat), 'PX', math.max(1, math.ceil(s.newtat - now)))
    elseif s.algo == 6 then
      local deadline = now + s.window
      local args = {}
      for j = 1, cost do
        args[#args + 1] = deadline
        args[#args + 1] = leaseid .. ':' .. j
      end
      redis.call('ZADD', key, unpack(args))
      if redis.call('PTTL', key) < s.window then
        redis.call('PEXPIRE', key, s.window)
      end
    end
  end

  return n
end

local checks = tonumber(ARGV[1])
local a = 2
local k0 = 0
for c = 1, checks do
  local n = check(k0, a)
  k0 = k0 + n
  a = a + 3 + 4 * n
end
return reply
