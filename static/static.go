// Package static serves the browser libraries herenow uses, embedded in the
// binary from static/node_modules (installed by `npm ci --prefix static` from
// the pinned lockfile), and herenow's own stylesheet, at content-addressed
// URLs that browsers may cache forever, and the site's icon.
package static

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed node_modules/htmx.org/dist/htmx.min.js
//go:embed node_modules/htmx-ext-ws/dist/ws.min.js
//go:embed node_modules/htmx-ext-sse/dist/sse.min.js
//go:embed node_modules/bulma/css/bulma.min.css
//go:embed herenow.css
//go:embed favicon.svg
var files embed.FS

// Prefix is where the assets are mounted.
const Prefix = "/static/"

// Assets maps each embedded library to its content-addressed URL.
type Assets struct {
	HTMX  string // htmx.org core
	WS    string // htmx-ext-ws
	SSE   string // htmx-ext-sse
	Bulma string // bulma stylesheet
	Style string // herenow's own stylesheet
	// Favicon is the site's icon: a turquoise disc (Bulma's primary
	// colour) around a white dot, as SVG.
	Favicon string

	// StaleAfter is the delay written into the stylesheet: how long the
	// page's connection state may go unreplaced before it shows.
	StaleAfter time.Duration

	byURL map[string]asset
}

type asset struct {
	name string // file name inside files
	body []byte
}

// Load reads the embedded files and names each by a hash of its content, so
// a new version gets a new URL and an old one can be cached as immutable.
// staleAfter is how long the page's connection state may go without being
// replaced before the stylesheet shows it ("Reconnecting…"); it is written
// into the stylesheet, so it is part of its URL. Zero keeps the
// stylesheet's own default.
func Load(staleAfter time.Duration) (*Assets, error) {
	a := &Assets{StaleAfter: staleAfter, byURL: make(map[string]asset)}
	for _, f := range []struct {
		url  *string
		name string
	}{
		{&a.HTMX, "node_modules/htmx.org/dist/htmx.min.js"},
		{&a.WS, "node_modules/htmx-ext-ws/dist/ws.min.js"},
		{&a.SSE, "node_modules/htmx-ext-sse/dist/sse.min.js"},
		{&a.Bulma, "node_modules/bulma/css/bulma.min.css"},
		{&a.Style, "herenow.css"},
		{&a.Favicon, "favicon.svg"},
	} {
		body, err := fs.ReadFile(files, f.name)
		if err != nil {
			return nil, fmt.Errorf("read embedded %s: %w", f.name, err)
		}
		if f.name == "herenow.css" && staleAfter > 0 {
			body = append(fmt.Appendf(nil, ":root { --herenow-stale-after: %dms; }\n", staleAfter.Milliseconds()), body...)
		}
		sum := sha256.Sum256(body)
		*f.url = Prefix + hex.EncodeToString(sum[:6]) + "/" + path.Base(f.name)
		a.byURL[*f.url] = asset{name: f.name, body: body}
	}
	return a, nil
}

// ServeHTTP serves an asset by its content-addressed URL with a year-long,
// immutable cache lifetime; any other path under Prefix is a 404.
func (a *Assets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f, ok := a.byURL[r.URL.Path]
	if !ok || !strings.HasPrefix(r.URL.Path, Prefix) {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	http.ServeContent(w, r, path.Base(f.name), time.Time{}, bytes.NewReader(f.body))
}

// ServeFavicon answers /favicon.ico, which browsers ask for on their own
// where no page names an icon (a JSON response, an error from a proxy),
// with the icon's SVG itself. A redirect would cost a second request, and
// a permanent one, cached, would outlive the content-addressed URL it
// points to; the fixed URL is cached for a day, not forever.
func (a *Assets) ServeFavicon(w http.ResponseWriter, r *http.Request) {
	f := a.byURL[a.Favicon]
	w.Header().Set("Cache-Control", "public, max-age=86400")
	http.ServeContent(w, r, path.Base(f.name), time.Time{}, bytes.NewReader(f.body))
}
