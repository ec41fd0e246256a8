package hub

// Peers carries this instance's changes to the other instances of a
// cluster, and says who numbers the activity log. The hub calls it with its
// lock held: every method returns at once and never calls the hub.
// Config.Peers nil means Alone{}.
type Peers interface {
	// Changed takes one flush's changes to the people THIS instance holds
	// (its local share), in the order they happened: Held{Person, Conns}
	// (Conns 0 during the grace period), or Held{Person, Gone: true} once
	// this instance no longer holds them (grace over, or Leave). It is
	// called at most once per flush, only with people whose local Conns or
	// Gone differ from what was last reported to Changed.
	Changed(changes []Held)
	// Logging says how this hub numbers the activity entries it writes.
	// It is asked on every flush.
	Logging() Logging
}

// Logging is who writes the activity entries a hub shows.
type Logging int

const (
	// LogAlone: this hub writes every entry, numbered 1, 2, ... (a single
	// instance).
	LogAlone Logging = iota
	// LogShared: the hub writes no entry itself; entries arrive through
	// AddEntries.
	LogShared
	// LogProvisional: cut off from the cluster, the hub writes entries of
	// its own view, numbered ProvisionalBase+1, +2, ..., shown here only
	// until the cluster gives them shared IDs (Renumber).
	LogProvisional
)

// ProvisionalBase is where provisional entry IDs start: far above any
// shared ID, so that one never equals the other.
const ProvisionalBase uint64 = 1 << 62

// Alone is the default Peers: one instance, nothing shared, every entry
// logged here.
type Alone struct{}

// Changed does nothing: there is nobody to tell.
func (Alone) Changed([]Held) {}

// Logging is LogAlone.
func (Alone) Logging() Logging { return LogAlone }
