package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"slices"
	"time"
)

// roleEnv, set to "worker", makes the binary serve one coordinator over
// stdin and stdout instead of running a measurement.
const roleEnv = "HERENOW_LOADTEST_ROLE"

// closeTimeout bounds how long a process takes to close its clients.
const closeTimeout = 15 * time.Second

// A coordinator and its workers speak JSON lines: a command on the
// worker's stdin, exactly one reply with the same id on its stdout.
//
//	init   → the worker's share of the clients; reply when ready
//	lobby  → open its lobby viewers; reply when every handshake ended (stormResult)
//	storm  → open its clients; reply when every handshake ended (stormResult)
//	status → counters now
//	mark   → counters now, the lobby's most frames per tick since the last mark; start that over
//	arm    → start probe round seq; reply once armed
//	reach  → reply when every alive client had a frame in the round, or at deadline (reachResult)
//	close  → close every client; reply with the final counters
//	cancel → stop a storm or reach in progress, and any later one; no reply
type command struct {
	ID       int64       `json:"id"`
	Op       string      `json:"op"`
	Init     *workerInit `json:"init,omitempty"`
	Seq      uint32      `json:"seq,omitempty"`
	Deadline int64       `json:"deadline,omitempty"` // UnixNano: when storm and reach give up
}

// workerInit is one worker's share of the run.
type workerInit struct {
	URL         string        `json:"url"`
	Cookie      string        `json:"cookie,omitempty"`
	N           int           `json:"n"`
	First       int           `json:"first"` // the global index of this worker's first client: client i joins room r{i mod Rooms}
	Rooms       int           `json:"rooms,omitempty"`
	Lobby       int           `json:"lobby,omitempty"` // lobby viewers at URL itself
	Tick        time.Duration `json:"tick,omitempty"`  // a lobby viewer's window
	Inflight    int           `json:"inflight"`
	DialTimeout time.Duration `json:"dial_timeout"`
	CPUProfile  string        `json:"cpu_profile,omitempty"` // a file for this process's CPU profile
	GoMaxProcs  int           `json:"gomaxprocs,omitempty"`  // 0: leave as is
}

// reply answers one command.
type reply struct {
	ID       int64        `json:"id"`
	Op       string       `json:"op"`
	Err      string       `json:"err,omitempty"`
	Storm    *stormResult `json:"storm,omitempty"`
	Counters *counters    `json:"counters,omitempty"`
	Reach    *reachResult `json:"reach,omitempty"`
}

// serveWorker holds clients as the coordinator on the other end of in and
// out commands, until in ends; then it closes them all.
func serveWorker(in io.Reader, out io.Writer) error {
	// A cancel command must reach a storm or a reach in progress, so
	// commands are read beside the loop that runs them.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmds := make(chan command, 16)
	readErr := make(chan error, 1)
	go func() {
		defer close(cmds)
		dec := json.NewDecoder(in)
		for {
			var cmd command
			if err := dec.Decode(&cmd); err != nil {
				if !errors.Is(err, io.EOF) {
					readErr <- fmt.Errorf("read command: %w", err)
				}
				cancel()
				return
			}
			if cmd.Op == "cancel" {
				cancel()
				continue
			}
			cmds <- cmd
		}
	}()

	enc := json.NewEncoder(out)
	var f, lobby *fleet // lobby: nil without lobby viewers
	var share workerInit
	defer func() {
		if f != nil {
			f.closeAll(closeTimeout)
		}
		if lobby != nil {
			lobby.closeAll(closeTimeout)
		}
	}()
	for cmd := range cmds {
		rep := reply{ID: cmd.ID, Op: cmd.Op}
		switch {
		case cmd.Op == "init" && cmd.Init != nil && f == nil:
			share = *cmd.Init
			if err := checkLoopbackURLs(share.URL); err != nil {
				rep.Err = err.Error()
				break
			}
			if share.GoMaxProcs > 0 {
				runtime.GOMAXPROCS(share.GoMaxProcs)
			}
			if share.CPUProfile != "" {
				stop, err := startCPUProfile(share.CPUProfile)
				if err != nil {
					rep.Err = err.Error()
					break
				}
				defer stop()
			}
			if share.Rooms > 0 {
				if _, err := roomURLs(share.URL, 0); err != nil {
					rep.Err = err.Error()
					break
				}
			}
			tr := config{URL: share.URL}.transport()
			f = newFleet(tr, share.URL, share.Cookie, share.DialTimeout).inRooms(share.Rooms, share.First)
			if share.Lobby > 0 {
				lobby = newFleet(tr, share.URL, share.Cookie, share.DialTimeout).asLobby(share.Tick)
			}
		case f == nil:
			rep.Err = fmt.Sprintf("%s before init", cmd.Op)
		case cmd.Op == "storm" || cmd.Op == "lobby":
			fl, n := f, share.N
			if cmd.Op == "lobby" {
				fl, n = lobby, share.Lobby
			}
			r := stormResult{FirstDial: time.Now().UnixNano()}
			if fl != nil {
				sctx, scancel := context.WithDeadline(ctx, time.Unix(0, cmd.Deadline))
				r = fl.storm(sctx, n, share.Inflight)
				scancel()
			}
			rep.Storm = &r
		case cmd.Op == "status" || cmd.Op == "mark":
			c := withLobby(f.counters(), lobby, cmd.Op == "mark")
			rep.Counters = &c
		case cmd.Op == "arm":
			f.arm(cmd.Seq)
		case cmd.Op == "reach":
			rctx, rcancel := context.WithDeadline(ctx, time.Unix(0, cmd.Deadline))
			r := f.waitReached(rctx)
			rcancel()
			rep.Reach = &r
		case cmd.Op == "close":
			f.closeAll(closeTimeout)
			if lobby != nil {
				lobby.closeAll(closeTimeout)
			}
			c := withLobby(f.counters(), lobby, false)
			rep.Counters = &c
		default:
			rep.Err = fmt.Sprintf("unknown command %q", cmd.Op)
		}
		if err := enc.Encode(rep); err != nil {
			return fmt.Errorf("write reply: %w", err)
		}
	}
	select {
	case err := <-readErr:
		return err
	default:
		return nil
	}
}

// withLobby adds the lobby viewers' tallies to c, the other clients'; with
// mark, the most frames per tick starts over.
func withLobby(c counters, lobby *fleet, mark bool) counters {
	if lobby == nil {
		return c
	}
	l := lobby.counters()
	c.Lobby = lobbyCounters{Alive: l.Alive, Frames: l.Frames, Bytes: l.Bytes, Failed: l.Failed,
		MaxPerTick: lobby.maxPerTick.Load(), MaxPerHalfTick: lobby.maxPerHalfTick.Load()}
	if mark {
		c.Lobby.MaxPerTick, c.Lobby.MaxPerHalfTick = lobby.takeMaxPerTick()
	}
	c.LastFrame = max(c.LastFrame, l.LastFrame)
	c.ReadErrors += l.ReadErrors
	for k, v := range l.Drops {
		c.Drops[k] += v
	}
	for _, e := range l.Errors {
		if len(c.Errors) < maxErrorSamples && !slices.Contains(c.Errors, e) {
			c.Errors = append(c.Errors, e)
		}
	}
	return c
}

// workerLink is the coordinator's end of one worker, in this process or
// another.
type workerLink struct {
	enc     *json.Encoder
	stdin   io.Closer
	replies chan reply // closed when the worker's output ends
	nextID  int64
	proc    *exec.Cmd  // nil when the worker runs in this process
	exited  chan error // the worker's end
}

// startInProcess runs a worker in this process over pipes, exactly as a
// separate one would run.
func startInProcess() *workerLink {
	cmdR, cmdW := io.Pipe()
	repR, repW := io.Pipe()
	w := &workerLink{enc: json.NewEncoder(cmdW), stdin: cmdW, exited: make(chan error, 1)}
	go func() {
		err := serveWorker(cmdR, repW)
		cmdR.Close()
		repW.Close()
		w.exited <- err
	}()
	w.readReplies(repR)
	return w
}

// startProcess re-executes this binary as a worker.
func startProcess(stderr io.Writer) (*workerLink, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own binary: %w", err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), roleEnv+"=worker")
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start worker: %w", err)
	}
	w := &workerLink{enc: json.NewEncoder(stdin), stdin: stdin, proc: cmd, exited: make(chan error, 1)}
	w.readReplies(stdout)
	return w, nil
}

func (w *workerLink) readReplies(r io.Reader) {
	w.replies = make(chan reply, 4)
	go func() {
		defer close(w.replies)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var rep reply
			if err := json.Unmarshal(sc.Bytes(), &rep); err != nil {
				rep = reply{ID: -1, Err: fmt.Sprintf("unreadable reply %q", sc.Text())}
			}
			w.replies <- rep
		}
		if w.proc != nil {
			w.exited <- w.proc.Wait() // only after stdout is drained
		}
	}()
}

// send writes one command and returns its id.
func (w *workerLink) send(cmd command) (int64, error) {
	w.nextID++
	cmd.ID = w.nextID
	if err := w.enc.Encode(cmd); err != nil {
		return 0, fmt.Errorf("send %s: %w", cmd.Op, err)
	}
	return cmd.ID, nil
}

// await returns the reply to command id, skipping replies to commands the
// coordinator gave up on.
func (w *workerLink) await(ctx context.Context, id int64) (reply, error) {
	for {
		select {
		case rep, ok := <-w.replies:
			switch {
			case !ok:
				return reply{}, errors.New("worker exited")
			case rep.ID == -1:
				return reply{}, errors.New(rep.Err)
			case rep.ID != id:
				continue
			case rep.Err != "":
				return rep, fmt.Errorf("worker: %s", rep.Err)
			}
			return rep, nil
		case <-ctx.Done():
			return reply{}, ctx.Err()
		}
	}
}

// stop ends the worker: its input closes, it closes its clients and exits.
// It returns the worker process's CPU time (0 in this process), killing a
// process that does not exit within timeout.
func (w *workerLink) stop(timeout time.Duration) time.Duration {
	w.stdin.Close()
	go func() {
		for range w.replies { // let the reader reach EOF
		}
	}()
	select {
	case <-w.exited:
	case <-time.After(timeout):
		if w.proc == nil {
			return 0
		}
		w.proc.Process.Kill()
		select {
		case <-w.exited:
		case <-time.After(5 * time.Second):
			return 0
		}
	}
	if w.proc == nil || w.proc.ProcessState == nil {
		return 0
	}
	return w.proc.ProcessState.UserTime() + w.proc.ProcessState.SystemTime()
}

// startCPUProfile profiles this process into path until stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
