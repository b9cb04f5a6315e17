-- Remove by key: delete the value and bump the write generation (a slow factory that read the old
-- generation will not write its result back).
-- KEYS[1] value, KEYS[2] generation   ARGV[1] generation ttl ms
local removed = redis.call('UNLINK', KEYS[1])
redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return removed
