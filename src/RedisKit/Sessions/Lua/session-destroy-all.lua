-- Destroy every session of a user, optionally except one; prunes dead ids from the index.
-- KEYS[1] the user's index. ARGV: 1 session key prefix, 2 user id, 3 id to keep ('' for none).
-- Returns the number of sessions destroyed.
local n = 0
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local k = ARGV[1] .. m
  local uid = redis.call('HGET', k, '$uid')
  if not uid then
    redis.call('ZREM', KEYS[1], m)
  elseif uid == ARGV[2] and m ~= ARGV[3] then
    redis.call('DEL', k)
    redis.call('ZREM', KEYS[1], m)
    n = n + 1
  end
end
return n
