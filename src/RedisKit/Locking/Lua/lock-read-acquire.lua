-- Read side of a read-write lock.
-- KEYS[1] readers sorted set (member = token, score = expiry in server ms), KEYS[2] writer key
-- ARGV[1] token, ARGV[2] expiry ms. Returns 1 acquired, or -1 - (retry hint ms) when a writer holds it.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = redis.call('PTTL', KEYS[2])
if ttl ~= -2 then
  if ttl < 0 then ttl = 0 end
  return -1 - ttl
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local expiry = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + expiry, ARGV[1])
if redis.call('PTTL', KEYS[1]) < expiry then redis.call('PEXPIRE', KEYS[1], expiry) end
return 1
