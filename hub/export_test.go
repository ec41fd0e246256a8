package hub

// DirtyLen is how many people wait for the next flush, for tests that check
// a change touches only the people it names.
func (h *Hub) DirtyLen() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.dirty)
}
