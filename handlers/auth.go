package handlers

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5/middleware"
	"github.com/go-chi/jwtauth/v5"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"herenow/components"
	"herenow/hub"
	"herenow/users"
)

const (
	// The cookies' names over plain HTTP; cookieName gives the names they
	// go by on a request.
	tokenCookie = "jwt"
	guestCookie = "guest"
	issuer      = "herenow"
	// maxLoginForm bounds what POST /login reads: a name and a password fit
	// in far less.
	maxLoginForm = 4 << 10
)

// UserStore checks names and passwords, and whether the user a session
// token names still exists, and keeps the sessions ended at logout;
// *users.Store is one.
type UserStore interface {
	Authenticate(ctx context.Context, name, password string) (users.User, error)
	// ByID returns the user with id, or users.ErrNotFound.
	ByID(ctx context.Context, id int64) (users.User, error)
	Ping(ctx context.Context) error
	// Revoke records a session ended at logout, its token to be refused
	// until until, for every process sharing the store and across
	// restarts. Revoking a token twice changes nothing.
	Revoke(ctx context.Context, jti string, until time.Time) (seq int64, err error)
	// RevokedNow returns the sessions ended whose tokens are still to be
	// refused.
	RevokedNow(ctx context.Context) ([]users.Revocation, error)
}

// validAfterClaim is the session token's claim that carries the user's
// SessionsValidAfter, in Unix milliseconds, as Authenticate read it. The
// token holds only while the store still has that value: a password change
// moves it on, so every token issued before is refused, and one issued
// after carries the new value. Comparing the value itself, not the token's
// iat (whole seconds) against it, leaves no second of doubt around the
// change, and does not depend on the clocks of the server and of the
// process that changed the password.
const validAfterClaim = "sva"

// sessions issues and reads the two cookies that tell visitors apart, the
// signed-in user's JWT and a guest browser's signed anonymous id, and ends
// sessions: on logout (revoking the token's jti), at the token's expiry, or
// when the user is deleted or changes password, the live connections it
// opened stop speaking for the user.
type sessions struct {
	jwt      *jwtauth.JWTAuth
	guestKey []byte
	ttl      time.Duration
	store    UserStore
	logger   *slog.Logger

	mu      sync.Mutex
	revoked map[string]time.Time                 // jti → until when it is refused
	live    map[string]map[*liveSession]struct{} // jti → its open live connections
	byUser  map[int64]map[*liveSession]struct{}  // user id → the same connections
	// changed holds when each user recently changed (deleted, or password
	// changed) was handled, so that a connection identified before that
	// but tracked after ends too.
	changed map[int64]time.Time
}

func newSessions(secret []byte, ttl time.Duration, store UserStore, logger *slog.Logger) *sessions {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("herenow guest cookie"))
	return &sessions{
		jwt: jwtauth.New("HS256", secret, nil,
			jwt.WithIssuer(issuer), jwt.WithRequiredClaim("exp"), jwt.WithAcceptableSkew(tokenSkew)),
		guestKey: mac.Sum(nil),
		ttl:      ttl,
		store:    store,
		logger:   logger,
		revoked:  make(map[string]time.Time),
		live:     make(map[string]map[*liveSession]struct{}),
		byUser:   make(map[int64]map[*liveSession]struct{}),
		changed:  make(map[int64]time.Time),
	}
}

// tokenSkew is how far the clocks of token issuer and verifier may differ.
const tokenSkew = 30 * time.Second

// visitor is who made a request.
type visitor struct {
	userID     string // set when signed in
	name       string
	jti        string    // the session token's id
	expires    time.Time // the session token's expiry
	validAfter int64     // the session token's validAfterClaim
	checked    time.Time // when the store said the session holds
	guestID    string    // from a valid guest cookie, if any
}

func (v visitor) signedIn() bool { return v.userID != "" }

func (v visitor) me() *components.Me {
	if !v.signedIn() {
		return nil
	}
	return &components.Me{Name: v.name}
}

// person is who the visitor counts as on the live page. A client without
// any cookie is a guest of its own for as long as its connection lasts.
func (v visitor) person() hub.Person {
	switch {
	case v.signedIn():
		return hub.Person{Key: "u-" + v.userID, Name: v.name}
	case v.guestID != "":
		return hub.Person{Key: "g-" + v.guestID, Guest: true}
	default:
		return hub.Person{Key: "g-" + randomID(), Guest: true}
	}
}

type visitorKey struct{}

func visitorFrom(ctx context.Context) visitor {
	v, _ := ctx.Value(visitorKey{}).(visitor)
	return v
}

// identify reads who the visitor is from the cookies. It runs after
// jwtauth.Verify; a token that failed verification (forged, expired, wrong
// issuer), or whose session no longer holds, makes the visitor a guest,
// never an error page.
func (s *sessions) identify(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var v visitor
		if tok, claims, err := jwtauth.FromContext(r.Context()); err == nil && tok != nil {
			v = s.signedIn(r.Context(), tok, claims)
		}
		if c, err := r.Cookie(cookieName(r, guestCookie)); err == nil {
			v.guestID = s.verifyGuest(c.Value)
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), visitorKey{}, v)))
	})
}

// signedIn returns the signed-in visitor a verified token names, if its
// session still holds: it was not logged out, and the store has a user with
// the token's id and name whose SessionsValidAfter is the token's. On every
// request, so that a user deleted or whose password changed, from any
// process, is a guest at once. Anything else is the zero visitor, a guest.
func (s *sessions) signedIn(ctx context.Context, tok jwt.Token, claims map[string]any) visitor {
	name, _ := claims["name"].(string)
	validAfter, ok := claims[validAfterClaim].(float64) // a JSON number
	id := tok.Subject()
	if !isDigits(id) || name == "" || tok.JwtID() == "" || !ok || s.isRevoked(tok.JwtID()) {
		return visitor{}
	}
	checked := time.Now()
	userID, _ := strconv.ParseInt(id, 10, 64)
	u, err := s.store.ByID(ctx, userID)
	if err != nil {
		if !errors.Is(err, users.ErrNotFound) && ctx.Err() == nil {
			s.logger.Error("check session", "err", err)
		}
		return visitor{}
	}
	if u.Name != name || u.SessionsValidAfter.UnixMilli() != int64(validAfter) {
		return visitor{}
	}
	return visitor{userID: id, name: name, jti: tok.JwtID(), expires: tok.Expiration(),
		validAfter: int64(validAfter), checked: checked}
}

// tokenFromCookie finds the session token for jwtauth.Verify: in the
// session cookie of the name r's scheme calls for, nowhere else.
func tokenFromCookie(r *http.Request) string {
	c, err := r.Cookie(cookieName(r, tokenCookie))
	if err != nil {
		return ""
	}
	return c.Value
}

// isDigits reports whether s is a user id as issued: it names an HTML id.
func isDigits(s string) bool {
	_, err := strconv.ParseUint(s, 10, 63)
	return err == nil
}

// issueToken returns a signed session token for u, as Authenticate
// returned it.
func (s *sessions) issueToken(u users.User) (string, error) {
	claims := map[string]any{"sub": strconv.FormatInt(u.ID, 10), "name": u.Name, "iss": issuer, "jti": randomID(),
		validAfterClaim: u.SessionsValidAfter.UnixMilli()}
	jwtauth.SetIssuedNow(claims)
	jwtauth.SetExpiryIn(claims, s.ttl)
	_, token, err := s.jwt.Encode(claims)
	return token, err
}

// ensureGuest gives a browser that has none a signed guest id, so its tabs
// count as one guest.
func (s *sessions) ensureGuest(w http.ResponseWriter, r *http.Request, v visitor) {
	if v.guestID != "" {
		return
	}
	id := randomID()
	http.SetCookie(w, newCookie(r, guestCookie, id+"."+s.signGuest(id), 365*24*3600))
}

func (s *sessions) signGuest(id string) string {
	mac := hmac.New(sha256.New, s.guestKey)
	mac.Write([]byte(id))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:16])
}

// verifyGuest returns the id in a guest cookie value, or "" if it was not
// signed by us.
func (s *sessions) verifyGuest(value string) string {
	id, sig, ok := strings.Cut(value, ".")
	if !ok || len(id) != 26 || !hmac.Equal([]byte(sig), []byte(s.signGuest(id))) {
		return ""
	}
	return id
}

// randomID returns 128 random bits as 26 base32 characters, safe in a URL,
// a cookie and an HTML id.
func randomID() string { return rand.Text() }

// serveLoginForm shows the sign-in form.
func serveLoginForm(assets components.Assets) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		render(w, r, http.StatusOK, components.Login(components.LoginPage{Assets: assets}))
	})
}

// serveLogin checks the form's name and password, sets the session cookie
// and sends the browser to the page. A failure says only that the pair was
// wrong, never which half.
func serveLogin(logger *slog.Logger, store UserStore, s *sessions, limits *loginLimiter, m *Metrics, assets components.Assets) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fail := func(status int, username, msg string) {
			switch status {
			case http.StatusUnauthorized:
				m.logins.WithLabelValues(loginBadCredentials).Inc()
			case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
				m.logins.WithLabelValues(loginInvalid).Inc()
			}
			render(w, r, status, components.Login(components.LoginPage{Assets: assets, Username: username, Error: msg}))
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxLoginForm)
		if err := r.ParseForm(); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				fail(http.StatusRequestEntityTooLarge, "", "That form was too large.")
				return
			}
			fail(http.StatusBadRequest, "", "That form could not be read.")
			return
		}
		name, password := r.PostForm.Get("username"), r.PostForm.Get("password")
		if users.ValidName(name) != nil {
			name = "" // never echo back what could not be a name
		}
		if name == "" || password == "" {
			fail(http.StatusBadRequest, name, "Enter your username and password.")
			return
		}
		client := middleware.GetClientIP(r.Context())
		if limits.refuse(w, r, name) {
			logger.Info("login refused", "reason", "rate limited", "client", client)
			m.logins.WithLabelValues(loginRateLimited).Inc()
			render(w, r, http.StatusTooManyRequests, components.TooManyAttempts(components.TooManyAttemptsPage{
				Assets: assets, Me: visitorFrom(r.Context()).me(), RetryAfter: retryAfter(w.Header())}))
			return
		}
		if limits.wait(r.Context(), name) != nil {
			return // the client went away while its attempt was slowed
		}
		u, err := store.Authenticate(r.Context(), name, password)
		switch {
		case errors.Is(err, users.ErrBadCredentials):
			limits.failed(r, name)
			logger.Info("login refused", "reason", "bad credentials", "client", client)
			fail(http.StatusUnauthorized, name, "Wrong username or password.")
			return
		case err != nil:
			logger.Error("login", "err", err)
			fail(http.StatusInternalServerError, name, "Something went wrong. Please try again.")
			return
		}
		token, err := s.issueToken(u)
		if err != nil {
			logger.Error("issue token", "err", err)
			fail(http.StatusInternalServerError, name, "Something went wrong. Please try again.")
			return
		}
		http.SetCookie(w, newCookie(r, tokenCookie, token, int(s.ttl.Seconds())))
		limits.succeeded(r, name)
		m.logins.WithLabelValues(loginSuccess).Inc()
		logger.Info("login", "user_id", u.ID)
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
}

// serveLogout ends the session: its token is revoked, the live
// connections it opened stop counting as the user, and the cookie is
// cleared.
func serveLogout(s *sessions) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := visitorFrom(r.Context()); v.signedIn() {
			s.logout(r.Context(), v)
		}
		http.SetCookie(w, newCookie(r, tokenCookie, "", -1))
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
}

// liveSession is one live connection opened with a session token.
type liveSession struct {
	once       sync.Once
	onEnd      func()
	timer      *time.Timer
	validAfter int64 // the token's validAfterClaim
}

func (l *liveSession) end() { l.once.Do(l.onEnd) }

// track calls onEnd, once, in a goroutine of its own, when v's session
// ends: by logout, by the token's expiry, or by a change to the user. It
// returns a func to call when the connection closes. A guest's session
// never ends.
func (s *sessions) track(v visitor, onEnd func()) (untrack func()) {
	if !v.signedIn() {
		return func() {}
	}
	userID, _ := strconv.ParseInt(v.userID, 10, 64)
	l := &liveSession{onEnd: onEnd, validAfter: v.validAfter}
	l.timer = time.AfterFunc(time.Until(v.expires), l.end)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.revoked[v.jti]; ok {
		go l.end() // logged out between the handshake's check and now
	}
	if at, ok := s.changed[userID]; ok && !at.Before(v.checked) {
		// The user changed after the handshake's check, and that change
		// was handled before this connection was tracked: end it, and
		// let the page reconnect as whatever it now is.
		go l.end()
	}
	conns := s.live[v.jti]
	if conns == nil {
		conns = make(map[*liveSession]struct{})
		s.live[v.jti] = conns
	}
	conns[l] = struct{}{}
	mine := s.byUser[userID]
	if mine == nil {
		mine = make(map[*liveSession]struct{})
		s.byUser[userID] = mine
	}
	mine[l] = struct{}{}
	return func() {
		l.timer.Stop()
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(conns, l)
		if len(s.live[v.jti]) == 0 {
			delete(s.live, v.jti)
		}
		delete(mine, l)
		if len(s.byUser[userID]) == 0 {
			delete(s.byUser, userID)
		}
	}
}

// changedFor is how long a user change is remembered for connections
// identified before it and tracked after: far longer than a handshake.
const changedFor = time.Minute

// userChanged ends the live connections of user id whose session no longer
// holds: all of them if the user is gone, those opened before the latest
// password change otherwise. It is told of every deletion and password
// change, made by any process sharing the database.
func (s *sessions) userChanged(ctx context.Context, id int64) {
	now := time.Now()
	s.mu.Lock()
	for uid, at := range s.changed {
		if now.Sub(at) > changedFor {
			delete(s.changed, uid)
		}
	}
	s.changed[id] = now
	tracked := len(s.byUser[id])
	s.mu.Unlock()
	if tracked == 0 {
		return
	}
	u, err := s.store.ByID(ctx, id)
	gone := errors.Is(err, users.ErrNotFound)
	if err != nil && !gone {
		// Unsure whether it holds: end them all, and let the pages
		// reconnect through the per-request check.
		s.logger.Error("check sessions of a changed user", "user_id", id, "err", err)
		gone = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for l := range s.byUser[id] {
		if gone || l.validAfter != u.SessionsValidAfter.UnixMilli() {
			go l.end()
		}
	}
}

// logoutRecordTimeout bounds how long a logout waits to be recorded.
const logoutRecordTimeout = 5 * time.Second

// logout ends v's session here at once, and records it in the store, from
// which every instance sharing it ends it too (see UserChanges) and every
// instance starting refuses its token.
func (s *sessions) logout(ctx context.Context, v visitor) {
	// Verification accepts a token up to tokenSkew past its expiry.
	until := v.expires.Add(tokenSkew)
	s.revoke(v.jti, until)
	// Recorded even if the browser goes away meanwhile: it asked to log
	// out.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), logoutRecordTimeout)
	defer cancel()
	if _, err := s.store.Revoke(ctx, v.jti, until); err != nil {
		// The session has still ended here and its cookie is cleared:
		// failing the logout would leave the user signed in on this
		// instance too, and retrying it could not do better than the
		// store. Only the other instances, and this one after a
		// restart, still take a copy of the token until it expires: the
		// operator must hear of it.
		s.logger.Error("record a logout: other instances, and this one after a restart, accept its token until it expires",
			"until", until, "err", err)
	}
}

// loadRevoked refuses the tokens of the sessions the store says were ended
// and are still to be refused.
func (s *sessions) loadRevoked(ctx context.Context) error {
	revoked, err := s.store.RevokedNow(ctx)
	if err != nil {
		return fmt.Errorf("load the sessions ended at logout: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range revoked {
		s.revoked[r.JTI] = r.Until
	}
	return nil
}

// revoke ends the session with token id jti, refusing its token until
// until, when verification would refuse it anyway.
func (s *sessions) revoke(jti string, until time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for id, u := range s.revoked {
		if now.After(u) {
			delete(s.revoked, id)
		}
	}
	s.revoked[jti] = until
	for l := range s.live[jti] {
		go l.end()
	}
}

func (s *sessions) isRevoked(jti string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.revoked[jti]
	return ok
}
