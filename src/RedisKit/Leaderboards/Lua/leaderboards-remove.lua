-- Removes members from a board and its current windows. KEYS = boards (one hash tag); ARGV = members.
-- Returns how many were removed from KEYS[1].
local removed = redis.call('ZREM', KEYS[1], unpack(ARGV))
for i = 2, #KEYS do
  redis.call('ZREM', KEYS[i], unpack(ARGV))
end
return removed
