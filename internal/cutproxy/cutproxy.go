// Package cutproxy is a TCP proxy for tests that can silently partition
// the connections through it: a client keeps its connections and can open
// new ones, but nothing reaches the other side, as when a network drops
// packets without resetting anything. It runs on loopback only.
//
// Semantics:
//
//   - Cut stops forwarding in both directions at once. Open connections
//     stay open; bytes read from either side while cut are dropped, not
//     held, so neither side's writes block and neither side ever sees a
//     reply or an end. New connections are accepted (nothing is refused)
//     but the target is not dialled for them: whatever they send is
//     dropped too.
//   - Heal resumes forwarding for new connections. Every connection that
//     was open at any moment of a cut is closed on heal, on both sides:
//     its byte stream has lost bytes (a request half gone, a reply never
//     sent), so it cannot be trusted to go on; the client sees the end and
//     reconnects, as it would after a partition long enough for TCP to
//     give up.
//   - Either side ending its connection (or failing) ends it on the other
//     side too; a half-close is not kept.
//   - Close stops accepting, closes every connection and waits for the
//     proxy's goroutines.
package cutproxy

import (
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// dialTimeout bounds dialling the target for a new connection.
const dialTimeout = 2 * time.Second

// Proxy forwards connections on a loopback address to a target.
type Proxy struct {
	listener net.Listener
	target   string
	done     sync.WaitGroup // the accept loop and every connection's goroutines

	mu     sync.Mutex
	cut    bool
	closed bool
	links  map[*link]struct{}
}

// link is one client's connection and, unless it was accepted while cut,
// its connection to the target.
type link struct {
	client, server net.Conn // server is nil for a connection accepted while cut
	closeOnce      sync.Once

	// mu is held while one chunk is written, so that Cut can wait for a
	// chunk in flight and nothing is forwarded once it returns.
	mu  sync.Mutex
	cut bool // set by Cut (or at birth while cut); such a link is closed on heal
}

func (l *link) close() {
	l.closeOnce.Do(func() {
		l.client.Close()
		if l.server != nil {
			l.server.Close()
		}
	})
}

// New listens on 127.0.0.1 on a free port and forwards every connection
// to target (host:port) until closed.
func New(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("cutproxy: listen: %w", err)
	}
	p := &Proxy{listener: ln, target: target, links: map[*link]struct{}{}}
	p.done.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's address, host:port, for clients to dial.
func (p *Proxy) Addr() string { return p.listener.Addr().String() }

// Cut partitions the proxy: from its return, nothing is forwarded either
// way and connections stay open. A chunk being written when Cut is called
// is finished first (Cut waits for it: a peer that never reads would hold
// Cut up, which a loopback Redis does not do).
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for l := range p.links {
		l.mu.Lock()
		l.cut = true
		l.mu.Unlock()
	}
}

// Heal ends a partition: connections opened from now on are forwarded,
// and every connection that lived through the cut is closed.
func (p *Proxy) Heal() {
	p.mu.Lock()
	p.cut = false
	var broken []*link
	for l := range p.links {
		l.mu.Lock()
		if l.cut {
			broken = append(broken, l)
			delete(p.links, l)
		}
		l.mu.Unlock()
	}
	p.mu.Unlock()
	for _, l := range broken {
		l.close()
	}
}

// Close stops the proxy: no new connection, every open one closed. It
// returns once all of the proxy's goroutines have ended.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	links := p.links
	p.links = map[*link]struct{}{}
	p.mu.Unlock()
	err := p.listener.Close()
	for l := range links {
		l.close()
	}
	p.done.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.done.Done()
	for {
		conn, err := p.listener.Accept()
		if err != nil {
			return // closed
		}
		p.done.Add(1)
		go func() {
			defer p.done.Done()
			p.serve(conn)
		}()
	}
}

// serve forwards one client connection until either side ends it.
func (p *Proxy) serve(client net.Conn) {
	p.mu.Lock()
	cut := p.cut
	p.mu.Unlock()
	var server net.Conn
	if !cut {
		var err error
		if server, err = net.DialTimeout("tcp", p.target, dialTimeout); err != nil {
			client.Close() // the target is down: the client sees its connection end
			return
		}
	}
	l := &link{client: client, server: server}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		l.close()
		return
	}
	l.cut = p.cut // a cut may have come while dialling
	p.links[l] = struct{}{}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.links, l)
		p.mu.Unlock()
		l.close()
	}()

	if server == nil { // accepted while cut: drop what it sends until heal closes it
		io.Copy(io.Discard, client)
		return
	}
	ended := make(chan struct{}, 2)
	go func() { l.forward(server, client); ended <- struct{}{} }()
	go func() { l.forward(client, server); ended <- struct{}{} }()
	<-ended
	l.close() // ends the other direction too
	<-ended
}

// forward copies src to dst chunk by chunk, dropping chunks while cut.
func (l *link) forward(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			l.mu.Lock()
			var werr error
			if !l.cut {
				_, werr = dst.Write(buf[:n])
			}
			l.mu.Unlock()
			if werr != nil {
				return
			}
		}
		if err != nil {
			return // the end of src, or the link closed
		}
	}
}
