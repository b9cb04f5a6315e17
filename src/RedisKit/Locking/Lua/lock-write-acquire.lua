-- Write side of a read-write lock.
-- KEYS[1] writer key, KEYS[2] readers sorted set, KEYS[3] fence counter
-- ARGV[1] token, ARGV[2] expiry ms. Returns the fencing token (>= 1), or -1 - (retry hint ms).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = redis.call('PTTL', KEYS[1])
if ttl ~= -2 then
  if ttl < 0 then ttl = 0 end
  return -1 - ttl
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
if first[1] then
  local wait = tonumber(first[2]) - now
  if wait < 0 then wait = 0 end
  return -1 - wait
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return redis.call('INCR', KEYS[3])
