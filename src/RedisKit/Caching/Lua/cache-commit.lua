-- A factory finished: write its value only if nobody wrote or removed the key since the miss began
-- (same generation), and release the stampede lock if we hold it.
-- KEYS[1] value, KEYS[2] generation, KEYS[3] lock
-- ARGV[1] expected generation, ARGV[2] envelope, ARGV[3] value ttl ms, ARGV[4] lock token ('' = none)
local current = redis.call('GET', KEYS[2]) or '0'
local written = 0
if current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  written = 1
end
if ARGV[4] ~= '' and redis.call('GET', KEYS[3]) == ARGV[4] then
  redis.call('DEL', KEYS[3])
end
return written
