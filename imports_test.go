package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestTheProgramLinksNoTestCode keeps the test packages (hub/hubtest,
// users/userstest, internal/testkit, internal/wstest,
// internal/browsertest, and the testing package they stand on) out of the
// binaries: only _test.go files may import them.
func TestTheProgramLinksNoTestCode(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to list the binaries' packages: %v", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", "-f", "{{.ImportPath}} {{.Name}}",
		"herenow", "herenow/loadtest", "herenow/loadtest/baseline").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for line := range strings.Lines(string(out)) {
		pkg, name, _ := strings.Cut(strings.TrimSpace(line), " ")
		// A package for tests is named for what it serves tests of:
		// hubtest, wstest, testkit. (loadtest is a command.)
		forTests := strings.HasSuffix(name, "test") || name == "testkit"
		if pkg == "testing" || strings.HasPrefix(pkg, "testing/") || strings.HasPrefix(pkg, "herenow/") && name != "main" && forTests {
			t.Errorf("a binary links %s, a package for tests", pkg)
		}
	}
}
