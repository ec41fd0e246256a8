package testkit

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
)

// Report is what a test helper reported through Record's testing.TB.
type Report struct {
	Errors []string // every Error and Errorf message, in order
	Fatal  string   // the Fatal or Fatalf message that ended it; "" if none
}

// Record runs f, in a goroutine of its own as a test runs, with a
// testing.TB that records what f reports instead of failing t, and returns
// the record once f has returned or failed. Everything else (Cleanup,
// TempDir, Logf, Context...) is t's. It is for the tests of test helpers.
func Record(t testing.TB, f func(testing.TB)) Report {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.report
}

// recorder is the testing.TB of Record.
type recorder struct {
	testing.TB
	mu     sync.Mutex
	report Report
}

func (r *recorder) Helper() {}

func (r *recorder) Error(args ...any) { r.Errorf("%s", fmt.Sprint(args...)) }

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.report.Errors = append(r.report.Errors, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatal(args ...any) { r.Fatalf("%s", fmt.Sprint(args...)) }

// Fatalf records the message and ends f's goroutine, as a test's Fatalf
// ends the test's.
func (r *recorder) Fatalf(format string, args ...any) {
	r.mu.Lock()
	r.report.Fatal = fmt.Sprintf(format, args...)
	r.mu.Unlock()
	runtime.Goexit()
}

// Failed reports whether f reported anything, not whether t failed.
func (r *recorder) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.report.Errors) > 0 || r.report.Fatal != ""
}
