-- reap takes a dead instance's people out of the cluster: only if its
-- alive key is gone and it is still registered, so that of several
-- instances reaping it at once one does it and the others find nothing.
-- Its people nobody else holds are logged as gone, and as having left
-- each room nobody else holds them in. ARGV: prefix, instance,
-- floor, log size, log window in ms (as tick's: its guests are counted in
-- their logs' windows).
local x, floor, log_size, window_ms = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]) or 0
if redis.call('EXISTS', p .. 'alive:' .. x) == 1 then return {'ALIVE'} end
-- Nobody is reaped while the cluster settles after a data loss: alive
-- keys were lost too, and their instances are putting them back.
if redis.call('EXISTS', p .. 'settling') == 1 then return {'SETTLING'} end
local version = redis.call('HGET', p .. 'instances', x)
if not version then return {'GONE'} end
local share = p .. 'share:' .. x
local held = redis.call('HGETALL', share)
local left = {}
for i = 1, #held, 2 do
  if release(share, held[i]) then
    local v = split(held[i + 1], US)
    left[#left + 1] = {v[2], v[3], room_of(held[i]), key_of(held[i])}
  end
end
redis.call('DEL', share)
redis.call('HDEL', p .. 'instances', x)
local entries = table.concat(log_changes({}, left, floor, log_size, window_ms), GS)
local epoch = split(version, ':')[1]
redis.call('XADD', p .. 'events', 'MAXLEN', '~', MAX_EVENTS, '*', 't', 'g', 'i', x, 'e', epoch, 'l', entries)
return {'OK', entries}
