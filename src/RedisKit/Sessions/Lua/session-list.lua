-- List a user's live sessions (oldest first) and prune dead ids from the index.
-- KEYS[1] the user's index. ARGV: 1 session key prefix, 2 user id.
-- Returns a flat array: id, created ms, last seen ms, client description, absolute deadline ms, ...
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local k = ARGV[1] .. m
  local meta = redis.call('HMGET', k, '$uid', '$abs', '$idle', '$ls', '$c', '$cd')
  if not meta[1] then
    redis.call('ZREM', KEYS[1], m)
  elseif now >= tonumber(meta[2]) or now >= tonumber(meta[4]) + tonumber(meta[3]) then
    redis.call('DEL', k)
    redis.call('ZREM', KEYS[1], m)
  elseif meta[1] == ARGV[2] then
    out[#out + 1] = m
    out[#out + 1] = meta[5]
    out[#out + 1] = meta[4]
    out[#out + 1] = meta[6] or ''
    out[#out + 1] = meta[2]
  end
end
return out
