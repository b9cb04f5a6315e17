-- The exclusive lock's acquire and release in one script (one SHA1): a server that ran a process's acquire also
-- has its release cached, so a release that is written and not awaited is not answered NOSCRIPT (which would make
-- it run after commands written later). The provider writes its release channel into the literal below
-- ('' = do not publish), so the channel costs no argument. Which operation runs depends on the number of keys.
--
-- Acquire: KEYS[1] owner key, KEYS[2] fence counter, KEYS[3] waiting mark (one hash tag); ARGV[1] owner token,
--   ARGV[2] expiry ms. Returns the new fencing token (>= 1), or -1 - (remaining ms of the holder) when it is held.
--   A failed attempt (release channel set) also sets the waiting mark, so that the holder's release publishes.
-- Release: KEYS[1] owner key, then optionally KEYS[2] the waiting mark; ARGV[1] owner token (ARGV[2] unused: acquire
--   and release share one argument array). Deletes the owner key only if the caller still owns it. Returns 0 when
--   not the owner; else 2 when it published the owner key's name on the channel, 1 when it did not.
--   With the mark key: publishes only when the mark is there, and removes it. Without it (the write side of a
--   read-write lock): publishes on every release. Nothing is published when the channel is '' (Redlock; providers
--   with release notifications off).
--
-- Why the mark: a release message is only needed by a waiter of another process. A process wakes its own next waiter
-- when its release is answered 1, with no message; a waiter of any process that finds the lock held has just failed an
-- attempt, which set the mark, so the holder's release (whichever process it is in) publishes. The mark outlives any
-- pause between two attempts of one waiter (the retry delay is at most one minute; the mark lives 60 to 120 s after
-- each failed attempt), so a waiter that still waits keeps it set; a mark left by a waiter that gave up costs one
-- message and is gone. (A waiter of a version without the mark never sets it: during a rolling upgrade it may learn
-- of a release only by its polling.)
local channel = '__RELEASE_CHANNEL__'
if #KEYS == 3 then
  if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
    return redis.call('INCR', KEYS[2])
  end
  -- Refreshed only when half its life is gone: a read, where a SET on every failed attempt would be a write to
  -- replicate (and log) per polling waiter per round.
  if channel ~= '' and redis.call('PTTL', KEYS[3]) < 60000 then redis.call('SET', KEYS[3], '1', 'PX', '120000') end
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl < 0 then ttl = 0 end
  return -1 - ttl
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  if channel ~= '' and (#KEYS == 1 or redis.call('DEL', KEYS[2]) == 1) then
    redis.call('PUBLISH', channel, KEYS[1])
    return 2
  end
  return 1
end
return 0
