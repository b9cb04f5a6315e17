-- Load + touch a session in one round trip, on the server clock.
-- KEYS[1] session hash, KEYS[2] the user's index. ARGV[1] session id.
-- Returns nil (unknown), 0 (expired: removed), or {now_ms, HGETALL} after extending the idle TTL
-- (never beyond the absolute deadline).
local h = redis.call('HGETALL', KEYS[1])
if #h == 0 then
  return false
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local abs, idle, ls
for i = 1, #h, 2 do
  local f = h[i]
  if f == '$abs' then abs = tonumber(h[i + 1])
  elseif f == '$idle' then idle = tonumber(h[i + 1])
  elseif f == '$ls' then ls = tonumber(h[i + 1]) end
end
if not abs or not idle or not ls or now >= abs or now >= ls + idle then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 0
end
redis.call('HSET', KEYS[1], '$ls', now)
redis.call('PEXPIREAT', KEYS[1], math.min(now + idle, abs))
return {now, h}
