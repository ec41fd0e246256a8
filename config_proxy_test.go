package main

import (
	"bytes"
	"context"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"herenow/internal/testkit"
)

func TestProxySettingsAreCheckedAndReadFromTheEnvironment(t *testing.T) {
	env := map[string]string{
		"HERENOW_PUBLIC_URL":      "https://Presence.example.com/",
		"HERENOW_TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1,::1 ,192.168.1.7/24",
	}
	cfg, _, err := parseConfig([]string{"herenow"}, func(k string) string { return env[k] }, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if u := cfg.proxy.PublicURL; u == nil || u.String() != "https://Presence.example.com" {
		t.Errorf("public URL %v, want https://Presence.example.com", u)
	}
	var got []string
	for _, p := range cfg.proxy.TrustedProxies {
		got = append(got, p.String())
	}
	want := []string{"10.0.0.0/8", "127.0.0.1/32", "::1/128", "192.168.1.0/24"}
	if len(got) != len(want) {
		t.Fatalf("trusted proxies %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("trusted proxy %d: %s, want %s", i, got[i], want[i])
		}
	}
	if !cfg.proxy.TrustedProxies[1].Contains(netip.MustParseAddr("127.0.0.1")) {
		t.Error("a bare address does not trust itself")
	}

	for _, bad := range [][]string{
		{"--public-url", "presence.example.com"},
		{"--public-url", "ftp://presence.example.com"},
		{"--public-url", "https://presence.example.com/herenow"},
		{"--public-url", "https://user:pw@presence.example.com"},
		{"--public-url", "https://presence.example.com/?a=b"},
		{"--trusted-proxies", "10.0.0.0/33"},
		{"--trusted-proxies", "proxy.internal"},
		{"--trusted-proxies", "::ffff:10.0.0.1"},
		{"--trusted-proxies", "fe80::1%eth0"},
	} {
		if _, _, err := parseConfig(append([]string{"herenow"}, bad...), noEnv, &bytes.Buffer{}); err == nil {
			t.Errorf("%v was accepted", bad)
		}
	}
}

// TestTheRealProgramTrustsItsProxy runs the program behind a pretend proxy
// on loopback: its https reaches the cookies and HSTS, and the client it
// names reaches the logs.
func TestTheRealProgramTrustsItsProxy(t *testing.T) {
	addr := testkit.FreeLoopbackAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var logs testkit.LogBuffer
	go func() {
		done <- run(ctx, []string{"herenow", "--addr", addr, "--data", t.TempDir(), "--trusted-proxies", "127.0.0.1/32,::1"},
			noEnv, strings.NewReader(""), &bytes.Buffer{}, &logs)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(drainTimeout + 5*time.Second):
			t.Error("run did not return after cancel")
		}
	})
	waitServing(t, "http://"+addr, &logs)
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	secure := false
	for _, c := range resp.Cookies() {
		secure = secure || (c.Name == "__Host-guest" && c.Secure)
	}
	if !secure || resp.Header.Get("Strict-Transport-Security") == "" {
		t.Errorf("cookies %v, HSTS %q: want a Secure __Host-guest and HSTS", resp.Cookies(), resp.Header.Get("Strict-Transport-Security"))
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "client=203.0.113.9") {
		if time.Now().After(deadline) {
			t.Fatalf("the forwarded client is not in the log:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
