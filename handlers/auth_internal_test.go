package handlers

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"herenow/users"
)

// goneStore knows no user at all.
type goneStore struct{}

func (goneStore) Authenticate(context.Context, string, string) (users.User, error) {
	return users.User{}, users.ErrBadCredentials
}
func (goneStore) ByID(context.Context, int64) (users.User, error) {
	return users.User{}, users.ErrNotFound
}
func (goneStore) Ping(context.Context) error { return nil }
func (goneStore) Revoke(context.Context, string, time.Time) (int64, error) {
	return 1, nil
}
func (goneStore) RevokedNow(context.Context) ([]users.Revocation, error) { return nil, nil }

// TestAChangeBetweenAHandshakesCheckAndItsTrackingEndsIt covers the window
// in which a live connection has been identified (the user existed) but is
// not yet tracked when the change is handled: tracking it must end it.
func TestAChangeBetweenAHandshakesCheckAndItsTrackingEndsIt(t *testing.T) {
	s := newSessions([]byte("test secret, at least thirty-two bytes long"), time.Hour, goneStore{},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	v := visitor{userID: "7", name: "mallory", jti: "j", expires: time.Now().Add(time.Hour), validAfter: 1, checked: time.Now()}
	s.userChanged(context.Background(), 7) // deleted after the check, before track
	ended := make(chan struct{})
	untrack := s.track(v, func() { close(ended) })
	defer untrack()
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("a connection identified before its user changed, tracked after, was not ended")
	}

}
