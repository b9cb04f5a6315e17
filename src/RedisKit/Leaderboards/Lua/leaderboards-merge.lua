-- Merges boards into a destination. KEYS[1] = destination, KEYS[2..] = sources (one hash tag).
-- ARGV[1] = aggregate 'SUM' | 'MIN' | 'MAX'; ARGV[2] = expiry in ms (0 = none)
-- Returns the destination's size.
local args = {'ZUNIONSTORE', KEYS[1], #KEYS - 1}
for i = 2, #KEYS do
  args[#args + 1] = KEYS[i]
end
args[#args + 1] = 'AGGREGATE'
args[#args + 1] = ARGV[1]
local count = redis.call(unpack(args))
local ttl = tonumber(ARGV[2])
if ttl > 0 and count > 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return count
