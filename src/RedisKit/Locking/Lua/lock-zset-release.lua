-- Releases a reader or semaphore slot. KEYS[1] sorted set; ARGV[1] token, ARGV[2] channel ('' = none), ARGV[3] message.
-- Returns 1 when the caller held a slot, else 0.
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then
  if ARGV[2] ~= '' then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
  return 1
end
return 0
