-- Extends a reader or semaphore slot the caller still holds and that has not expired (server time).
-- KEYS[1] sorted set; ARGV[1] token, ARGV[2] expiry ms. Returns 1 or 0; never re-creates a lost slot.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) <= now then
  if score then redis.call('ZREM', KEYS[1], ARGV[1]) end
  return 0
end
local expiry = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], 'XX', now + expiry, ARGV[1])
if redis.call('PTTL', KEYS[1]) < expiry then redis.call('PEXPIRE', KEYS[1], expiry) end
return 1
