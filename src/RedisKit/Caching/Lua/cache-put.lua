-- Unconditional write (Set): store the value and bump the key's write generation, so a factory that
-- read the previous generation can never overwrite this newer value.
-- KEYS[1] value, KEYS[2] generation   ARGV[1] envelope, ARGV[2] value ttl ms, ARGV[3] generation ttl ms
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local gen = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return gen
