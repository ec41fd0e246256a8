//go:build linux

package main

import (
	"net"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestAcceptedConnectionsHaveNoTCPKeepaliveAndAUserTimeout checks the
// socket options of a connection accepted by the program's listener:
// TCP_USER_TIMEOUT set to the ping timeout, SO_KEEPALIVE off (see
// listenConfig for why keepalive cut idle clients).
func TestAcceptedConnectionsHaveNoTCPKeepaliveAndAUserTimeout(t *testing.T) {
	lc := listenConfig(7 * time.Second)
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	raw, err := conn.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var keepalive, userTimeout int
	var kerr, uerr error
	if err := raw.Control(func(fd uintptr) {
		keepalive, kerr = unix.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
		userTimeout, uerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT)
	}); err != nil {
		t.Fatal(err)
	}
	if kerr != nil || uerr != nil {
		t.Fatalf("getsockopt: %v, %v", kerr, uerr)
	}
	if keepalive != 0 {
		t.Errorf("SO_KEEPALIVE is %d on an accepted connection, want 0", keepalive)
	}
	if userTimeout != 7000 {
		t.Errorf("TCP_USER_TIMEOUT is %d ms, want 7000", userTimeout)
	}
}
