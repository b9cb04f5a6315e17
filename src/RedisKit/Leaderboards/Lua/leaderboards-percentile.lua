-- How many members have a strictly lower score than a member, and the board size.
-- KEYS[1] = board; ARGV[1] = member; ARGV[2] = factor (1 plain, 2^bits composite)
-- Returns {lower, count} or nil when the member is not on the board.
local key = KEYS[1]
local factor = tonumber(ARGV[2])
local score = redis.call('ZSCORE', key, ARGV[1])
if not score then
  return nil
end
local bound
if factor == 1 then
  bound = '(' .. score
else
  bound = '(' .. string.format('%.17g', math.floor(tonumber(score) / factor) * factor)
end
return {redis.call('ZCOUNT', key, '-inf', bound), redis.call('ZCARD', key)}
