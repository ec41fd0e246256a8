package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"herenow/internal/testkit"
	"herenow/internal/wstest"
	"herenow/users/userstest"
)

func noEnv(string) string { return "" }

// runCLI runs the program to completion and returns what it printed.
func runCLI(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), append([]string{"herenow"}, args...), noEnv, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestUserSubcommands(t *testing.T) {
	data := t.TempDir()
	if _, _, err := runCLI(t, "correct horse\n", "--data", data, "user", "add", "alice"); err != nil {
		t.Fatal(err)
	}
	_, _, err := runCLI(t, "another one\n", "--data", data, "user", "add", "alice")
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("duplicate add: %v, want an 'already exists' error", err)
	}
	_, _, err = runCLI(t, "whatever123\n", "--data", data, "user", "passwd", "nobody")
	if err == nil || !strings.Contains(err.Error(), "no such user") {
		t.Errorf("passwd of unknown user: %v, want a 'no such user' error", err)
	}
	_, _, err = runCLI(t, "", "--data", data, "user", "add", "bob")
	if err == nil || !strings.Contains(err.Error(), "no password") {
		t.Errorf("add without a password on stdin: %v", err)
	}
	out, _, err := runCLI(t, "", "--data", data, "user", "list")
	if err != nil || !strings.Contains(out, "alice") || strings.Contains(out, "bob") {
		t.Errorf("list = %q, %v; want alice only", out, err)
	}
	if _, _, err := runCLI(t, "", "--data", data, "user", "delete", "alice"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, "", "--data", data, "user", "frobnicate"); err == nil {
		t.Error("unknown verb accepted")
	}
}

// TestUserAddRefusesLookAlikesAndRenameFixesANames checks what an operator
// sees: a name that impersonates is refused with the rule it broke, a
// fullwidth name is kept in its ordinary form, and rename moves an account
// to a new name that passes the same rules.
func TestUserAddRefusesLookAlikesAndRenameFixesANames(t *testing.T) {
	data := t.TempDir()
	if _, _, err := runCLI(t, "correct horse\n", "--data", data, "user", "add", "alice"); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"\u0430lice":   "mixes the Cyrillic and Latin scripts",
		"Alice":        "looks like it, already exists",
		"and 3 guests": "contains a space",
		"\u3164":       "invisible",
	} {
		if _, _, err := runCLI(t, "long enough\n", "--data", data, "user", "add", name); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("user add %q: %v, want an error saying %q", name, err, want)
		}
	}
	if out, _, err := runCLI(t, "long enough\n", "--data", data, "user", "add", "ｂｏｂ"); err != nil || out != "added bob\n" {
		t.Errorf("user add of a fullwidth name printed %q, %v; want it added as bob", out, err)
	}
	if _, _, err := runCLI(t, "", "--data", data, "user", "rename", "bob", "alice"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("rename bob to alice: %v, want 'already exists'", err)
	}
	if out, _, err := runCLI(t, "", "--data", data, "user", "rename", "bob", "robert"); err != nil || !strings.Contains(out, "renamed bob") {
		t.Errorf("rename bob to robert: %q, %v", out, err)
	}
	if out, _, err := runCLI(t, "", "--data", data, "user", "list"); err != nil || !strings.Contains(out, "robert") || strings.Contains(out, "bob") {
		t.Errorf("list after the rename = %q, %v; want robert, no bob", out, err)
	}
}

func TestHelpListsEveryFlagWithItsEnvironmentVariable(t *testing.T) {
	_, stderr, err := runCLI(t, "", "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--addr", "HERENOW_ADDR", ":8080", "--data", "HERENOW_DATA", "--list-limit", "HERENOW_LIST_LIMIT", "100", "HERENOW_JWT_SECRET"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}

// TestHelpIsATableWithTheREADMEsDefaults: each flag's line has its
// variable and default in columns of their own, defaults written as the
// README writes them ("12h", "info") and none when empty; its description
// follows, whole, in lines that fit a terminal.
func TestHelpIsATableWithTheREADMEsDefaults(t *testing.T) {
	_, help, err := runCLI(t, "", "--help")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(help, "\n")
	for i, l := range lines {
		if len(l) > 80 {
			t.Errorf("line %d is %d characters long: %q", i+1, len(l), l)
		}
	}
	if strings.Contains(help, "(default") {
		t.Errorf("--help still says \"(default …)\":\n%s", help)
	}
	envColumn, defaultColumn := -1, -1
	var c config
	newFlagSet(&c, io.Discard).VisitAll(func(f *flag.Flag) {
		i := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "  --"+f.Name+" ") })
		if i < 0 {
			t.Errorf("no line for --%s", f.Name)
			return
		}
		fields := strings.Fields(lines[i])
		env := strings.Index(lines[i], envName(f.Name))
		switch {
		case env < 0 || fields[1] != envName(f.Name):
			t.Errorf("--%s's line lacks %s: %q", f.Name, envName(f.Name), lines[i])
		case envColumn < 0:
			envColumn = env
		case env != envColumn:
			t.Errorf("--%s's variable starts in column %d, the others' in %d", f.Name, env, envColumn)
		}
		def := strings.TrimSpace(lines[i][min(env+len(envName(f.Name)), len(lines[i])):])
		switch want := map[string]string{"session-ttl": "12h", "write-timeout": "1m", "log-level": "info", "addr": ":8080"}[f.Name]; {
		case want != "" && def != want, want == "" && f.DefValue == "" && def != "":
			t.Errorf("--%s's default reads %q, want %q", f.Name, def, want)
		}
		if def != "" {
			col := strings.LastIndex(lines[i], def)
			if defaultColumn < 0 {
				defaultColumn = col
			} else if col != defaultColumn {
				t.Errorf("--%s's default starts in column %d, the others' in %d", f.Name, col, defaultColumn)
			}
		}
		var desc []string
		for _, l := range lines[i+1:] {
			if !strings.HasPrefix(l, "      ") {
				break
			}
			desc = append(desc, strings.TrimSpace(l))
		}
		if got := strings.Join(desc, " "); got != f.Usage {
			t.Errorf("--%s's description reads %q, want %q", f.Name, got, f.Usage)
		}
	})
}

func TestEnvironmentConfiguresAndFlagsWin(t *testing.T) {
	env := map[string]string{"HERENOW_LIST_LIMIT": "7", "HERENOW_ADDR": "127.0.0.1:1"}
	cfg, _, err := parseConfig([]string{"herenow", "--addr", "127.0.0.1:2"}, func(k string) string { return env[k] }, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.listLimit != 7 || cfg.addr != "127.0.0.1:2" {
		t.Errorf("list limit %d, addr %q; want 7 from the environment and the flag's address", cfg.listLimit, cfg.addr)
	}
	if _, _, err := parseConfig([]string{"herenow"}, func(k string) string { return map[string]string{"HERENOW_GRACE": "soon"}[k] }, &bytes.Buffer{}); err == nil {
		t.Error("a malformed HERENOW_GRACE was accepted")
	}
}

func TestShortJWTSecretIsRefused(t *testing.T) {
	env := func(k string) string {
		if k == "HERENOW_JWT_SECRET" {
			return "short"
		}
		return ""
	}
	err := run(context.Background(), []string{"herenow", "--data", t.TempDir(), "--addr", "127.0.0.1:0"}, env, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "HERENOW_JWT_SECRET") {
		t.Errorf("err = %v, want a refusal naming HERENOW_JWT_SECRET", err)
	}
}

// TestServesAndDrainsOnCancel runs the real program, connects a live client
// and cancels the context as SIGTERM would: the client must see 1012 and run
// must return cleanly.
func TestServesAndDrainsOnCancel(t *testing.T) {
	addr, metricsAddr := testkit.FreeLoopbackAddr(t), testkit.FreeLoopbackAddr(t)
	data := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	var logs testkit.LogBuffer
	go func() {
		done <- run(ctx, []string{"herenow", "--addr", addr, "--metrics-addr", metricsAddr, "--data", data}, noEnv, strings.NewReader(""), &bytes.Buffer{}, &logs)
	}()
	base := "http://" + addr
	waitServing(t, base, &logs)
	if secret, err := os.ReadFile(filepath.Join(data, "jwt-secret")); err != nil || len(secret) < minSecretLen {
		t.Errorf("no signing secret kept in the data directory: %d bytes, %v", len(secret), err)
	}

	dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer dcancel()
	conn, _, err := websocket.Dial(dctx, "ws://"+addr+"/live/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	if _, _, err := conn.Read(dctx); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"http://" + addr + "/healthz":             "ok",
		"http://" + addr + "/readyz":              "ready",
		"http://" + metricsAddr + "/metrics":      `herenow_live_connections{transport="websocket"} 1`,
		"http://" + metricsAddr + "/debug/pprof/": "goroutine",
	} {
		if body := httpGet(t, path); !strings.Contains(body, want) {
			t.Errorf("GET %s lacks %q", path, want)
		}
	}
	if body := httpGet(t, base+"/metrics"); strings.Contains(body, "herenow_") {
		t.Error("metrics are served on the public port")
	}
	cancel()
	if got, err := wstest.ReadUntilClose(dctx, conn); got != websocket.StatusServiceRestart {
		t.Errorf("close status %v (%v), want 1012", got, err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run returned %v after a graceful shutdown", err)
		}
	case <-time.After(drainTimeout + 5*time.Second):
		t.Fatal("run did not return after cancel")
	}
	if !strings.Contains(logs.String(), "shutting down") {
		t.Errorf("no shutdown log line in:\n%s", logs.String())
	}
}

// TestStartUpLogSaysWhatToOpenAndHowToAddAUser runs the program on an
// empty store, then again once it has a user: the line that says it is
// listening gives the URL to open, and how to add a user only while there
// is none.
func TestStartUpLogSaysWhatToOpenAndHowToAddAUser(t *testing.T) {
	data, addr := t.TempDir(), testkit.FreeLoopbackAddr(t)
	listening := func() string {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var logs testkit.LogBuffer
		done := make(chan error, 1)
		go func() {
			done <- run(ctx, []string{"herenow", "--addr", addr, "--data", data}, noEnv, strings.NewReader(""), io.Discard, &logs)
		}()
		waitServing(t, "http://"+addr, &logs)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(logs.String()) {
			if strings.Contains(line, "msg=listening") && strings.Contains(line, "serves=app") {
				return line
			}
		}
		t.Fatalf("no line says the app is listening:\n%s", logs.String())
		return ""
	}
	const hint = "herenow user add NAME"
	line := listening()
	if !strings.Contains(line, "url=http://"+addr+"/") || !strings.Contains(line, hint) {
		t.Errorf("with no users, the start-up line lacks the URL http://%s/ or %q:\n%s", addr, hint, line)
	}
	if _, _, err := runCLI(t, "correct horse\n", "--data", data, "user", "add", "alice"); err != nil {
		t.Fatal(err)
	}
	line = listening()
	if !strings.Contains(line, "url=http://"+addr+"/") || strings.Contains(line, hint) {
		t.Errorf("with a user, the start-up line lacks the URL or still says how to add one:\n%s", line)
	}
}

// TestOpenURLNamesAHostABrowserCanReach: an address that listens on every
// interface is opened as localhost; a public URL wins.
func TestOpenURLNamesAHostABrowserCanReach(t *testing.T) {
	public, _ := url.Parse("https://presence.example.com")
	for _, c := range []struct {
		addr   string
		public *url.URL
		want   string
	}{
		{"[::]:8080", nil, "http://localhost:8080/"},
		{"0.0.0.0:8080", nil, "http://localhost:8080/"},
		{":8080", nil, "http://localhost:8080/"},
		{"127.0.0.1:8080", nil, "http://127.0.0.1:8080/"},
		{"[::1]:9000", nil, "http://[::1]:9000/"},
		{"192.0.2.7:80", nil, "http://192.0.2.7:80/"},
		{"[::]:8080", public, "https://presence.example.com/"},
	} {
		if got := openURL(c.addr, c.public); got != c.want {
			t.Errorf("openURL(%q, %v) = %q, want %q", c.addr, c.public, got, c.want)
		}
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestREADMEConfigurationTableMatchesTheFlags keeps the README's table and
// the program's flags in step: same flags, same variables, same defaults,
// spelled as --help spells them.
func TestREADMEConfigurationTableMatchesTheFlags(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	// | `--addr` | `HERENOW_ADDR` | `:8080` | what it does |
	row := regexp.MustCompile("(?m)^\\| `--([a-z-]+)` \\| `([A-Z_]+)` \\| `([^`]*)` \\|")
	documented := map[string][2]string{}
	for _, m := range row.FindAllStringSubmatch(string(readme), -1) {
		documented[m[1]] = [2]string{m[2], m[3]}
	}
	var c config
	fs := newFlagSet(&c, io.Discard)
	fs.VisitAll(func(f *flag.Flag) {
		doc, ok := documented[f.Name]
		if !ok {
			t.Errorf("README's configuration table lacks --%s", f.Name)
			return
		}
		delete(documented, f.Name)
		if doc[0] != envName(f.Name) {
			t.Errorf("README names %s for --%s, the program reads %s", doc[0], f.Name, envName(f.Name))
		}
		// Spelled alike, as --help writes it: "12h", not "12h0m0s".
		if doc[1] != defaultText(f) {
			t.Errorf("README gives --%s a default of %q, --help %q", f.Name, doc[1], defaultText(f))
		}
	})
	for name := range documented {
		t.Errorf("README documents --%s, which the program does not have", name)
	}
}

// waitServing polls base until it answers, for at most 10 s; on failure it
// shows the server's log.
func waitServing(t *testing.T, base string, logs *testkit.LogBuffer) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(base + "/")
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not come up: %v\n%s", err, logs.String())
		}
	}
}

// TestUserSubcommandsOnPostgres keeps the users in PostgreSQL with
// --database: a user added through one data directory is listed through
// another, as instances sharing the database would see it, and no SQLite
// file appears.
func TestUserSubcommandsOnPostgres(t *testing.T) {
	dsn := userstest.PostgresDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	first, second := t.TempDir(), t.TempDir()
	var out bytes.Buffer
	err := run(ctx, []string{"herenow", "--data", first, "--database", dsn, "user", "add", "alice"}, noEnv, strings.NewReader("correct horse\n"), &out, io.Discard)
	if err != nil || !strings.Contains(out.String(), "added alice") {
		t.Fatalf("user add = %q, %v", out.String(), err)
	}
	out.Reset()
	env := func(k string) string { return map[string]string{"HERENOW_DATABASE": dsn}[k] }
	err = run(ctx, []string{"herenow", "--data", second, "user", "list"}, env, strings.NewReader(""), &out, io.Discard)
	if err != nil || !strings.Contains(out.String(), "alice") {
		t.Errorf("user list with HERENOW_DATABASE = %q, %v; want alice", out.String(), err)
	}
	for _, dir := range []string{first, second} {
		if _, err := os.Stat(filepath.Join(dir, "users.db")); err == nil {
			t.Errorf("a SQLite database was created in %s", dir)
		}
	}
}
