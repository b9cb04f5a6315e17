-- IDistributedCache set. KEYS[1] entry hash. ARGV: 1 value, 2 sliding ms (0 = none),
-- 3 absolute deadline unix ms (0 = none), 4 absolute relative ms (0 = none; from the server clock).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local s = tonumber(ARGV[2])
local a = tonumber(ARGV[3])
local rel = tonumber(ARGV[4])
if rel > 0 and (a == 0 or now + rel < a) then a = now + rel end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'd', ARGV[1], 's', s, 'a', a)
local exp = 0
if s > 0 then exp = now + s end
if a > 0 and (exp == 0 or a < exp) then exp = a end
if exp > 0 then
  if exp <= now then
    redis.call('DEL', KEYS[1])
  else
    redis.call('PEXPIREAT', KEYS[1], exp)
  end
end
return 1
