-- join replaces this instance's whole share and registers it with a new
-- epoch: at start, after it was reaped, and after Redis lost its data.
-- ARGV: prefix, id, epoch, sentinel, quiet ('1': log nothing, as after a
-- restart of Redis, when nobody really came or went), floor, log size, TTL
-- in ms, ops (as tick's; conns -1 for people gone since the last send), log
-- window in ms (as tick's).
-- People held before and not named in ops are gone too.
local id, epoch, sentinel, all_quiet = ARGV[2], ARGV[3], ARGV[4], ARGV[5] == '1'
local floor, log_size, ttl, ops = tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8], ARGV[9]
local window_ms = tonumber(ARGV[10]) or 0
if redis.call('GET', p .. 'epoch') ~= sentinel then return {'RESTARTED'} end
all_quiet = all_quiet or redis.call('EXISTS', p .. 'settling') == 1
local share = p .. 'share:' .. id
local before = {}
local held = redis.call('HGETALL', share)
for i = 1, #held, 2 do before[held[i]] = held[i + 1] end
local arrived, left = {}, {}
for _, op in ipairs(split(ops, GS)) do
  local f = split(op, RS)
  local quiet = all_quiet or f[5] == '1'
  local room = f[6] or ''
  local field = share_field(room, f[1])
  local was = before[field]
  before[field] = nil
  if f[2] == '-1' then
    if was and release(share, field) and not quiet then left[#left + 1] = {f[3], f[4], room, f[1]} end
  elseif was then
    redis.call('HSET', share, field, f[2] .. US .. f[3] .. US .. f[4])
  elseif hold(share, field, f[2] .. US .. f[3] .. US .. f[4]) and not quiet then
    arrived[#arrived + 1] = {f[3], f[4], room, f[1]}
  end
end
local gone = {}
for key in pairs(before) do gone[#gone + 1] = key end
table.sort(gone)
for _, field in ipairs(gone) do
  if release(share, field) and not all_quiet then
    local v = split(before[field], US)
    left[#left + 1] = {v[2], v[3], room_of(field), key_of(field)}
  end
end
local entries = table.concat(log_changes(arrived, left, floor, log_size, window_ms), GS)
redis.call('HSET', p .. 'instances', id, epoch .. ':1')
redis.call('SET', p .. 'alive:' .. id, epoch, 'PX', ttl)
redis.call('XADD', p .. 'events', 'MAXLEN', '~', MAX_EVENTS, '*', 't', 'j', 'i', id, 'e', epoch, 's', '1', 'l', entries)
return {'OK', entries}
