package users

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Errors of the presence settings, each wrapped with the rule broken.
var (
	ErrInvalidStatus     = errors.New("invalid status")
	ErrInvalidStatusText = errors.New("invalid status text")
)

// Status is the availability a user sets by hand. Its zero value is
// StatusAvailable, what every user has until they choose another.
type Status uint8

// The statuses a user can set.
const (
	StatusAvailable Status = iota
	StatusBusy
	StatusAway
)

var statusNames = [...]string{StatusAvailable: "available", StatusBusy: "busy", StatusAway: "away"}

// String returns the status as it is stored and parsed: "available",
// "busy" or "away".
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("Status(%d)", uint8(s))
}

// Valid reports whether s is one of the statuses above.
func (s Status) Valid() bool { return int(s) < len(statusNames) }

// ParseStatus returns the status named s, exactly as String writes it, and
// refuses anything else with an error wrapping ErrInvalidStatus.
func ParseStatus(s string) (Status, error) {
	for i, name := range statusNames {
		if s == name {
			return Status(i), nil
		}
	}
	return 0, fmt.Errorf("%w %.20q: a status is available, busy or away", ErrInvalidStatus, s)
}

// MarshalText writes the status's name, so that it reads as a word in JSON.
func (s Status) MarshalText() ([]byte, error) {
	if !s.Valid() {
		return nil, fmt.Errorf("%w: %d", ErrInvalidStatus, uint8(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText reads a status's name, as ParseStatus does.
func (s *Status) UnmarshalText(text []byte) error {
	v, err := ParseStatus(string(text))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// storedStatus reads a status column. A name this version does not know
// (written by a newer one sharing the database) reads as available rather
// than failing the lookup, which would sign the user out.
func storedStatus(name string) Status {
	s, err := ParseStatus(name)
	if err != nil {
		return StatusAvailable
	}
	return s
}

// Presence is what a user says of their presence, kept in the store: the
// status set by hand, its text ("" for none), and whether they appear
// offline. The zero value is every new user's.
type Presence struct {
	Status    Status
	Text      string
	Invisible bool
}

// MaxStatusTextLength is the most characters (code points, after NFC) a
// status text may have.
const MaxStatusTextLength = 80

// maxStatusTextInput bounds the bytes NewStatusText looks at: NFC composes
// at most a few code points into one, so anything longer cannot come down
// to MaxStatusTextLength, and is refused before it is normalised.
const maxStatusTextInput = 4 * MaxStatusTextLength * utf8.UTFMax

// NewStatusText checks a status text and returns it as it is kept, or an
// error wrapping ErrInvalidStatusText that says which rule it broke:
//
//   - valid UTF-8, normalised to NFC (so that one text has one form
//     whichever keyboard typed it);
//   - one line of text: no control character (C0, DEL, C1, so no tab, CR or
//     LF), no line or paragraph separator, and no bidirectional embedding,
//     override or isolate (U+202A–U+202E, U+2066–U+2069), which would
//     reorder what a page shows after the text; the marks LRM, RLM and ALM
//     are allowed, and so are the joiners, variation selectors and tags
//     emoji are made of;
//   - spaces around it trimmed, and "" meaning no text;
//   - at most MaxStatusTextLength code points, so at most 320 bytes. Code
//     points, not grapheme clusters: a cluster can hold any number of
//     combining marks, and a browser's maxlength counts UTF-16 units, never
//     fewer than code points, so a form with maxlength 80 never sends what
//     the store refuses. An emoji made of several (a family, a flag) counts
//     as several.
//
// The text is kept as written: escaping it is the page's job.
func NewStatusText(text string) (string, error) {
	if len(text) > maxStatusTextInput {
		return "", fmt.Errorf("%w: it is longer than %d characters", ErrInvalidStatusText, MaxStatusTextLength)
	}
	if !utf8.ValidString(text) {
		return "", fmt.Errorf("%w: it is not valid UTF-8", ErrInvalidStatusText)
	}
	text = norm.NFC.String(text)
	for _, r := range text {
		switch {
		case r == '\n' || r == '\r' || r == '\u0085' || r == '\u2028' || r == '\u2029' || r == '\v' || r == '\f':
			return "", fmt.Errorf("%w: it has a line break; a status text is one line", ErrInvalidStatusText)
		case unicode.IsControl(r):
			return "", fmt.Errorf("%w: it has a control character (%U)", ErrInvalidStatusText, r)
		case r >= '\u202a' && r <= '\u202e' || r >= '\u2066' && r <= '\u2069':
			return "", fmt.Errorf("%w: it has a bidirectional control character (%U)", ErrInvalidStatusText, r)
		}
	}
	text = strings.TrimSpace(text)
	if n := utf8.RuneCountInString(text); n > MaxStatusTextLength {
		return "", fmt.Errorf("%w: it has %d characters, at most %d are allowed", ErrInvalidStatusText, n, MaxStatusTextLength)
	}
	return text, nil
}

// SetStatus sets the status user id chose by hand and its text (see
// NewStatusText; "" for none), and returns their presence settings as now
// kept, the text as stored. ErrNotFound if there is no such user.
func (s *Store) SetStatus(ctx context.Context, id int64, status Status, text string) (Presence, error) {
	if !status.Valid() {
		return Presence{}, fmt.Errorf("%w: %d", ErrInvalidStatus, uint8(status))
	}
	text, err := NewStatusText(text)
	if err != nil {
		return Presence{}, err
	}
	p := Presence{Status: status, Text: text}
	err = s.db.QueryRowContext(ctx, `UPDATE users SET status = $1, status_text = $2 WHERE id = $3 RETURNING invisible`,
		status.String(), text, id).Scan(&p.Invisible)
	if errors.Is(err, sql.ErrNoRows) {
		return Presence{}, ErrNotFound
	} else if err != nil {
		return Presence{}, fmt.Errorf("set the status of user %d: %w", id, err)
	}
	return p, nil
}

// SetInvisible makes user id appear offline, or not, and returns their
// presence settings as now kept. ErrNotFound if there is no such user.
func (s *Store) SetInvisible(ctx context.Context, id int64, invisible bool) (Presence, error) {
	p := Presence{Invisible: invisible}
	var status string
	err := s.db.QueryRowContext(ctx, `UPDATE users SET invisible = $1 WHERE id = $2 RETURNING status, status_text`,
		invisible, id).Scan(&status, &p.Text)
	if errors.Is(err, sql.ErrNoRows) {
		return Presence{}, ErrNotFound
	} else if err != nil {
		return Presence{}, fmt.Errorf("set whether user %d is invisible: %w", id, err)
	}
	p.Status = storedStatus(status)
	return p, nil
}

// TouchLastSeen records that user id's presence ended at at (kept to the
// millisecond). It never moves a user's last seen time backwards, and
// records nothing while the user is invisible (they were not seen). A
// user who no longer exists is not an error: there is nothing to record.
func (s *Store) TouchLastSeen(ctx context.Context, id int64, at time.Time) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE users SET last_seen_at = $1
		WHERE id = $2 AND NOT invisible AND (last_seen_at IS NULL OR last_seen_at < $1)`,
		at.UnixMilli(), id); err != nil {
		return fmt.Errorf("record when user %d was last seen: %w", id, err)
	}
	return nil
}

// Seen is a user and when their presence last ended.
type Seen struct {
	ID       int64
	Name     string
	LastSeen time.Time // millisecond precision, UTC
}

// RecentlySeen returns at most limit users last seen at or after since,
// newest first (the higher id first within a millisecond). Invisible users
// are left out, and so, being gone, are deleted ones.
func (s *Store) RecentlySeen(ctx context.Context, since time.Time, limit int) ([]Seen, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, last_seen_at FROM users
		WHERE last_seen_at >= $1 AND NOT invisible ORDER BY last_seen_at DESC, id DESC LIMIT $2`,
		since.UnixMilli(), limit)
	if err != nil {
		return nil, fmt.Errorf("read who was recently seen: %w", err)
	}
	defer rows.Close()
	var out []Seen
	for rows.Next() {
		var u Seen
		var at int64
		if err := rows.Scan(&u.ID, &u.Name, &at); err != nil {
			return nil, fmt.Errorf("read who was recently seen: %w", err)
		}
		u.LastSeen = time.UnixMilli(at).UTC()
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read who was recently seen: %w", err)
	}
	return out, nil
}
