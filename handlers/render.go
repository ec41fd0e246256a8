package handlers

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/a-h/templ"

	"herenow/components"
	"herenow/hub"
)

// Renderer renders the hub's frames with the templ components: once per
// change, as HTML for WebSocket and as the same HTML framed as an SSE event.
type Renderer struct {
	Metrics *Metrics // optional: times each render
	// Room, when set, is the room whose frames these are: its log reads
	// "joined" and "left". Empty for the lobby.
	Room string
}

var _ hub.Renderer = Renderer{}

// Snapshot renders the whole live region.
func (r Renderer) Snapshot(s hub.Snapshot) (*hub.Frame, error) {
	start := time.Now()
	live := liveView(s)
	live.Room = r.Room
	f, err := renderFrame(components.Snapshot(live))
	r.observe("snapshot", start)
	return f, err
}

// Diff renders one change.
func (r Renderer) Diff(d hub.Diff) (*hub.Frame, error) {
	start := time.Now()
	defer r.observe("diff", start)
	v := components.Diff{
		Removed: d.Removed,
		Updated: userItems(d.Updated),
		Added:   placed(d.Added),
		Logged:  entries(d.Logged),
		Trimmed: d.Trimmed,

		Relogged: entries(d.Relogged),

		LogReplaced: d.LogReplaced,
		Log:         entries(d.Log),
		Room:        r.Room,
		Now:         d.At,
	}
	if d.Counts != nil {
		c := components.Count(*d.Counts)
		v.Count = &c
	}
	c := templ.Component(components.DiffFrame(v))
	if d.Extra != nil { // the Rooms panel, rendered once by the site: one message with the diff
		c = templ.Join(c, templ.Raw(string(d.Extra.HTML)))
	}
	f, err := renderFrame(c)
	if err == nil {
		f.Rendered = start
	}
	return f, err
}

func (r Renderer) observe(kind string, start time.Time) {
	if r.Metrics != nil {
		r.Metrics.render.WithLabelValues(kind).Observe(time.Since(start).Seconds())
	}
}

func renderFrame(c templ.Component) (*hub.Frame, error) {
	var html bytes.Buffer
	if err := c.Render(context.Background(), &html); err != nil {
		return nil, fmt.Errorf("render frame: %w", err)
	}
	return &hub.Frame{HTML: html.Bytes(), Event: sseEvent("update", html.Bytes())}, nil
}

// sseEvent frames data as one server-sent event. Every line gets its own
// "data: " prefix, and a CR, which would also end a line, is dropped.
func sseEvent(name string, data []byte) []byte {
	out := make([]byte, 0, len(data)+len(name)+32)
	out = append(out, "event: "...)
	out = append(out, name...)
	out = append(out, '\n')
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		out = append(out, "data: "...)
		for _, b := range line {
			if b != '\r' {
				out = append(out, b)
			}
		}
		out = append(out, '\n')
	}
	return append(out, '\n')
}

// renderGreeting renders the navbar's greeting as one live connection
// sends it after its snapshot, for that connection alone: me is who its
// session is, nil for a guest.
func renderGreeting(me *components.Me) (*hub.Frame, error) {
	return renderFrame(components.Greeting(me))
}

// RenderPanel renders the lobby's Rooms panel as one frame that replaces
// it whole.
func RenderPanel(p hub.Panel) (*hub.Frame, error) {
	return renderFrame(components.RoomsPanelFrame(panelView(p)))
}

func panelView(p hub.Panel) components.RoomsPanel {
	v := components.RoomsPanel{Rooms: make([]components.RoomRow, len(p.Rooms)), More: p.More}
	for i, r := range p.Rooms {
		v.Rooms[i] = components.RoomRow{Name: r.Name, People: r.People, Guests: r.Guests, Names: r.Names, Others: r.Others}
	}
	return v
}

func liveView(s hub.Snapshot) components.Live {
	return components.Live{Count: components.Count(s.Counts), Users: userItems(s.Users), Log: entries(s.Log), Now: s.At}
}

func userItems(us []hub.User) []components.UserItem {
	out := make([]components.UserItem, len(us))
	for i, u := range us {
		out[i] = userItem(u)
	}
	return out
}

// userItem is a list row as the page shows it. Status and Text are not
// shown yet: the page's part of issue 18.
func userItem(u hub.User) components.UserItem {
	return components.UserItem{Key: u.Key, Name: u.Name, Tabs: u.Tabs}
}

func placed(ps []hub.Placed) []components.Placed {
	out := make([]components.Placed, len(ps))
	for i, p := range ps {
		out[i] = components.Placed{UserItem: userItem(p.User), Before: p.Before}
	}
	return out
}

func entries(es []hub.Entry) []components.Entry {
	out := make([]components.Entry, len(es))
	for i, e := range es {
		out[i] = components.Entry(e)
	}
	return out
}
