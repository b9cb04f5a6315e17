-- The sink stored the batch: forget it. Moving it to the dead-letter list instead when ARGV[1] = '1'.
-- KEYS[1] processing list, KEYS[2] dead-letter list   ARGV[1] dead-letter flag, ARGV[2] dead-letter ttl ms
if ARGV[1] == '1' then
  local items = redis.call('LRANGE', KEYS[1], 0, -1)
  for i = 1, #items do
    redis.call('LPUSH', KEYS[2], items[i])
  end
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
return redis.call('DEL', KEYS[1])
