-- Shared by every script (prepended to each): ARGV[1] is the key prefix.
-- Field separators, which no person key, name, room or number contains:
-- GS between items, RS between an item's fields, US inside a field, FS
-- between a room and a person's key in a share's field.
local p = ARGV[1]
local GS, RS, US, FS = '\29', '\30', '\31', '\28'
local MAX_EVENTS = 10000
-- A room's log outlives the room by at most this, should the room empty
-- in a way that does not delete it (entries restored after it emptied).
local ROOM_LOG_TTL_MS = 86400000

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

-- A person is kept in a share, and counted in p:online, under their key in
-- the lobby and under room FS key in a room: being in a room is presence
-- of its own, counted across the cluster the same way.
local function share_field(room, key)
  if room == '' then return key end
  return room .. FS .. key
end

local function room_of(field)
  local i = string.find(field, FS, 1, true)
  if not i then return '' end
  return string.sub(field, 1, i - 1)
end

-- key_of is the person's key in a share's field.
local function key_of(field)
  local i = string.find(field, FS, 1, true)
  if not i then return field end
  return string.sub(field, i + 1)
end

-- log_key is where a room's entries are kept; the lobby's ('') in p:log.
-- Rooms have a namespace of their own: a room may be called "next", and
-- p:log:next is the entry counter.
local function log_key(room)
  if room == '' then return p .. 'log' end
  return p .. 'roomlog:' .. room
end

-- add_logged keeps entry e (its ID first) in its room's log, trimmed to
-- log_size.
local function add_logged(room, id, e, log_size)
  local key = log_key(room)
  redis.call('ZADD', key, id, e)
  local n = redis.call('ZCARD', key)
  if n > log_size then redis.call('ZREMRANGEBYRANK', key, 0, n - log_size - 1) end
  if room ~= '' then redis.call('PEXPIRE', key, ROOM_LOG_TTL_MS) end
end

-- add_entry logs people ({name, guest} pairs, guest '1' or '0') as having
-- come online, or joined room (arrived '1'), or gone offline, or left it
-- ('0'), naming the first three users as the hub does, and returns the
-- entry as it is sent.
local function add_entry(people, arrived, at, floor, log_size, room)
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
  local e = table.concat({int(id), int(at), arrived, int(guests), int(others), table.concat(names, US), room}, RS)
  add_logged(room, id, e, log_size)
  return e
end

-- emptied_rooms are the rooms this script left with nobody in them
-- across the cluster: their logs go once the script has logged.
local emptied_rooms = {}

-- hold puts a person in an instance's share (field as share_field makes
-- it) and reports whether they are new there to the whole cluster: the
-- cluster-wide count is kept in p:online, so two instances adding one
-- person in the same instant make one arrival. p:rooms counts the people
-- in each room.
local function hold(share, field, value)
  if redis.call('HSET', share, field, value) == 1 then
    if redis.call('HINCRBY', p .. 'online', field, 1) == 1 then
      local room = room_of(field)
      if room ~= '' then redis.call('HINCRBY', p .. 'rooms', room, 1) end
      return true
    end
  end
  return false
end

-- release takes a person out of an instance's share and reports whether
-- no instance holds them there any more.
local function release(share, field)
  if redis.call('HDEL', share, field) == 1 then
    if redis.call('HINCRBY', p .. 'online', field, -1) <= 0 then
      redis.call('HDEL', p .. 'online', field)
      local room = room_of(field)
      if room ~= '' and redis.call('HINCRBY', p .. 'rooms', room, -1) <= 0 then
        redis.call('HDEL', p .. 'rooms', room)
        emptied_rooms[#emptied_rooms + 1] = room
      end
      return true
    end
  end
  return false
end

-- by_room groups people ({name, guest, room}) by room, in the order each
-- room first appears.
local function by_room(people)
  local groups, order = {}, {}
  for _, person in ipairs(people) do
    local room = person[3] or ''
    if not groups[room] then
      groups[room] = {}
      order[#order + 1] = room
    end
    local g = groups[room]
    g[#g + 1] = person
  end
  return groups, order
end

-- Guest windows. With a log window (the instances' --log-window, in ms),
-- guests are not logged as they come and go but summarised once per
-- window and log, as a hub on its own does (hub/log.go): the lobby's
-- window is the hash p:window, a room's p:roomwindow:<room>, each with
-- the fields due (when it ends, ms), visits (guests who came and went
-- within it), went (guests who were here before it and went), and
-- '+' key for each guest who came within it and is still here. A window
-- opens at the first guest coming or going in its log, and expires a
-- while after its end should nobody close it. p:windows holds every open
-- window's room ('' for the lobby) scored by its end, so that the
-- heartbeat finds the windows due without looking at any other.
local WINDOW_SLACK_MS = 60000
local WINDOWS = p .. 'windows'

local function window_key(room)
  if room == '' then return p .. 'window' end
  return p .. 'roomwindow:' .. room
end

-- close_window logs what room's window saw ("2 guests came online", "3
-- guests came and went", "a guest went offline": each an entry of its
-- own, only when there is something to say), appends them to entries and
-- forgets the window. A window that expired logs nothing.
local function close_window(room, at, floor, log_size, entries)
  local key = window_key(room)
  local w = redis.call('HGETALL', key)
  redis.call('DEL', key)
  redis.call('ZREM', WINDOWS, room)
  local came, visits, went = 0, 0, 0
  for i = 1, #w, 2 do
    local f = w[i]
    if string.sub(f, 1, 1) == '+' then
      came = came + 1
    elseif f == 'visits' then
      visits = tonumber(w[i + 1])
    elseif f == 'went' then
      went = tonumber(w[i + 1])
    end
  end
  for _, s in ipairs({{'1', came, 0}, {'0', 0, visits}, {'0', went, 0}}) do
    if s[2] + s[3] > 0 then
      local id = next_id(floor)
      local fields = {int(id), int(at), s[1], int(s[2]), '0', '', room}
      -- The eighth field, visits, only where there are some: entries
      -- without it read as before.
      if s[3] > 0 then fields[8] = int(s[3]) end
      local e = table.concat(fields, RS)
      add_logged(room, id, e, log_size)
      entries[#entries + 1] = e
    end
  end
end

-- drop_window forgets room's window without logging it.
local function drop_window(room)
  redis.call('DEL', window_key(room))
  redis.call('ZREM', WINDOWS, room)
end

-- open_window returns the key of room's window as of at, opening one if
-- none is; a window that is due (its end passed, and nobody closed it
-- yet) is closed first, into entries, so that a guest is never counted
-- in a window that is over. opened remembers, within one script, the
-- rooms whose window is known to be open.
local function open_window(room, at, window_ms, floor, log_size, entries, opened)
  local key = window_key(room)
  if opened[room] then return key end
  opened[room] = true
  local due = tonumber(redis.call('HGET', key, 'due') or '0')
  if due > 0 and due <= at then
    close_window(room, at, floor, log_size, entries)
    due = 0
  end
  if due == 0 then
    redis.call('HSET', key, 'due', int(at + window_ms))
    redis.call('PEXPIRE', key, window_ms + WINDOW_SLACK_MS)
    redis.call('ZADD', WINDOWS, at + window_ms, room)
  end
  return key
end

-- tally_guests counts the guests among people ({name, guest, room, key})
-- into their logs' windows, as having come (arrived) or gone, and returns
-- the others, the users, to be logged as they come and go. A guest who
-- goes within the window they came in is a visit.
local function tally_guests(people, arrived, at, window_ms, floor, log_size, entries, opened)
  local users = {}
  for _, person in ipairs(people) do
    if person[2] == '1' then
      local key = open_window(person[3] or '', at, window_ms, floor, log_size, entries, opened)
      if arrived then
        redis.call('HSET', key, '+' .. person[4], '1')
      elseif redis.call('HDEL', key, '+' .. person[4]) == 1 then
        redis.call('HINCRBY', key, 'visits', 1)
      else
        redis.call('HINCRBY', key, 'went', 1)
      end
    else
      users[#users + 1] = person
    end
  end
  return users
end

-- log_changes turns arrivals and departures ({name, guest, room, key})
-- into at most two entries per room (the lobby's "came online" / "went
-- offline", a room's "joined" / "left"), then forgets the logs and
-- windows of rooms left empty. With a log window (window_ms > 0) guests
-- go into their logs' windows instead (tally_guests), and a window found
-- due on the way is logged first.
local function log_changes(arrived, left, floor, log_size, window_ms)
  local entries = {}
  if #arrived + #left > 0 then
    local at = now_ms()
    if window_ms > 0 then
      local opened = {}
      arrived = tally_guests(arrived, true, at, window_ms, floor, log_size, entries, opened)
      left = tally_guests(left, false, at, window_ms, floor, log_size, entries, opened)
    end
    for _, people in ipairs({{arrived, '1'}, {left, '0'}}) do
      local groups, order = by_room(people[1])
      for _, room in ipairs(order) do
        entries[#entries + 1] = add_entry(groups[room], people[2], at, floor, log_size, room)
      end
    end
  end
  for _, room in ipairs(emptied_rooms) do
    if redis.call('HEXISTS', p .. 'rooms', room) == 0 then
      redis.call('DEL', log_key(room))
      drop_window(room)
    end
  end
  return entries
end
