package handlers_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"herenow/handlers"
	"herenow/internal/wstest"
	"herenow/users"
)

// generousLimits keep the rate limiter out of the fuzzers' way.
func generousLimits(o *handlers.Options) {
	o.Login = handlers.LoginLimits{PerIP: 1 << 30, PerName: 1 << 30}
}

// FuzzLoginForm posts arbitrary bodies to /login: every answer is a clear
// refusal or, only for alice's real password, a session.
func FuzzLoginForm(f *testing.F) {
	for _, seed := range []string{
		"username=alice&password=correct+horse",
		"username=alice&password=wrong",
		"",
		"username=%ff%fe&password=x",
		"username=a&username=b&password=&password=",
		"username=" + strings.Repeat("%00", 100),
		strings.Repeat("a=b&", 2000),
		"username=%zz",
		"username=A1iCe&password=correct+horse",
		"username=%EF%BC%A1LICE&password=correct+horse",
	} {
		f.Add(seed)
	}
	a := newAppWith(f, generousLimits)
	h := a.srv.Config.Handler
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		session := false
		for _, c := range rec.Result().Cookies() {
			session = session || (c.Name == "jwt" && c.Value != "")
		}
		switch rec.Code {
		case http.StatusSeeOther:
			if !session {
				t.Error("303 without a session cookie")
			}
			form, err := url.ParseQuery(body)
			// Another spelling of her name ("ALICE") is hers; a look-alike
			// ("A1iCe") is not.
			if err != nil || !users.SameName(form.Get("username"), "alice") || form.Get("password") != "correct horse" {
				t.Errorf("signed in with %q", body)
			}
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusRequestEntityTooLarge:
			if session {
				t.Errorf("%d with a session cookie", rec.Code)
			}
		default:
			t.Errorf("status %d for body %q", rec.Code, body)
		}
	})
}

// FuzzSessionCookies sends arbitrary jwt and guest cookies: none of them
// signs anyone in, and the page always renders.
func FuzzSessionCookies(f *testing.F) {
	f.Add("", "")
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.", "AAAAAAAAAAAAAAAAAAAAAAAAAA.xyz")
	f.Add("a.b.c", "no-dot")
	f.Add(strings.Repeat("x", 5000), "\x00\xff")
	a := newApp(f)
	h := a.srv.Config.Handler
	f.Fuzz(func(t *testing.T, jwt, guest string) {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Cookie", "jwt="+jwt+"; guest="+guest)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d", rec.Code)
		}
		if strings.Contains(rec.Body.String(), "Hello") {
			t.Fatalf("cookies jwt=%q guest=%q signed someone in", jwt, guest)
		}
	})
}

// FuzzWebSocketMessage sends the server what the page never does, a
// message: the connection is closed with 1008, or 1009 if too big.
func FuzzWebSocketMessage(f *testing.F) {
	f.Add([]byte("hello"), false)
	f.Add([]byte{}, true)
	f.Add([]byte(`{"HEADERS":{"HX-Request":"true"}}`), false)
	f.Add(make([]byte, 2000), true)
	a := newApp(f)
	url := "ws" + strings.TrimPrefix(a.srv.URL, "http") + "/live/ws"
	f.Fuzz(func(t *testing.T, msg []byte, binary bool) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, _, err := websocket.Dial(ctx, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.CloseNow()
		if _, _, err := conn.Read(ctx); err != nil {
			t.Fatal(err)
		}
		typ := websocket.MessageText
		if binary {
			typ = websocket.MessageBinary
		}
		if err := conn.Write(ctx, typ, msg); err != nil {
			return // the server may close before a big message is written
		}
		switch code, err := wstest.ReadUntilClose(ctx, conn); code {
		case websocket.StatusPolicyViolation, websocket.StatusMessageTooBig:
		default:
			t.Fatalf("closed with %v (%v) after a %d-byte message", code, err, len(msg))
		}
	})
}
