-- KEYS[1] owner key; ARGV[1] owner token (ARGV[2], the expiry, is unused: acquire, release and extend share one
-- argument array). The provider writes its release channel into the literal below ('' = do not publish), so the
-- channel costs no argument; the message is the owner key's name.
-- Deletes the key only if the caller still owns it. Returns 1 when released, 0 when not the owner.
local channel = '__RELEASE_CHANNEL__'
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  if channel ~= '' then redis.call('PUBLISH', channel, KEYS[1]) end
  return 1
end
return 0
