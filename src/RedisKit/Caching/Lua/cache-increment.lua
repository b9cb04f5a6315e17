-- Counter: INCRBY and give the key a TTL if it has none (a counter never lives forever by accident).
-- KEYS[1] counter   ARGV[1] delta, ARGV[2] ttl ms
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return value
