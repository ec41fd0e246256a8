package hub

// The grace period: a person whose last connection closed still counts as
// online for Config.Grace, so that a page reload announces nothing.
//
// It starts in Subscription.close (Close, not Leave) when the last
// connection here goes: presence.grace is set, graceGen moves on, and Peers
// hears Conns 0 a tick later (remote.go's report). A new connection in
// ConnectWake stops it; graceOver below ends it; Hub.Close stops them all.
// While it runs, presence.local and presence.online count the person as
// held here. Locking: see hub.go; graceOver takes the lock itself.

// graceOver takes a person offline once their grace period passed without a
// new connection.
func (h *Hub) graceOver(p *presence, gen uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || p.graceGen != gen || p.grace == nil {
		return
	}
	p.grace = nil
	h.markDirty(p)
}
