-- Replaces a whole hash: DEL, HSET every field, optional PEXPIRE, atomically.
-- KEYS[1] = hash; ARGV[1] = expiry in ms (0 = none); ARGV[2..] = field, value pairs.
redis.call('DEL', KEYS[1])
if #ARGV > 1 then
  local set = {}
  for i = 2, #ARGV do
    set[#set + 1] = ARGV[i]
  end
  redis.call('HSET', KEYS[1], unpack(set))
  local ttl = tonumber(ARGV[1])
  if ttl > 0 then
    redis.call('PEXPIRE', KEYS[1], ttl)
  end
end
return 1
