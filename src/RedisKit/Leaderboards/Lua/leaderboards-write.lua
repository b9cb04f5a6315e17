-- Writes one member's score to a board and its current period windows, atomically.
-- KEYS[1] = all-time board, KEYS[2..n] = current window boards (same hash tag).
-- ARGV[1] = mode: 'set' | 'gt' | 'lt' | 'incr'
-- ARGV[2] = member
-- ARGV[3] = score (set/gt/lt: the stored value, composite already applied) or delta (incr)
-- ARGV[4] = factor: 1 for plain boards, 2^bits for "earlier achiever wins" composite boards
-- ARGV[5] = time part (composite boards: maxTime - achievedAt) for incr
-- ARGV[6] = '1' when ZADD GT/LT may be used, '0' to compare in Lua (servers before 6.2)
-- ARGV[7..6+n-1] = expiry in ms for KEYS[2..n]
-- Returns: set/gt/lt → 1 when the all-time score changed (or member added), else 0;
--          incr → the all-time board's new stored score as a string.
local mode = ARGV[1]
local member = ARGV[2]
local value = ARGV[3]
local factor = tonumber(ARGV[4])
local timePart = tonumber(ARGV[5])
local useFlags = ARGV[6] == '1'
local limit = 9007199254740992 -- 2^53: composites stay exact below it

local function fmt(x)
  return string.format('%.17g', x)
end

local function write(key)
  if mode == 'set' then
    return redis.call('ZADD', key, 'CH', value, member)
  end
  if mode == 'gt' or mode == 'lt' then
    if useFlags then
      return redis.call('ZADD', key, mode == 'gt' and 'GT' or 'LT', 'CH', value, member)
    end
    local old = redis.call('ZSCORE', key, member)
    local new = tonumber(value)
    if old then
      old = tonumber(old)
      if (mode == 'gt' and new <= old) or (mode == 'lt' and new >= old) then
        return 0
      end
    end
    redis.call('ZADD', key, value, member)
    return 1
  end
  -- incr
  if factor == 1 then
    return redis.call('ZINCRBY', key, value, member)
  end
  local old = redis.call('ZSCORE', key, member)
  local part = 0
  if old then
    part = math.floor(tonumber(old) / factor)
  end
  local newPart = part + tonumber(value)
  local stored = newPart * factor + timePart
  if stored >= limit or stored <= -limit then
    return redis.error_reply('ERR RedisKit leaderboard: score out of range for the earlier-achiever layout')
  end
  local text = fmt(stored)
  redis.call('ZADD', key, text, member)
  return text
end

local result = write(KEYS[1])
for i = 2, #KEYS do
  write(KEYS[i])
  local ttl = tonumber(ARGV[5 + i])
  if ttl and ttl > 0 then
    redis.call('PEXPIRE', KEYS[i], ttl)
  end
end
return result
