-- KEYS[1] owner key; ARGV[1] owner token, ARGV[2] release channel ('' = do not publish), ARGV[3] message
-- Deletes the key only if the caller still owns it. Returns 1 when released, 0 when not the owner.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  if ARGV[2] ~= '' then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
  return 1
end
return 0
