-- A miss starts: re-read the value, read the write generation, and (optionally) take the stampede lock.
-- KEYS[1] value, KEYS[2] generation, KEYS[3] lock   ARGV[1] lock token ('' = no lock), ARGV[2] lock ttl ms
-- Returns { value or false, generation, acquired (1/0) }
local value = redis.call('GET', KEYS[1])
local gen = redis.call('GET', KEYS[2]) or '0'
local acquired = 0
if ARGV[1] ~= '' then
  if redis.call('SET', KEYS[3], ARGV[1], 'NX', 'PX', ARGV[2]) then
    acquired = 1
  end
end
return { value, gen, acquired }
