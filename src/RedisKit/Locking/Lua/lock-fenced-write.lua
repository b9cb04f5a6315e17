-- KEYS[1] resource hash (fields 'value' and 'fence'); ARGV[1] value, ARGV[2] fencing token, ARGV[3] expiry ms (0 = none)
-- Writes only if the token is >= the highest token that has written before. Returns 1 written, 0 rejected (stale).
local stored = redis.call('HGET', KEYS[1], 'fence')
local fence = tonumber(ARGV[2])
if stored and fence < tonumber(stored) then
  return 0
end
redis.call('HSET', KEYS[1], 'value', ARGV[1], 'fence', ARGV[2])
if tonumber(ARGV[3]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 1
