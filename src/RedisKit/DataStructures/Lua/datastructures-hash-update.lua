-- Partial update of a hash: sets the changed fields and deletes the cleared ones, atomically.
-- KEYS[1] = hash
-- ARGV[1] = number of fields to delete (d); ARGV[2..1+d] = fields to delete;
-- ARGV[2+d..] = field, value pairs to set.
-- Returns the number of fields written or removed.
local key = KEYS[1]
local d = tonumber(ARGV[1])
local changed = 0
if d > 0 then
  local del = {}
  for i = 2, 1 + d do
    del[#del + 1] = ARGV[i]
  end
  changed = changed + redis.call('HDEL', key, unpack(del))
end
if #ARGV > 1 + d then
  local set = {}
  for i = 2 + d, #ARGV do
    set[#set + 1] = ARGV[i]
  end
  redis.call('HSET', key, unpack(set))
  changed = changed + (#set / 2)
end
return changed
