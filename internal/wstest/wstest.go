// Package wstest is the client side of a live WebSocket in tests, over
// coder/websocket: dial it, read it until a frame says something, read it
// until it closes and learn how.
package wstest

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Dial opens a WebSocket to url (ws://host/path) with the request's
// header h, which may be nil, and closes it when the test ends. It fails
// the test when the handshake fails.
func Dial(t testing.TB, ctx context.Context, url string, h http.Header) *websocket.Conn {
	t.Helper()
	conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	return conn
}

// ReadUntil reads conn's messages until one contains want, and returns
// it. It fails the test when the connection ends, or ctx does, first.
func ReadUntil(t testing.TB, ctx context.Context, conn *websocket.Conn, want string) string {
	t.Helper()
	for {
		_, msg, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("waiting for %q: %v", want, err)
		}
		if strings.Contains(string(msg), want) {
			return string(msg)
		}
	}
}

// ReadUntilClose reads and drops conn's messages until the connection
// ends, and says how: the close code the peer sent, or -1 when it ended
// without a close frame (ctx done, connection lost), with the error that
// ended the reading.
func ReadUntilClose(ctx context.Context, conn *websocket.Conn) (websocket.StatusCode, error) {
	for {
		if _, _, err := conn.Read(ctx); err != nil {
			return websocket.CloseStatus(err), err
		}
	}
}

// CloseStatusOf reads conn until it closes, for at most within, and
// returns the code and reason of the peer's close frame. It fails the test
// when the connection ends without one.
func CloseStatusOf(t testing.TB, conn *websocket.Conn, within time.Duration) (websocket.StatusCode, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	_, err := ReadUntilClose(ctx, conn)
	var ce websocket.CloseError
	if !errors.As(err, &ce) {
		t.Fatalf("connection ended without a close frame: %v", err)
	}
	return ce.Code, ce.Reason
}
