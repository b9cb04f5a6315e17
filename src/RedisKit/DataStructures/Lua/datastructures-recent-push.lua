-- Pushes an item onto a capped most-recent-first list, atomically.
-- KEYS[1] = list; ARGV[1] = item; ARGV[2] = capacity; ARGV[3] = '1' to de-duplicate; ARGV[4] = expiry ms (0 = none)
-- Returns the list's length after trimming.
local key = KEYS[1]
if ARGV[3] == '1' then
  redis.call('LREM', key, 0, ARGV[1])
end
redis.call('LPUSH', key, ARGV[1])
local capacity = tonumber(ARGV[2])
redis.call('LTRIM', key, 0, capacity - 1)
local ttl = tonumber(ARGV[4])
if ttl > 0 then
  redis.call('PEXPIRE', key, ttl)
end
return redis.call('LLEN', key)
