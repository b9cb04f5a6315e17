-- The exclusive lock's acquire and release in one script (one SHA1): a server that ran a process's acquire also
-- has its release cached, so a release that is written and not awaited is not answered NOSCRIPT (which would make
-- it run after commands written later). The provider writes its release channel into the literal below
-- ('' = do not publish), so the channel costs no argument. Which operation runs depends on the number of keys.
-- Acquire: KEYS[1] owner key, KEYS[2] fence counter (same hash tag); ARGV[1] owner token, ARGV[2] expiry ms.
--   Returns the new fencing token (>= 1), or -1 - (remaining ms of the holder) when it is held.
-- Release: KEYS[1] owner key alone; ARGV[1] owner token (ARGV[2] unused: acquire and release share one argument
--   array). Deletes the key only if the caller still owns it and publishes the key's name. Returns 1, or 0 when not the owner.
local channel = '__RELEASE_CHANNEL__'
if #KEYS == 2 then
  if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
    return redis.call('INCR', KEYS[2])
  end
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl < 0 then ttl = 0 end
  return -1 - ttl
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  if channel ~= '' then redis.call('PUBLISH', channel, KEYS[1]) end
  return 1
end
return 0
