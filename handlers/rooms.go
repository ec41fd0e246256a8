package handlers

import (
	"errors"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"herenow/components"
	"herenow/hub"
)

// roomRule is what a room's name may be, as the 404 page says it.
const roomRule = "A room's name is 1 to 64 characters from a-z, 0-9, '-', '_' and '.'; capitals are taken as small letters."

// fixedRoomsRule is said instead when the site has a fixed list of rooms.
const fixedRoomsRule = "This site has a fixed list of rooms, and this is not one of them."

// serveRoomPage renders one room's page with what its viewers see now. A
// name that differs only by case redirects to its small-letter form; a
// name that is not a room's is a 404 that says what one may be; a new room
// past the limit on rooms in use is a 503. Looking does not create the
// room: its live connection does.
func serveRoomPage(site *hub.Site, s *sessions, assets components.Assets) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := visitorFrom(r.Context())
		s.ensureGuest(w, r, v)
		raw := chi.URLParam(r, "room")
		name, err := hub.RoomName(raw)
		switch {
		case err != nil:
			notARoom(w, r, v, assets, raw, roomRule)
			return
		case name != raw:
			http.Redirect(w, r, "/r/"+name, http.StatusPermanentRedirect)
			return
		}
		switch err := site.CanJoin(name); {
		case errors.Is(err, hub.ErrNoSuchRoom):
			notARoom(w, r, v, assets, raw, fixedRoomsRule)
			return
		case errors.Is(err, hub.ErrTooManyRooms):
			render(w, r, http.StatusServiceUnavailable, components.RoomsFull(components.RoomsFullPage{Assets: assets, Me: v.me(), Name: name}))
			return
		}
		// The visitor counted: a room exists once someone connects.
		live := liveView(site.RoomFor(name, v.person()))
		live.Room, live.Greets = name, v.greets()
		render(w, r, http.StatusOK, components.Room(components.RoomPage{Assets: assets, Me: v.me(), Room: name, Live: live}))
	})
}

func notARoom(w http.ResponseWriter, r *http.Request, v visitor, assets components.Assets, name, rule string) {
	render(w, r, http.StatusNotFound, components.RoomNotFound(components.RoomNotFoundPage{Assets: assets, Me: v.me(), Name: name, Rule: rule}))
}

// serveGoToRoom answers the lobby's "Go to a room" form (GET /r?room=NAME)
// with a redirect to the room, or the 404 that says what a name may be.
func serveGoToRoom(s *sessions, assets components.Assets) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := visitorFrom(r.Context())
		raw := strings.TrimSpace(r.URL.Query().Get("room"))
		name, err := hub.RoomName(raw)
		if err != nil {
			s.ensureGuest(w, r, v)
			notARoom(w, r, v, assets, raw, roomRule)
			return
		}
		http.Redirect(w, r, "/r/"+name, http.StatusSeeOther)
	})
}

// serveRoomSSEBox renders a room's live region switched to server-sent
// events, the visitor counted; the room's page fetches it when its
// WebSocket fails.
func serveRoomSSEBox(site *hub.Site) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := roomOf(r)
		if !ok || errors.Is(site.CanJoin(name), hub.ErrNoSuchRoom) {
			http.NotFound(w, r)
			return
		}
		live := liveView(site.RoomFor(name, visitorFrom(r.Context()).person()))
		live.Room, live.Greets = name, greetsParam(r) // whom the page greets, which its live connection checks
		render(w, r, http.StatusOK, components.LiveOverSSE(live))
	})
}

// roomOf returns the room a live URL names, only in its exact form: the
// page redirects other spellings, and its live connections use that one.
func roomOf(r *http.Request) (string, bool) {
	raw := chi.URLParam(r, "room")
	name, err := hub.RoomName(raw)
	return name, err == nil && name == raw
}

// joinFunc connects a person to one live region: the lobby or a room.
type joinFunc func(person hub.Person, wake func()) (*hub.Subscription, error)

// placeFunc finds the live region a request asks for before its
// handshake, or answers the request itself (404, 503) and returns nil.
type placeFunc func(w http.ResponseWriter, r *http.Request) joinFunc

// lobby is the live region of "/": everyone online anywhere.
func (l *live) lobby(http.ResponseWriter, *http.Request) joinFunc {
	return func(person hub.Person, wake func()) (*hub.Subscription, error) {
		return l.hub.ConnectWake(person, wake), nil
	}
}

// room is the live region of one room.
func (l *live) room(w http.ResponseWriter, r *http.Request) joinFunc {
	name, ok := roomOf(r)
	if !ok {
		http.NotFound(w, r)
		return nil
	}
	switch err := l.site.CanJoin(name); {
	case errors.Is(err, hub.ErrNoSuchRoom):
		http.NotFound(w, r)
		return nil
	case errors.Is(err, hub.ErrTooManyRooms):
		http.Error(w, "too many rooms are in use", http.StatusServiceUnavailable)
		return nil
	}
	return func(person hub.Person, wake func()) (*hub.Subscription, error) {
		return l.site.Join(name, person, wake)
	}
}
