package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/crypto/bcrypt"

	"herenow/internal/testkit"
	"herenow/internal/wstest"
	"herenow/users"
	"herenow/users/userstest"
)

// getWithCookies GETs url with the Cookie headers a browser would send.
func getWithCookies(t *testing.T, ctx context.Context, url string, cookies http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = cookies.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// openSSE opens the event stream with cookies; the channel closes when the
// server ends it.
func openSSE(t *testing.T, ctx context.Context, addr string, cookies http.Header) <-chan struct{} {
	t.Helper()
	resp := getWithCookies(t, ctx, "http://"+addr+"/live/events", cookies)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("event stream: %s", resp.Status)
	}
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
	}()
	return ended
}

// pageGreets reports whether / on addr, with cookies, greets a signed-in
// user.
func pageGreets(t *testing.T, ctx context.Context, addr string, cookies http.Header) bool {
	t.Helper()
	resp := getWithCookies(t, ctx, "http://"+addr+"/", cookies)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return strings.Contains(string(body), "Hello")
}

// TestAUserCommandEndsTheUsersSessionsOnEveryInstance runs two instances
// sharing one user database (a SQLite file, or PostgreSQL), and no Redis. mallory has her page
// open over WebSocket and SSE on A and over WebSocket on B, and a guest on A
// sees her by name. Then a separate invocation of the program deletes her,
// or changes her password: within a few seconds every one of her live
// connections ends, on both instances, the guest no longer sees her, her
// cookie greets nobody on either, and a new handshake with it is a guest.
func TestAUserCommandEndsTheUsersSessionsOnEveryInstance(t *testing.T) {
	type command struct{ verb, stdin, says string }
	for _, c := range []struct {
		backend  string
		database func(testing.TB) string
		command
	}{
		{"sqlite", sqliteFile, command{"delete", "", "deleted mallory and ended mallory's sessions"}},
		{"sqlite", sqliteFile, command{"passwd", "mallory's new password\n", "ended mallory's sessions"}},
		{"postgres", userstest.PostgresDSN, command{"delete", "", "deleted mallory and ended mallory's sessions"}},
		{"postgres", userstest.PostgresDSN, command{"passwd", "mallory's new password\n", "ended mallory's sessions"}},
	} {
		t.Run(c.backend+"/"+c.verb, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{
				"HERENOW_JWT_SECRET": "a shared secret of at least thirty-two bytes",
				"HERENOW_DATABASE":   c.database(t),
			}
			getenv := func(k string) string { return env[k] }
			user := func(stdin string, args ...string) string {
				t.Helper()
				var out bytes.Buffer
				err := run(context.Background(), append([]string{"herenow", "--data", t.TempDir(), "user"}, args...), getenv,
					strings.NewReader(stdin), &out, io.Discard)
				if err != nil {
					t.Fatalf("user %s: %v", strings.Join(args, " "), err)
				}
				return out.String()
			}
			user("mallory's password\n", "add", "mallory")
			a, b := startInstance(t, getenv), startInstance(t, getenv)
			cookies := loginCookies(t, a, "mallory", "mallory's password")

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			dial := func(addr string, h http.Header) *websocket.Conn {
				t.Helper()
				return wstest.Dial(t, ctx, "ws://"+addr+"/live/ws", h)
			}
			readUntil := func(conn *websocket.Conn, want string) string {
				t.Helper()
				return wstest.ReadUntil(t, ctx, conn, want)
			}
			guest := dial(a, nil)
			readUntil(guest, "<strong>1</strong> person online")
			onA, onB := dial(a, cookies), dial(b, cookies)
			stream := openSSE(t, ctx, a, cookies)
			readUntil(guest, "2 tabs") // her WebSocket and stream on A, by name
			readUntil(onB, `<span class="user-name-text">mallory<`)

			if out := user(c.stdin, c.verb, "mallory"); !strings.Contains(out, c.says) {
				t.Errorf("user %s mallory said %q, want %q", c.verb, out, c.says)
			}
			changed := time.Now()
			for name, conn := range map[string]*websocket.Conn{"A": onA, "B": onB} {
				if code, err := wstest.ReadUntilClose(ctx, conn); code != websocket.StatusServiceRestart {
					t.Errorf("her WebSocket on %s ended with %v, want a close with 1012", name, err)
				}
			}
			select {
			case <-stream:
			case <-ctx.Done():
				t.Error("her event stream on A did not end")
			}
			readUntil(guest, `<li id="u-1" hx-swap-oob="delete">`)
			if took := time.Since(changed); took > 5*time.Second {
				t.Errorf("her connections ended %v after the command, want within a few seconds", took)
			}
			for _, addr := range []string{a, b} {
				if pageGreets(t, ctx, addr, cookies) {
					t.Errorf("her old cookie still signs her in on %s", addr)
				}
			}
			dial(a, cookies)
			if f := readUntil(guest, "<strong>2</strong> people online"); strings.Contains(f, "mallory") {
				t.Errorf("a new handshake with her old cookie counts as mallory:\n%s", f)
			}
			if c.verb == "passwd" {
				if !pageGreets(t, ctx, a, loginCookies(t, b, "mallory", "mallory's new password")) {
					t.Error("mallory cannot sign in with her new password")
				}
			}
		})
	}
}

func sqliteFile(t testing.TB) string { return filepath.Join(t.TempDir(), "users.db") }

// TestDataFilesAreOwnerOnlyInAnExistingDirectory runs the program in a
// data directory that already exists, open to others as umask 022 leaves
// a new directory, under umask 022: every file it creates there is 0600,
// and it warns about the directory. It changes the process's umask, so it
// must not run in parallel with other tests.
func TestDataFilesAreOwnerOnlyInAnExistingDirectory(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	data := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	_, stderr, err := runCLI(t, "correct horse\n", "--data", data, "user", "add", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "data directory is readable or writable by other users") {
		t.Errorf("no warning about the open data directory in:\n%s", stderr)
	}
	if _, err := loadSecret(data, noEnv, false); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(data)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		names[e.Name()] = true
		if mode := info.Mode() & fs.ModePerm; mode != 0o600 {
			t.Errorf("%s is %v, want -rw-------", e.Name(), mode)
		}
	}
	if !names["users.db"] || !names["jwt-secret"] {
		t.Errorf("data directory holds %v, want users.db and jwt-secret among them", names)
	}

	if err := os.Chmod(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, stderr, _ := runCLI(t, "", "--data", data, "user", "list"); strings.Contains(stderr, "data directory") {
		t.Errorf("warned about a directory only its owner can use:\n%s", stderr)
	}
}

// TestDataFilesLeftOpenByAnOlderVersionAreMadePrivate starts the program on
// a data directory an older herenow left under a umask of 022: the user
// database, its -wal and -shm, and the signing secret all readable by
// others. After one start every one of them is owner-only.
func TestDataFilesLeftOpenByAnOlderVersionAreMadePrivate(t *testing.T) {
	data := t.TempDir()
	if _, _, err := runCLI(t, "correct horse\n", "--data", data, "user", "add", "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := loadSecret(data, noEnv, false); err != nil {
		t.Fatal(err)
	}
	open := []string{"users.db", "users.db-wal", "users.db-shm", "jwt-secret"}
	for _, name := range open {
		path := filepath.Join(data, name)
		if name == "users.db-wal" || name == "users.db-shm" {
			// SQLite removed them on close; an older version's crash leaves them.
			if err := os.WriteFile(path, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chmod(path, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := loadSecret(data, noEnv, false); err != nil {
		t.Fatal(err)
	}
	if out, _, err := runCLI(t, "", "--data", data, "user", "list"); err != nil || !strings.Contains(out, "alice") {
		t.Fatalf("user list on the older data: %q, %v", out, err)
	}
	for _, name := range open {
		info, err := os.Stat(filepath.Join(data, name))
		if errors.Is(err, fs.ErrNotExist) && name != "users.db" && name != "jwt-secret" {
			continue // SQLite may remove an empty -wal or -shm
		} else if err != nil {
			t.Fatal(err)
		}
		if mode := info.Mode() & fs.ModePerm; mode != 0o600 {
			t.Errorf("%s is still %v after a start, want -rw-------", name, mode)
		}
	}
}

// TestAnUnreadableUserDatabaseIsLoggedOncePerOutage polls a store that no
// longer answers several times: one warning, not one a second, and one line
// when it answers again.
func TestAnUnreadableUserDatabaseIsLoggedOncePerOutage(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "users.db")
	store, err := users.Open(ctx, path, bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	w, err := watchUserChanges(ctx, store, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	store.Close()
	for range 5 {
		w.poll(ctx)
	}
	if n := strings.Count(logs.String(), "cannot read user changes"); n != 1 {
		t.Errorf("5 failed polls logged %d warnings, want 1:\n%s", n, logs.String())
	}
	if w.store, err = users.Open(ctx, path, bcrypt.MinCost); err != nil {
		t.Fatal(err)
	}
	defer w.store.Close()
	w.poll(ctx)
	w.poll(ctx)
	if n := strings.Count(logs.String(), "reading user changes again"); n != 1 {
		t.Errorf("the database's return logged %d lines, want 1:\n%s", n, logs.String())
	}
}

// revokedSessions collects the sessions a watcher tells of.
type revokedSessions struct {
	mu   sync.Mutex
	jtis []string
}

func (r *revokedSessions) end(jti string, _ time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.jtis = append(r.jtis, jti)
}

func (r *revokedSessions) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.jtis)
}

// TestTheWatcherTellsOfEachLogoutOnce: the watcher tells of each session
// revoked after it started, in order and once, however often it polls; a
// session revoked before it started is left to the server, which reads
// them all when it is made.
func TestTheWatcherTellsOfEachLogoutOnce(t *testing.T) {
	ctx := context.Background()
	store, err := users.Open(ctx, filepath.Join(t.TempDir(), "users.db"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	until := time.Now().Add(time.Hour)
	if _, err := store.Revoke(ctx, "before", until); err != nil {
		t.Fatal(err)
	}
	w, err := watchUserChanges(ctx, store, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	var told revokedSessions
	w.OnRevoked(told.end)
	for _, jti := range []string{"first", "second"} {
		if _, err := store.Revoke(ctx, jti, until); err != nil {
			t.Fatal(err)
		}
	}
	w.poll(ctx)
	w.poll(ctx)
	if _, err := store.Revoke(ctx, "third", until); err != nil {
		t.Fatal(err)
	}
	w.poll(ctx)
	if got := told.get(); !slices.Equal(got, []string{"first", "second", "third"}) {
		t.Errorf("the watcher told of %q, want first, second, third, once each", got)
	}
}

// TestAPokedWatcherPollsAtOnce: a watcher whose next tick is an hour away
// reads a new logout as soon as it is poked.
func TestAPokedWatcherPollsAtOnce(t *testing.T) {
	ctx := context.Background()
	store, err := users.Open(ctx, filepath.Join(t.TempDir(), "users.db"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	w, err := watchUserChanges(ctx, store, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	w.every = time.Hour
	var told revokedSessions
	w.OnRevoked(told.end)
	defer w.run(ctx)()
	if _, err := store.Revoke(ctx, "session-1", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	w.poke()
	testkit.WaitUntil(t, 5*time.Second, "a poked watcher to read the new logout", func() bool { return len(told.get()) > 0 })
}
