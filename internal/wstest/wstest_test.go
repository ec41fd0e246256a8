package wstest_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"herenow/internal/testkit"
	"herenow/internal/wstest"
)

// server sends "one", "two" and "three", then closes with 1012 and the
// reason "session ended"; on /drop it sends "one" and drops the
// connection without a close frame.
func server(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		for _, m := range []string{"one", "two", "three"} {
			if err := conn.Write(ctx, websocket.MessageText, []byte(m)); err != nil {
				return
			}
			if r.URL.Path == "/drop" {
				conn.CloseNow()
				return
			}
		}
		conn.Close(websocket.StatusServiceRestart, "session ended")
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

func TestReadUntilReturnsTheFrameThatHasWhatItWants(t *testing.T) {
	url := server(t)
	conn := wstest.Dial(t, t.Context(), url, nil)
	if got := wstest.ReadUntil(t, t.Context(), conn, "tw"); got != "two" {
		t.Errorf("ReadUntil(tw) = %q, want two", got)
	}
	msg := testkit.Record(t, func(tb testing.TB) { wstest.ReadUntil(tb, t.Context(), conn, "four") }).Fatal
	if !strings.HasPrefix(msg, `waiting for "four": `) {
		t.Errorf("ReadUntil on a connection that closed first failed with %q, want it to say what it waited for", msg)
	}
}

func TestReadUntilCloseSaysHowTheConnectionEnded(t *testing.T) {
	url := server(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if code, err := wstest.ReadUntilClose(ctx, wstest.Dial(t, ctx, url, nil)); code != websocket.StatusServiceRestart {
		t.Errorf("ReadUntilClose = %v (%v), want 1012", code, err)
	}
	if code, err := wstest.ReadUntilClose(ctx, wstest.Dial(t, ctx, url+"/drop", nil)); code != -1 || err == nil {
		t.Errorf("ReadUntilClose of a dropped connection = %v (%v), want -1 and the error", code, err)
	}
}

func TestCloseStatusOfReturnsTheCodeAndReason(t *testing.T) {
	url := server(t)
	code, reason := wstest.CloseStatusOf(t, wstest.Dial(t, t.Context(), url, nil), 5*time.Second)
	if code != websocket.StatusServiceRestart || reason != "session ended" {
		t.Errorf("CloseStatusOf = %v %q, want 1012 \"session ended\"", code, reason)
	}
	msg := testkit.Record(t, func(tb testing.TB) {
		wstest.CloseStatusOf(tb, wstest.Dial(t, t.Context(), url+"/drop", nil), 5*time.Second)
	}).Fatal
	if !strings.HasPrefix(msg, "connection ended without a close frame") {
		t.Errorf("CloseStatusOf of a dropped connection failed with %q, want it to say there was no close frame", msg)
	}
}

func TestDialFailsTheTestWhenTheHandshakeFails(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	msg := testkit.Record(t, func(tb testing.TB) { wstest.Dial(tb, t.Context(), url, nil) }).Fatal
	if !strings.HasPrefix(msg, "dial "+url+": ") {
		t.Errorf("Dial to a server without WebSockets failed with %q, want it to name the URL", msg)
	}
}
