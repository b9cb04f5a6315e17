-- Records a failed delivery and, once the entry has been delivered ARGV[4] times, moves it to the
-- dead-letter stream and acknowledges it, atomically (a crash cannot leave it in both or neither).
-- KEYS[1] stream; KEYS[2] dead-letter stream (same hash tag, same slot).
-- ARGV[1] group; ARGV[2] entry id; ARGV[3] consumer; ARGV[4] max deliveries; ARGV[5] error text;
-- ARGV[6] dead-letter stream approximate MAXLEN (0 = no trim); ARGV[7] '1' to dead-letter regardless of count.
-- Returns {-1, 0} if the entry is no longer pending, {-2, 0} if another consumer owns it now,
-- {0, deliveries} when it stays pending for a retry, {1, deliveries} when it was dead-lettered.
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if #pending == 0 then
  return {-1, 0}
end
local entry = pending[1]
if entry[2] ~= ARGV[3] then
  return {-2, 0}
end
local deliveries = tonumber(entry[4])
if deliveries < tonumber(ARGV[4]) and ARGV[7] ~= '1' then
  return {0, deliveries}
end
local fields = {}
local range = redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2])
if #range > 0 then
  fields = range[1][2]
end
table.insert(fields, 'dead.id')
table.insert(fields, ARGV[2])
table.insert(fields, 'dead.group')
table.insert(fields, ARGV[1])
table.insert(fields, 'dead.consumer')
table.insert(fields, ARGV[3])
table.insert(fields, 'dead.deliveries')
table.insert(fields, tostring(deliveries))
table.insert(fields, 'dead.error')
table.insert(fields, ARGV[5])
local maxlen = tonumber(ARGV[6])
if maxlen > 0 then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', maxlen, '*', unpack(fields))
else
  redis.call('XADD', KEYS[2], '*', unpack(fields))
end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
return {1, deliveries}
