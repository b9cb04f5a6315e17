-- A worker whose lease ran out (it died mid-batch): put its batch back at the head of the queue
-- (the end RPOPLPUSH takes next) and forget the worker. Does nothing while the lease is alive.
-- KEYS[1] queue, KEYS[2] the dead worker's processing list, KEYS[3] worker leases   ARGV[1] worker id
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local deadline = redis.call('ZSCORE', KEYS[3], ARGV[1])
if deadline and tonumber(deadline) > now then
  return -1
end
local moved = 0
while true do
  local item = redis.call('LPOP', KEYS[2])
  if not item then break end
  redis.call('RPUSH', KEYS[1], item)
  moved = moved + 1
end
redis.call('ZREM', KEYS[3], ARGV[1])
return moved
