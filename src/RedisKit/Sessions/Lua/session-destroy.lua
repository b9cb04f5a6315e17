-- KEYS[1] session hash, KEYS[2] the user's index. ARGV[1] session id. Returns 1 when it existed.
local n = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return n
