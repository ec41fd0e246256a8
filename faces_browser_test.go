package main

import (
	"context"
	"fmt"
	"herenow/internal/browsertest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/text/unicode/norm"

	"herenow/users"
)

// longName is the longest name there may be, 64 characters in one word: on
// a phone it must end in an ellipsis, not push the page sideways.
const longName = "maximiliana-alexandrovna-konstantinopolskaya-von-liechtenstein-x"

// crowd is 120 users, in the order they arrive: the long name and names in
// other scripts first, so that they are among the 100 listed.
func crowd() []string {
	names := []string{longName, "дмитрий.иванов", "山田", "김민수", "किरण", "σοφία", "émile", "ölçer.ünal", "محمد", "Zoë"}
	for _, last := range []string{".kim", ".lee", ".ng", "-okafor", "_rossi", ".silva", "-tan", ".weber"} {
		for _, first := range []string{"ana", "ben", "cleo", "dev", "eli", "fay", "gus", "hana", "ivo", "jun", "kai", "lea", "mo", "nia"} {
			if len(names) < 120 {
				names = append(names, first+last)
			}
		}
	}
	return names
}

// TestBrowserPhoneWith150People fills the lobby with 150 people (120
// signed-in users and 29 guests, each an open WebSocket, and the guest
// whose phone shows it), arriving one by one while a guest's 390×844 phone
// shows the lobby: the count and the "+20 more and 30 guests" after the
// list are on the first screen, the 100 faces listed stand in columns, by
// name, nothing sticks out sideways (the 64-character name ends in an
// ellipsis, whole in its title), and a page loaded afresh lists the same
// names in the same order as the one the frames built. It saves the
// phone's first screen as phone-150.png and the whole page as
// phone-150-full.png, test artifacts (go test -artifacts);
// docs/phone-150.png is a copy of the first. Then axe-core audits the page
// at 390 and 1280 px, in light and in dark mode.
func TestBrowserPhoneWith150People(t *testing.T) {
	browsertest.RequireChromium(t)
	// Logins and live connections from one address past the usual limits.
	app := newTestAppWith(t, []string{"--login-limit-ip", "1000", "--max-live-per-addr", "0"})
	names := crowd()
	app.stop()
	addUsersQuickly(t, filepath.Join(app.data, "users.db"), names)
	app.start()

	v := newBrowser(t, "phone guest")
	v.Run(t, "emulate a 390×844 phone", func(ctx context.Context) error {
		return chromedp.Do(ctx, chromedp.EmulateViewport(phoneWidth, phoneHeight,
			chromedp.EmulateScale(1), chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait))
	})
	v.Navigate(t, app.base+"/")
	v.WaitJS(t, "the phone's page runs the WebSocket transport", liveOverWebSocket)
	v.WaitJS(t, "the phone's page counts 1 person online, itself among the guests", guestAlone)

	rooms := []string{"standup", "design", "retro"}
	for i, name := range names {
		app.stayIn(t, rooms[i%len(rooms)], loginCookies(t, app.addr, name, crowdPassword))
	}
	for i := range 29 {
		app.stayIn(t, rooms[i%len(rooms)], nil) // no cookie: a guest of its own
	}
	v.WaitJS(t, "the phone's page counts 150 people, lists 100 and sums up the rest",
		countIs("150 people online")+` && document.querySelectorAll('#online-users > li').length === 100 && `+
			`document.getElementById('online-rest')?.textContent.replace(/\s+/g, ' ').trim() === '+20 more and 30 guests'`)
	v.WaitJS(t, "no CSS transition or animation is running", noAnimationRunning)
	v.Screenshot(t, "phone-150-full")
	v.screenshotScreen(t, "phone-150")

	l := browsertest.Eval[crowdLayout](t, v.Tab, measureCrowd)
	l.check(t)
	want := slices.Clone(names[:100]) // the first 100 to arrive, by name
	slices.SortFunc(want, func(a, b string) int { return strings.Compare(foldName(a), foldName(b)) })
	if !slices.Equal(l.Names, want) {
		t.Errorf("the phone lists, from the frames it applied:\n  %q\nwant the first 100 to arrive, by name:\n  %q", l.Names, want)
	}

	// For the eye: the long name, then the names in other scripts, which
	// come last, scrolled into the list's view.
	v.Run(t, "scroll the list to the long name", func(ctx context.Context) error {
		_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(
			`[...document.querySelectorAll('#online-users .user-name')].find(n => n.title === %s).scrollIntoView({block: 'center'}), true`,
			strconv.Quote(longName))))
		return err
	})
	v.screenshotScreen(t, "phone-150-long-name")
	v.Run(t, "scroll the list to its end", func(ctx context.Context) error {
		_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](
			`document.querySelector('#online-users > li:last-child').scrollIntoView({block: 'center'}), true`))
		return err
	})
	v.screenshotScreen(t, "phone-150-list-end")

	// A page loaded now renders the list whole, and its snapshot replaces
	// it: the same names in the same order.
	fresh := v.newTab(t, "the phone guest's second tab")
	fresh.Navigate(t, app.base+"/")
	fresh.WaitJS(t, "the second tab runs the WebSocket transport and lists 100 people", liveOverWebSocket+
		` && document.querySelectorAll('#online-users > li').length === 100`)
	if got := browsertest.Eval[[]string](t, fresh.Tab, listedNames); !slices.Equal(got, l.Names) {
		t.Errorf("a page loaded afresh lists\n  %q\nbut the page kept up by frames\n  %q", got, l.Names)
	}

	// The crowd's faces, all twelve colours of them, pass the audit in
	// light and dark mode, on the phone and in a 1280 px window.
	axe := readAxe(t)
	for _, size := range []struct {
		name          string
		width, height int64
		phone         bool
	}{{"390 px", phoneWidth, phoneHeight, true}, {"1280 px", 1280, 800, false}} {
		v.Run(t, "emulate a "+size.name+" wide screen", func(ctx context.Context) error {
			opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(1)}
			if size.phone {
				opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
			}
			return chromedp.Do(ctx, chromedp.EmulateViewport(size.width, size.height, opts...))
		})
		for _, scheme := range []string{"light", "dark"} {
			v.Run(t, "emulate prefers-color-scheme: "+scheme, func(ctx context.Context) error {
				return chromedp.Do(ctx, emulateColorScheme(scheme))
			})
			v.WaitJS(t, "the page sees prefers-color-scheme: "+scheme+" and nothing moves",
				fmt.Sprintf(`matchMedia('(prefers-color-scheme: %s)').matches && %s`, scheme, noAnimationRunning))
			v.audit(t, axe, fmt.Sprintf("the lobby with 150 people at %s in %s mode", size.name, scheme))
			if !size.phone {
				v.screenshotScreen(t, "desktop-150-"+scheme)
			}
		}
	}

	v.AssertStrictPage(t)
	v.AssertConsole(t, nil)
	fresh.AssertConsole(t, nil)
}

// screenshotScreen saves what the tab's screen shows, without scrolling,
// as name.png in the test's artifact directory and logs its path.
func (b *browser) screenshotScreen(t *testing.T, name string) {
	t.Helper()
	var png []byte
	b.Run(t, "take a screenshot of the screen", func(ctx context.Context) (err error) {
		png, err = chromedp.Run(ctx, chromedp.CaptureScreenshot())
		return err
	})
	path := filepath.Join(t.ArtifactDir(), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatalf("save the screenshot: %v", err)
	}
	t.Logf("screenshot of %s's screen: %s", b.Name, path)
}

// crowdPassword is the password of every user of the crowd.
const crowdPassword = "the crowd's password"

// addUsersQuickly adds the users to the database at path, each with
// crowdPassword, hashed at bcrypt's lowest cost to save time.
func addUsersQuickly(t *testing.T, path string, names []string) {
	t.Helper()
	store, err := users.Open(t.Context(), path, bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for _, name := range names {
		if _, err := store.Add(t.Context(), name, crowdPassword); err != nil {
			t.Fatalf("add user %s: %v", name, err)
		}
	}
}

// foldName is how the list orders names: without accents, in small letters.
func foldName(name string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(name) {
		if !unicode.Is(unicode.Mn, r) {
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// listedNames are the names of the users the page lists, in its order.
const listedNames = `[...document.querySelectorAll('#online-users > li .user-name')].map(n => n.textContent)`

// measureCrowd reads what the phone checks need, in CSS pixels.
var measureCrowd = fmt.Sprintf(`(() => {
	const W = %d;
	const box = el => {
		if (!el) return null;
		const r = el.getBoundingClientRect();
		return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: r.width, height: r.height,
			visible: el.checkVisibility(), onTop: false};
	};
	const rows = [...document.querySelectorAll('#online-users > li')];
	const long = rows.find(li => li.querySelector('.user-name')?.title === %s);
	const text = long?.querySelector('.user-name-text');
	const sticking = [];
	for (const el of document.body.querySelectorAll('*')) {
		if (!el.checkVisibility()) continue;
		const r = el.getBoundingClientRect();
		if (r.width > 0 && r.height > 0 && (r.left < -0.5 || r.right > W + 0.5)) {
			sticking.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + [...el.classList].map(c => '.' + c).join('') +
				' spans x ' + Math.round(r.left) + '..' + Math.round(r.right));
		}
	}
	return {
		innerWidth: innerWidth,
		innerHeight: innerHeight,
		scrollWidth: document.documentElement.scrollWidth,
		sticking: sticking,
		count: box(document.getElementById('online-count')),
		rest: box(document.getElementById('online-rest')),
		list: box(document.getElementById('online-users')),
		columns: new Set(rows.map(li => Math.round(li.getBoundingClientRect().left))).size,
		names: rows.map(li => li.querySelector('.user-name')?.textContent ?? ''),
		faces: rows.filter(li => {
			const f = li.querySelector('.user-face');
			return !!f && f.getAttribute('aria-hidden') === 'true' && f.textContent.trim() !== '' &&
				[...f.classList].some(c => /^face-([0-9]|1[01])$/.test(c));
		}).length,
		long: box(long),
		longCut: !!text && text.scrollWidth > text.clientWidth && getComputedStyle(text).textOverflow === 'ellipsis',
	};
})()`, phoneWidth, strconv.Quote(longName))

type crowdLayout struct {
	InnerWidth  float64  `json:"innerWidth"`
	InnerHeight float64  `json:"innerHeight"`
	ScrollWidth float64  `json:"scrollWidth"`
	Sticking    []string `json:"sticking"`
	Count       *elemBox `json:"count"`
	Rest        *elemBox `json:"rest"`
	List        *elemBox `json:"list"`
	Columns     int      `json:"columns"`
	Names       []string `json:"names"`
	Faces       int      `json:"faces"`
	Long        *elemBox `json:"long"` // the row of the 64-character name
	LongCut     bool     `json:"longCut"`
}

func (l crowdLayout) check(t *testing.T) {
	t.Helper()
	t.Logf("at %v×%v: count y %v..%v, rest y %v..%v, list y %v..%v in %d columns", l.InnerWidth, l.InnerHeight,
		l.Count.Top, l.Count.Bottom, l.Rest.Top, l.Rest.Bottom, l.List.Top, l.List.Bottom, l.Columns)
	if l.InnerWidth != phoneWidth || l.ScrollWidth > phoneWidth {
		t.Errorf("the page is %v px wide in a viewport of %v on a %d px phone: it scrolls sideways, or the browser zoomed out to fit it",
			l.ScrollWidth, l.InnerWidth, phoneWidth)
	}
	if len(l.Sticking) > 0 {
		t.Errorf("elements stick out of the %d px wide phone screen:\n  %s", phoneWidth, strings.Join(l.Sticking, "\n  "))
	}
	for _, e := range []struct {
		what string
		b    *elemBox
	}{{"the count", l.Count}, {`the sum "+20 more and 30 guests"`, l.Rest}} {
		if b := e.b; b == nil || !b.Visible || b.Top < 0 || b.Bottom > l.InnerHeight || b.Left < 0 || b.Right > l.InnerWidth {
			t.Errorf("%s is not on the phone's first %v×%v screen: %+v", e.what, l.InnerWidth, l.InnerHeight, b)
		}
	}
	if l.Columns < 2 {
		t.Errorf("the 100 people stand in %d column(s), want at least 2 on a %d px phone", l.Columns, phoneWidth)
	}
	if l.Faces != 100 {
		t.Errorf("%d of the 100 rows have a face (initials, aria-hidden, a face-0…face-11 colour), want all", l.Faces)
	}
	switch {
	case l.Long == nil:
		t.Errorf("the user named %q is not listed", longName)
	case !l.LongCut:
		t.Errorf("the %d-character name is not cut short with an ellipsis", len(longName))
	case l.Long.Right > l.List.Right+0.5:
		t.Errorf("the row of the long name reaches x %v, past its list's right edge at %v", l.Long.Right, l.List.Right)
	}
}
