-- KEYS[1] owner key; ARGV[1] owner token, ARGV[2] expiry ms
-- Extends only a lock the caller still owns; never re-creates an expired one. Returns 1 or 0.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
