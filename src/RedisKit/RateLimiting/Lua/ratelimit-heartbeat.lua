-- Keeps a concurrency lease alive: pushes the deadline of each of its members forward.
-- KEYS[i]  concurrency key i (one slot); ARGV[1] lease id; ARGV[2] cost; ARGV[2 + i] lease TTL ms of key i.
-- A member that is gone was reclaimed (its holder missed its deadline): it is not re-added.
-- Reply: the number of keys on which the lease was still held in full.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cost = tonumber(ARGV[2])
local held = 0
for i = 1, #KEYS do
  local ttl = tonumber(ARGV[2 + i])
  local args = { 'XX', 'CH' }
  for j = 1, cost do
    args[#args + 1] = now + ttl
    args[#args + 1] = ARGV[1] .. ':' .. j
  end
  local changed = redis.call('ZADD', KEYS[i], unpack(args))
  if changed == cost then
    held = held + 1
    if redis.call('PTTL', KEYS[i]) < ttl then
      redis.call('PEXPIRE', KEYS[i], ttl)
    end
  end
end
return held
