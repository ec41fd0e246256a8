package main

// Helpers of the cluster fault tests (cluster_faults_test.go). They look at
// instances only from outside, as a browser or a load balancer would: the
// activity log and online list of GET /, /readyz, WebSocket frames, and
// processes. Nothing here names the cluster's or the hub's Go API, so the
// tests survive a rewrite of the protocol.

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"html"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"herenow/internal/testkit"
)

// logEntry is one entry of an activity log as a page renders it: the
// number in its element id (`<li id="a-7">`) and its text, tags stripped
// ("a guest came online · 12:03:04 UTC").
type logEntry struct {
	ID   uint64
	Text string
}

func (e logEntry) String() string { return fmt.Sprintf("a-%d %q", e.ID, e.Text) }

var (
	activityLogList = regexp.MustCompile(`(?s)<ul id="activity-log"[^>]*>(.*?)</ul>`)
	activityEntry   = regexp.MustCompile(`(?s)<li id="a-(\d+)">(.*?)</li>`)
	onlineUserList  = regexp.MustCompile(`(?s)<ul id="online-users"[^>]*>(.*?)</ul>`)
	onlineUserRow   = regexp.MustCompile(`(?s)<li id="u-\d+"[^>]*>.*?<span class="user-name-text">([^<\s]+)`)
	onlineCount     = regexp.MustCompile(`(?s)<p id="online-count"[^>]*>\s*<strong>(\d+)</strong>`)
	anyTag          = regexp.MustCompile(`<[^>]*>`)
)

// parseActivityLog returns the entries of the activity log in page, in the
// page's order (newest first).
func parseActivityLog(page string) ([]logEntry, error) {
	list := activityLogList.FindStringSubmatch(page)
	if list == nil {
		return nil, fmt.Errorf("no activity log in the page")
	}
	var entries []logEntry
	for _, m := range activityEntry.FindAllStringSubmatch(list[1], -1) {
		id, err := strconv.ParseUint(m[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("entry id a-%s: %w", m[1], err)
		}
		entries = append(entries, logEntry{ID: id, Text: strings.TrimSpace(html.UnescapeString(anyTag.ReplaceAllString(m[2], "")))})
	}
	return entries, nil
}

// onlineUserNames returns the names of the signed-in users a page or frame
// lists as online.
func onlineUserNames(page string) []string {
	var names []string
	list := onlineUserList.FindStringSubmatch(page)
	if list == nil {
		return nil
	}
	for _, m := range onlineUserRow.FindAllStringSubmatch(list[1], -1) {
		names = append(names, m[1])
	}
	return names
}

// boundedGet is GET of url within 5 s: a question to a stalled instance is
// an error, not a hang.
func boundedGet(url string) (*http.Response, error) {
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	return client.Get(url)
}

// view is what GET / of an instance shows a guest.
type view struct {
	Log    []logEntry
	Users  []string // signed-in users online
	People int      // the online count
}

// viewOf fetches and parses the page of the instance at addr.
func viewOf(addr string) (view, error) {
	resp, err := boundedGet("http://" + addr + "/")
	if err != nil {
		return view{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return view{}, err
	}
	page := string(body)
	log, err := parseActivityLog(page)
	if err != nil {
		return view{}, fmt.Errorf("GET / of %s: %w", addr, err)
	}
	count := onlineCount.FindStringSubmatch(page)
	if count == nil {
		return view{}, fmt.Errorf("GET / of %s: no online count", addr)
	}
	people, _ := strconv.Atoi(count[1])
	// A page counts its viewer, and this cookieless GET is a new guest
	// every time, never one already shown: it counted itself once.
	return view{Log: log, Users: onlineUserNames(page), People: people - 1}, nil
}

// mustView is viewOf failing the test on error.
func mustView(t *testing.T, addr string) view {
	t.Helper()
	v, err := viewOf(addr)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// readyStatus is the status /readyz of the instance at addr answers.
func readyStatus(addr string) (int, error) {
	resp, err := boundedGet("http://" + addr + "/readyz")
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// eventually polls check every 200 ms until it reports no problem, for at
// most limit; it returns true then. Otherwise it fails the test (without
// stopping it) with what, the time waited and the last problems found.
func eventually(t *testing.T, what string, limit time.Duration, check func() []string) bool {
	t.Helper()
	if problems := waitFor(limit, check); len(problems) > 0 {
		t.Errorf("waited %v for %s; still:\n\t%s", limit, what, strings.Join(problems, "\n\t"))
		return false
	}
	return true
}

// waitFor polls check every 200 ms until it reports no problem, for at
// most limit, and returns the last problems it reported (none: it held).
func waitFor(limit time.Duration, check func() []string) []string {
	for began := time.Now(); ; time.Sleep(200 * time.Millisecond) {
		problems := check()
		if len(problems) == 0 || time.Since(began) > limit {
			return problems
		}
	}
}

// viewProblem turns a failed fetch into a problem for eventually.
func viewProblem(name string, err error) []string {
	return []string{fmt.Sprintf("%s: %v", name, err)}
}

// forkedIDs reports every entry id that two pages, or one page twice,
// show with different texts, and every id one page shows twice.
func forkedIDs(logs map[string][]logEntry) []string {
	type shown struct{ instance, text string }
	var problems []string
	first := map[uint64]shown{}
	for _, name := range slices.Sorted(maps.Keys(logs)) {
		onPage := map[uint64]bool{}
		for _, e := range logs[name] {
			if onPage[e.ID] {
				problems = append(problems, fmt.Sprintf("%s shows entry id a-%d twice", name, e.ID))
			}
			onPage[e.ID] = true
			if f, ok := first[e.ID]; !ok {
				first[e.ID] = shown{name, e.Text}
			} else if f.text != e.Text {
				problems = append(problems, fmt.Sprintf("entry id a-%d is %q on %s but %q on %s", e.ID, f.text, f.instance, e.Text, name))
			}
		}
	}
	return problems
}

// missingFrom reports the entries of want (by id and text) that got lacks.
func missingFrom(got, want []logEntry) []logEntry {
	var missing []logEntry
	for _, e := range want {
		if !slices.Contains(got, e) {
			missing = append(missing, e)
		}
	}
	return missing
}

// countEntries counts the entries whose text contains every one of parts.
func countEntries(log []logEntry, parts ...string) int {
	n := 0
	for _, e := range log {
		if !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(e.Text, p) }) {
			n++
		}
	}
	return n
}

// clusterEnv is an environment for instances of a new cluster (a name of
// its own) on the Redis at redisURL, with no grace period and every change
// its own entry (no log window: the faults' scenarios count each guest's
// coming and going), plus extra.
func clusterEnv(redisURL string, extra map[string]string) map[string]string {
	env := map[string]string{
		"HERENOW_JWT_SECRET":   "a shared secret of at least thirty-two bytes",
		"HERENOW_REDIS_URL":    redisURL,
		"HERENOW_CLUSTER_NAME": "herenow-test-" + rand.Text(),
		"HERENOW_GRACE":        "0s",
		"HERENOW_LOG_WINDOW":   "0s",
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

func getenvOf(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

// addUsers adds each name with the password "<name>'s password" to the user
// store env names.
func addUsers(t *testing.T, env map[string]string, names ...string) {
	t.Helper()
	for _, name := range names {
		if err := run(context.Background(), []string{"herenow", "--data", t.TempDir(), "user", "add", name}, getenvOf(env),
			strings.NewReader(name+"'s password\n"), &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
			t.Fatalf("user add %s: %v", name, err)
		}
	}
}

// launchInstance is startInstance without its readiness check, for an
// instance started while its Redis is away: it waits until the instance
// serves pages and returns its address. Cleanup stops it and requires a
// clean exit.
func launchInstance(t *testing.T, env map[string]string) string {
	t.Helper()
	addr := testkit.FreeLoopbackAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var logs testkit.LogBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"herenow", "--addr", addr, "--data", t.TempDir()}, getenvOf(env), strings.NewReader(""), &bytes.Buffer{}, &logs)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("instance on %s: %v\n%s", addr, err, logs.String())
		}
	})
	waitServing(t, "http://"+addr, &logs)
	return addr
}

// liveClient is one open WebSocket of the live region, read until it ends
// (so that pings are answered); its frames are kept.
type liveClient struct {
	conn   *websocket.Conn
	frames chan string   // closed once the connection ended
	ended  chan struct{} // closed once the reader returned
}

// connectLive opens the live WebSocket of the instance at addr with the
// given cookies (nil: a new guest) and keeps reading it. The connection
// stays until closed or the test ends.
func connectLive(t *testing.T, addr string, cookies http.Header) *liveClient {
	t.Helper()
	c, err := openLive(t, addr, cookies)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// openLive is connectLive returning a refused handshake as an error.
func openLive(t *testing.T, addr string, cookies http.Header) (*liveClient, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws://"+addr+"/live/ws", &websocket.DialOptions{HTTPHeader: cookies})
	if err != nil {
		return nil, fmt.Errorf("live WebSocket to %s: %w", addr, err)
	}
	c := &liveClient{conn: conn, frames: make(chan string, 1024), ended: make(chan struct{})}
	go func() {
		defer close(c.ended)
		defer close(c.frames)
		for {
			_, f, err := conn.Read(context.Background())
			if err != nil {
				return
			}
			select {
			case c.frames <- string(f):
			default: // nobody is looking at this client's frames
			}
		}
	}()
	t.Cleanup(func() {
		conn.CloseNow()
		<-c.ended
	})
	return c, nil
}

// first returns the first frame (the snapshot), waiting at most 10 s.
func (c *liveClient) first(t *testing.T) string {
	t.Helper()
	select {
	case f, ok := <-c.frames:
		if !ok {
			t.Fatal("the live WebSocket ended before its first frame")
		}
		return f
	case <-time.After(10 * time.Second):
		t.Fatal("no first frame within 10 s")
	}
	return ""
}

// waitEnd waits for the server to end the connection, for at most limit.
func (c *liveClient) waitEnd(t *testing.T, limit time.Duration) {
	t.Helper()
	select {
	case <-c.ended:
	case <-time.After(limit):
		t.Fatalf("the live WebSocket did not end within %v", limit)
	}
}

// leave closes the connection as a closing tab does.
func (c *liveClient) leave() { c.conn.Close(websocket.StatusGoingAway, "") }

// privateRedis is a redis-server of the test's own, which it can stop and
// start again on the same port.
type privateRedis struct {
	t    *testing.T
	addr string
	dir  string // its data directory
	aof  bool   // whether its data survives a restart
	cmd  *exec.Cmd
	gone chan struct{}
}

// startPrivateRedis runs a redis-server on a free loopback port. With
// persistent, every write is appended to a file in its own directory
// (fsync'd at once) and a restart reloads it: the data outlives the
// process, as it would a Redis that was only unreachable. Without, a
// restart is empty.
func startPrivateRedis(t *testing.T, persistent bool) *privateRedis {
	t.Helper()
	r := &privateRedis{t: t, addr: testkit.FreeLoopbackAddr(t), dir: t.TempDir(), aof: persistent}
	r.start()
	t.Cleanup(r.kill)
	return r
}

func (r *privateRedis) url() string { return "redis://" + r.addr + "/0" }

// start runs the server and waits until it answers PING, for at most 10 s.
func (r *privateRedis) start() {
	r.t.Helper()
	_, port, _ := net.SplitHostPort(r.addr)
	args := []string{"--port", port, "--bind", "127.0.0.1", "--dir", r.dir, "--save", ""}
	if r.aof {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	cmd := exec.Command("redis-server", args...)
	var out testkit.LogBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server (go tool task redis installs it): %v", err)
	}
	r.cmd, r.gone = cmd, make(chan struct{})
	go func(gone chan struct{}) { cmd.Wait(); close(gone) }(r.gone)
	for deadline := time.Now().Add(10 * time.Second); !redisAnswers(r.addr); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server on %s did not answer within 10 s:\n%s", r.addr, out.String())
		}
	}
}

// stop shuts the server down as an operator would (SIGTERM: it finishes
// writing its file) and waits for it to exit, for at most 10 s.
func (r *privateRedis) stop() {
	r.t.Helper()
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.gone:
	case <-time.After(10 * time.Second):
		r.t.Fatal("redis-server did not stop within 10 s of SIGTERM")
	}
}

// kill ends the server at once (SIGKILL), if it is running.
func (r *privateRedis) kill() {
	if r.cmd == nil {
		return
	}
	r.cmd.Process.Kill()
	<-r.gone
}

// redisAnswers reports whether a Redis at addr answers PING with PONG.
func redisAnswers(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := io.WriteString(c, "PING\r\n"); err != nil {
		return false
	}
	buf := make([]byte, 7)
	n, _ := io.ReadFull(c, buf)
	return string(buf[:n]) == "+PONG\r\n"
}

// buildHerenow builds the program into a temporary directory and returns
// the binary's path.
func buildHerenow(t *testing.T) string {
	t.Helper()
	bin := t.TempDir() + "/herenow"
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// startBinary runs the built program on a free loopback port with env
// added to the test's environment, waits until it serves, and returns its
// address and process. Cleanup kills it (a stopped process too).
func startBinary(t *testing.T, bin string, env map[string]string) (string, *os.Process) {
	t.Helper()
	addr := testkit.FreeLoopbackAddr(t)
	cmd := exec.Command(bin, "--addr", addr, "--data", t.TempDir())
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var logs testkit.LogBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	waitServing(t, "http://"+addr, &logs)
	return addr, cmd.Process
}

// logGrows is a check for eventually: the page at addr counts people and
// shows more than n entries.
func logGrows(addr string, people, n int) func() []string {
	return func() []string {
		v, err := viewOf(addr)
		if err != nil {
			return viewProblem(addr, err)
		}
		if v.People != people || len(v.Log) <= n {
			return []string{fmt.Sprintf("%d people, %d entries, want %d and more than %d: %v", v.People, len(v.Log), people, n, v.Log)}
		}
		return nil
	}
}

// readyIs is a check for eventually: /readyz at addr answers status.
func readyIs(addr string, status int) func() []string {
	return func() []string {
		got, err := readyStatus(addr)
		if got != status {
			return []string{fmt.Sprintf("/readyz of %s: %d %v, want %d", addr, got, err, status)}
		}
		return nil
	}
}

// peopleOnEach is a check for eventually: every instance counts n people.
func peopleOnEach(instances map[string]string, n int) func() []string {
	return func() []string {
		var problems []string
		for name, addr := range instances {
			if v, err := viewOf(addr); err != nil || v.People != n {
				problems = append(problems, fmt.Sprintf("%s counts %d people (%v), want %d; log: %v", name, v.People, err, n, v.Log))
			}
		}
		return problems
	}
}

// signsIn reports whether GET / of the instance at addr with cookies shows
// a signed-in page rather than a guest's.
func signsIn(t *testing.T, addr string, cookies http.Header) bool {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = cookies.Clone()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page strings.Builder
	if _, err := io.Copy(&page, resp.Body); err != nil {
		t.Fatal(err)
	}
	return strings.Contains(page.String(), "Hello") || !strings.Contains(page.String(), `href="/login"`)
}

// drain returns the frames waiting in frames without blocking.
func drain(frames chan string) []string {
	var got []string
	for {
		select {
		case f, ok := <-frames:
			if !ok {
				return got
			}
			got = append(got, f)
		default:
			return got
		}
	}
}
