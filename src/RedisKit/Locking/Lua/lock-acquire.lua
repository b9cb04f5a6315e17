-- KEYS[1] owner key, KEYS[2] fence counter (same hash tag)
-- ARGV[1] owner token, ARGV[2] expiry ms
-- Returns the new fencing token (>= 1) on success, or -1 - (remaining ms of the holder) on failure.
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then ttl = 0 end
return -1 - ttl
