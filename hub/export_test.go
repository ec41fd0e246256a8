package hub

// DirtyLen is how many people wait for the next flush, for tests that check
// a change touches only the people it names.
func (h *Hub) DirtyLen() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.dirty)
}

// RoomHub returns a room's hub, or nil when the site has no such room, for
// tests that check a forgotten room's hub was closed.
func (s *Site) RoomHub(name string) *Hub {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.rooms[name]; r != nil {
		return r.hub
	}
	return nil
}

// OnAwayDeciding sets a func the away timer runs between reading when a
// person was last active and marking them away.
func (s *Site) OnAwayDeciding(f func(key string)) { s.roster.deciding = f }

// OnEntered sets a func Join runs between finding its room and connecting
// to it.
func (s *Site) OnEntered(f func()) { s.entered = f }
