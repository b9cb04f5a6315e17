-- The reliability runs' read mix (docs/reliability.md), one wrk connection at a time:
--   4/10  GET /products/{1..20}            cached item (cache-aside; queues a view on the write-behind queue)
--   2/10  GET /products?page={1..3}        cached list
--   3/10  GET /me                          session route (Bearer id from SHOP_SESSIONS, comma-separated)
--   1/10  GET /games/reliability/leaderboard?top=10   leaderboard read behind the API rate limit
local sessions = {}
local n = 0

function init(args)
  for id in string.gmatch(os.getenv("SHOP_SESSIONS") or "", "[^,]+") do
    sessions[#sessions + 1] = id
  end
  n = math.random(1, 1000)
end

function request()
  n = n + 1
  local k = n % 10
  if k < 4 then
    return wrk.format("GET", "/products/" .. (n % 20 + 1))
  elseif k < 6 then
    return wrk.format("GET", "/products?page=" .. (n % 3 + 1) .. "&limit=20")
  elseif k < 9 and #sessions > 0 then
    return wrk.format("GET", "/me", { ["Authorization"] = "Bearer " .. sessions[(n % #sessions) + 1] })
  else
    return wrk.format("GET", "/games/reliability/leaderboard?top=10")
  end
end
