-- IDistributedCache get/refresh in one round trip: read the value and slide its expiry, on the
-- server clock. KEYS[1] entry hash. ARGV[1] '1' to return the value, '0' to refresh only.
-- Fields: d value, s sliding ms (0 = none), a absolute deadline unix ms (0 = none).
local e = redis.call('HMGET', KEYS[1], 'd', 's', 'a')
if not e[1] then
  return false
end
local s = tonumber(e[2]) or 0
if s > 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local a = tonumber(e[3]) or 0
  local exp = now + s
  if a > 0 and a < exp then exp = a end
  redis.call('PEXPIREAT', KEYS[1], exp)
end
if ARGV[1] == '1' then
  return e[1]
end
return 1
