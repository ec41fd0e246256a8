-- Shared by every script (prepended to each): ARGV[1] is the key prefix.
-- Field separators, which no person key, name or number contains:
-- GS between items, RS between an item's fields, US inside a field.
local p = ARGV[1]
local GS, RS, US = '\29', '\30', '\31'
local MAX_EVENTS = 10000

-- split cuts s at every sep (one character), keeping empty fields.
local function split(s, sep)
  local out = {}
  if s == nil or s == '' then return out end
  local start = 1
  while true do
    local i = string.find(s, sep, start, true)
    if not i then
      out[#out + 1] = string.sub(s, start)
      return out
    end
    out[#out + 1] = string.sub(s, start, i - 1)
    start = i + 1
  end
end

local function int(n) return string.format('%d', n) end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- next_id issues the next entry ID, always above floor (the highest ID the
-- caller holds), so that numbering never restarts, even after Redis lost
-- its counter.
local function next_id(floor)
  local id = redis.call('INCR', p .. 'log:next')
  if id <= floor then
    id = floor + 1
    redis.call('SET', p .. 'log:next', int(id))
  end
  return id
end

local function trim_log(log_size)
  local n = redis.call('ZCARD', p .. 'log')
  if n > log_size then redis.call('ZREMRANGEBYRANK', p .. 'log', 0, n - log_size - 1) end
end

-- add_entry logs people ({name, guest} pairs, guest '1' or '0') as having
-- come online (arrived '1') or gone offline ('0'), naming the first three
-- users as the hub does, and returns the entry as it is sent.
local function add_entry(people, arrived, at, floor, log_size)
  local names, others, guests = {}, 0, 0
  for _, person in ipairs(people) do
    if person[2] == '1' then
      guests = guests + 1
    elseif #names < 3 then
      names[#names + 1] = person[1]
    else
      others = others + 1
    end
  end
  local id = next_id(floor)
  local e = table.concat({int(id), int(at), arrived, int(guests), int(others), table.concat(names, US)}, RS)
  redis.call('ZADD', p .. 'log', id, e)
  trim_log(log_size)
  return e
end

-- hold puts a person in an instance's share and reports whether they are
-- new to the whole cluster: the cluster-wide count is kept in p:online, so
-- two instances adding one person in the same instant make one arrival.
local function hold(share, key, value)
  if redis.call('HSET', share, key, value) == 1 then
    return redis.call('HINCRBY', p .. 'online', key, 1) == 1
  end
  return false
end

-- release takes a person out of an instance's share and reports whether
-- no instance holds them any more.
local function release(share, key)
  if redis.call('HDEL', share, key) == 1 then
    if redis.call('HINCRBY', p .. 'online', key, -1) <= 0 then
      redis.call('HDEL', p .. 'online', key)
      return true
    end
  end
  return false
end

-- log_changes turns arrivals and departures into at most two entries.
local function log_changes(arrived, left, floor, log_size)
  local entries = {}
  if #arrived + #left == 0 then return entries end
  local at = now_ms()
  if #arrived > 0 then entries[#entries + 1] = add_entry(arrived, '1', at, floor, log_size) end
  if #left > 0 then entries[#entries + 1] = add_entry(left, '0', at, floor, log_size) end
  return entries
end
