package main

// sseParser counts the events in a text/event-stream fed to it in chunks of
// any size, keeping no more than a few bytes of state: the event's content
// is never needed, only where it ends. Lines end in LF, CR or CRLF; a line
// is a field name, optionally a colon and a value; an event ends at a blank
// line and is dispatched (counted) only if it had at least one data line,
// as EventSource does. Comments (": ..."), retry: and id: lines alone make
// no event.
type sseParser struct {
	name    [4]byte // the first bytes of the current line's field name
	nameLen int     // the field name's length so far, capped above 4
	inName  bool    // still reading the field name (no colon yet)
	lineLen int     // bytes on the current line so far, capped
	afterCR bool    // the previous byte was CR, so an LF now ends nothing
	hasData bool    // the current event has a data line
	comment bool    // the current line is a comment (it began with a colon)
	// fieldBytes counts the bytes of field lines (not comments), line ends
	// left out, until takeFieldBytes: what a stream carries beside its
	// keep-alives.
	fieldBytes int64
}

func newSSEParser() sseParser { return sseParser{inName: true} }

// feed consumes b and returns how many events ended in it.
func (p *sseParser) feed(b []byte) (events int) {
	for _, c := range b {
		if c == '\n' && p.afterCR {
			p.afterCR = false
			continue
		}
		p.afterCR = c == '\r'
		if c == '\n' || c == '\r' {
			if p.endLine() {
				events++
			}
			continue
		}
		if p.lineLen == 0 && c == ':' {
			p.comment = true
		}
		if !p.comment {
			p.fieldBytes++
		}
		if p.lineLen < 8 {
			p.lineLen++
		}
		if !p.inName {
			continue
		}
		if c == ':' {
			p.inName = false
			continue
		}
		if p.nameLen < len(p.name) {
			p.name[p.nameLen] = c
		}
		if p.nameLen <= len(p.name) {
			p.nameLen++
		}
	}
	return events
}

// takeFieldBytes returns the field bytes fed since the last call.
func (p *sseParser) takeFieldBytes() int64 {
	n := p.fieldBytes
	p.fieldBytes = 0
	return n
}

// endLine handles the end of a line and reports whether it dispatched an
// event.
func (p *sseParser) endLine() bool {
	blank := p.lineLen == 0
	isData := p.nameLen == 4 && p.name == [4]byte{'d', 'a', 't', 'a'}
	p.nameLen, p.inName, p.lineLen, p.comment = 0, true, 0, false
	if blank {
		dispatched := p.hasData
		p.hasData = false
		return dispatched
	}
	if isData {
		p.hasData = true
	}
	return false
}
