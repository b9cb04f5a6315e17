-- Counting semaphore. KEYS[1] holders sorted set (member = token, score = expiry in server ms)
-- ARGV[1] token, ARGV[2] expiry ms, ARGV[3] max count.
-- Returns 1 acquired, or -1 - (ms until the earliest holder expires) when all slots are taken.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  local wait = tonumber(first[2]) - now
  if wait < 0 then wait = 0 end
  return -1 - wait
end
local expiry = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + expiry, ARGV[1])
if redis.call('PTTL', KEYS[1]) < expiry then redis.call('PEXPIRE', KEYS[1], expiry) end
return 1
