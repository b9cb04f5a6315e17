-- Field-level update of a live session (other fields are untouched, so concurrent writers of
-- different fields both keep their change). Never recreates an expired or destroyed session.
-- KEYS[1] session hash, KEYS[2] the user's index. ARGV: 1 session id, 2 number of fields to
-- remove, then those field names, then field, value pairs. Returns 1 when applied, 0 otherwise.
local meta = redis.call('HMGET', KEYS[1], '$abs', '$idle', '$ls')
if not meta[1] then
  return 0
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if now >= tonumber(meta[1]) or now >= tonumber(meta[3]) + tonumber(meta[2]) then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 0
end
local n = tonumber(ARGV[2])
for i = 3, n + 2 do
  redis.call('HDEL', KEYS[1], ARGV[i])
end
for i = n + 3, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
return 1
