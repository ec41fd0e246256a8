package browsertest_test

import (
	"testing"

	"herenow/internal/browsertest"
)

func TestCheckStrictCSPRefusesWhatWouldLetScriptsIn(t *testing.T) {
	for policy, strict := range map[string]bool{
		"default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'": true,
		"":                                false,
		"default-src 'self'":              false, // no script-src of its own
		"script-src 'self' 'unsafe-eval'": false,
		"script-src 'self'; style-src 'self' 'unsafe-inline'": false,
		"script-src 'self' https://cdn.example":               false,
		"script-src 'self' 'nonce-abc'":                       false,
	} {
		if err := browsertest.CheckStrictCSP(policy); (err == nil) != strict {
			t.Errorf("CheckStrictCSP(%q) = %v, want strict %t", policy, err, strict)
		}
	}
}
