-- Claim a batch for this worker: renew its lease, hand back its unacknowledged batch if it has one
-- (a retry), else move up to N items from the queue to its processing list. Server clock.
-- KEYS[1] queue, KEYS[2] this worker's processing list, KEYS[3] worker leases (zset)
-- ARGV[1] worker id, ARGV[2] batch size, ARGV[3] lease ms, ARGV[4] processing list ttl ms
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[3], ARGV[4])
local pending = redis.call('LRANGE', KEYS[2], 0, -1)
if #pending > 0 then
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
  return pending
end
local items = {}
for i = 1, tonumber(ARGV[2]) do
  local item = redis.call('RPOPLPUSH', KEYS[1], KEYS[2])
  if not item then break end
  items[#items + 1] = item
end
if #items > 0 then
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
end
return items
