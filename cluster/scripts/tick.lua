-- tick sends one batch of this instance's changes. ARGV: prefix, id, epoch,
-- seq (the last one sent), sentinel, floor, log size, TTL in ms, ops, log
-- window in ms (0: every guest logged as they come and go).
-- An op is key RS conns RS name RS guest RS quiet RS room ('' for the
-- lobby), conns -1 for a person this instance no longer holds there; a quiet op was already logged here while
-- cut off, so it changes the counts but logs nothing; so does every op
-- while the cluster settles after Redis lost its data (p:settling), when
-- the counts are still being rebuilt.
local id, epoch, seq, sentinel = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local floor, log_size, ttl, ops = tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8], ARGV[9]
local window_ms = tonumber(ARGV[10]) or 0
if redis.call('GET', p .. 'epoch') ~= sentinel then return {'RESTARTED'} end
if redis.call('HGET', p .. 'instances', id) ~= epoch .. ':' .. int(seq) then return {'REJOIN'} end
local share = p .. 'share:' .. id
local settling = redis.call('EXISTS', p .. 'settling') == 1
local arrived, left = {}, {}
for _, op in ipairs(split(ops, GS)) do
  local f = split(op, RS)
  local quiet = settling or f[5] == '1'
  local room = f[6] or ''
  local field = share_field(room, f[1])
  if f[2] == '-1' then
    if release(share, field) and not quiet then left[#left + 1] = {f[3], f[4], room, f[1]} end
  elseif hold(share, field, f[2] .. US .. f[3] .. US .. f[4]) and not quiet then
    arrived[#arrived + 1] = {f[3], f[4], room, f[1]}
  end
end
local entries = table.concat(log_changes(arrived, left, floor, log_size, window_ms), GS)
seq = seq + 1
redis.call('HSET', p .. 'instances', id, epoch .. ':' .. int(seq))
redis.call('SET', p .. 'alive:' .. id, epoch, 'PX', ttl)
redis.call('XADD', p .. 'events', 'MAXLEN', '~', MAX_EVENTS, '*', 't', 'd', 'i', id, 'e', epoch, 's', int(seq), 'o', ops, 'l', entries)
return {'OK', int(seq), entries}
