-- Rotate: the session's data moves to a new id (RENAME: the old id is invalid at once), the idle
-- TTL is extended, the absolute deadline and creation time are kept.
-- KEYS[1] old session hash, KEYS[2] new session hash, KEYS[3] the user's index (one slot).
-- ARGV: 1 old id, 2 new id. Returns nil (unknown), 0 (expired), -1 (new id taken), or {now_ms, HGETALL}.
local meta = redis.call('HMGET', KEYS[1], '$abs', '$idle', '$ls', '$c')
if not meta[1] then
  redis.call('ZREM', KEYS[3], ARGV[1])
  return false
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local abs = tonumber(meta[1])
local idle = tonumber(meta[2])
if now >= abs or now >= tonumber(meta[3]) + idle then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
  return 0
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  return -1
end
local score = redis.call('ZSCORE', KEYS[3], ARGV[1]) or (tonumber(meta[4]) * 1000)
redis.call('RENAME', KEYS[1], KEYS[2])
redis.call('HSET', KEYS[2], '$ls', now)
redis.call('PEXPIREAT', KEYS[2], math.min(now + idle, abs))
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZADD', KEYS[3], score, ARGV[2])
return {now, redis.call('HGETALL', KEYS[2])}
