-- Frees a concurrency lease. KEYS[i] concurrency key i (one slot); ARGV[1] lease id; ARGV[2] cost.
-- Reply: members removed.
local cost = tonumber(ARGV[2])
local removed = 0
for i = 1, #KEYS do
  local members = {}
  for j = 1, cost do
    members[#members + 1] = ARGV[1] .. ':' .. j
  end
  removed = removed + redis.call('ZREM', KEYS[i], unpack(members))
end
return removed
