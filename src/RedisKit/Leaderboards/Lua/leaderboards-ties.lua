-- Shared by leaderboards-rank.lua and leaderboards-range.lua (prepended to each when loaded, so Redis
-- still sees one self-contained script). Both scripts take the board and its ranking from the same
-- positions: KEYS[1] = board, ARGV[1] = 'o' | 'c' | 'd', ARGV[2] = factor (1, or 2^bits for composite boards).

local key = KEYS[1]
local ranking = ARGV[1]
local factor = tonumber(ARGV[2])

local function fmt(x)
  return string.format('%.17g', x)
end

-- Lowest score bound (exclusive) above which a stored score belongs to a strictly better score.
local function above(scoreText)
  if factor == 1 then
    return '(' .. scoreText
  end
  local part = math.floor(tonumber(scoreText) / factor)
  return fmt((part + 1) * factor)
end

local function tieRank(scoreText, index)
  if ranking == 'c' then
    return redis.call('ZCOUNT', key, above(scoreText), '+inf') + 1
  end
  if ranking == 'd' then
    -- Walk the distinct better scores from the top: one O(log N) step per distinct score.
    local n = 0
    local floor = above(scoreText)
    local cursor = '+inf'
    while true do
      local r = redis.call('ZREVRANGEBYSCORE', key, cursor, floor, 'WITHSCORES', 'LIMIT', 0, 1)
      if #r == 0 then
        break
      end
      n = n + 1
      if factor == 1 then
        cursor = '(' .. r[2]
      else
        cursor = '(' .. fmt(math.floor(tonumber(r[2]) / factor) * factor)
      end
    end
    return n + 1
  end
  return index + 1
end
