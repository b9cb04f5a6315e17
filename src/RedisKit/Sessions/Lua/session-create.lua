-- Create a session; prune the user's index and evict the oldest sessions over the cap, atomically.
-- KEYS[1] new session hash, KEYS[2] the user's index (same hash slot).
-- ARGV: 1 id, 2 user id, 3 client description, 4 idle ms, 5 absolute ms, 6 cap,
--       7 session key prefix (key = prefix .. id), 8.. field, value pairs.
-- Returns -1 when the id exists (the caller draws another), else {now_ms, evicted}.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return -1
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local idle = tonumber(ARGV[4])
local absMs = tonumber(ARGV[5])
local cap = tonumber(ARGV[6])
local prefix = ARGV[7]
local mine = {}
for _, m in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  local k = prefix .. m
  local meta = redis.call('HMGET', k, '$uid', '$abs', '$idle', '$ls')
  if not meta[1] then
    redis.call('ZREM', KEYS[2], m)
  elseif now >= tonumber(meta[2]) or now >= tonumber(meta[4]) + tonumber(meta[3]) then
    redis.call('DEL', k)
    redis.call('ZREM', KEYS[2], m)
  elseif meta[1] == ARGV[2] then
    mine[#mine + 1] = m
  end
end
local evicted = 0
while #mine - evicted >= cap do
  local m = mine[evicted + 1]
  redis.call('DEL', prefix .. m)
  redis.call('ZREM', KEYS[2], m)
  evicted = evicted + 1
end
local abs = now + absMs
redis.call('HSET', KEYS[1], '$uid', ARGV[2], '$c', now, '$ls', now, '$abs', abs, '$idle', idle, '$cd', ARGV[3])
for i = 8, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('PEXPIREAT', KEYS[1], math.min(now + idle, abs))
-- Scored in microseconds so sessions created in the same millisecond still order by age.
redis.call('ZADD', KEYS[2], tonumber(t[1]) * 1000000 + tonumber(t[2]), ARGV[1])
if redis.call('PTTL', KEYS[2]) < absMs then
  redis.call('PEXPIRE', KEYS[2], absMs)
end
return {now, evicted}
