package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// stallClients opens n connections that complete the handshake and then
// never read again, as a frozen tab or a vanished laptop would (in the
// probe's room, with -rooms): the server
// must not let them delay anyone else. The caller closes them.
func stallClients(ctx context.Context, cfg config, n int) ([]net.Conn, error) {
	u, err := url.Parse(strings.Split(cfg.probeURL(), ",")[0])
	if err != nil {
		return nil, err
	}
	d := &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: -1, ControlContext: func(ctx context.Context, network, address string, c syscall.RawConn) error {
		if err := loopbackOnly(ctx, network, address, c); err != nil {
			return err
		}
		// A small receive window, so that the server's writes to this
		// client block after a few frames instead of filling megabytes of
		// kernel buffers first.
		var sockErr error
		if err := c.Control(func(fd uintptr) {
			sockErr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 2048)
		}); err != nil {
			return err
		}
		return sockErr
	}}
	conns := make([]net.Conn, 0, n)
	for range n {
		conn, err := d.DialContext(ctx, "tcp", u.Host)
		if err != nil {
			closeAll(conns)
			return nil, fmt.Errorf("stalled client: %w", err)
		}
		conns = append(conns, conn)
		req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\n"
		if cfg.transport() == transportWS {
			req += "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
		} else {
			req += "Accept: text/event-stream\r\n"
		}
		if cfg.Cookie != "" {
			req += "Cookie: " + cfg.Cookie + "\r\n"
		}
		conn.SetDeadline(time.Now().Add(cfg.DialTimeout))
		if _, err := conn.Write([]byte(req + "\r\n")); err != nil {
			closeAll(conns)
			return nil, fmt.Errorf("stalled client: %w", err)
		}
		status, err := bufio.NewReaderSize(conn, 64).ReadString('\n')
		if err != nil || !(strings.Contains(status, " 101 ") || strings.Contains(status, " 200 ")) {
			closeAll(conns)
			return nil, fmt.Errorf("stalled client handshake: %q, %v", status, err)
		}
		conn.SetDeadline(time.Time{})
		// From here on nothing is read: the kernel's buffers fill and the
		// server's writes to this client block.
	}
	return conns, nil
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		c.Close()
	}
}
