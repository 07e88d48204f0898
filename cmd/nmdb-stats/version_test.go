package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nmdb-go/nmdb/internal/version"
)

// TestVersionOutput: -V prints the program's name and version, and a build
// stamped with the linker, as make does, shows the stamp.
func TestVersionOutput(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"-V"}, &out, &errb); code != exitOK || errb.Len() != 0 {
		t.Fatalf("-V: exit %d, stderr %q", code, errb.String())
	}
	if got, want := out.String(), "nmdb-stats "+version.String()+"\n"; got != want {
		t.Errorf("-V printed %q, want %q", got, want)
	}

	if testing.Short() {
		t.Skip("building a stamped binary: not in -short")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build a stamped binary")
	}
	bin := filepath.Join(t.TempDir(), "nmdb-stats")
	build := exec.Command(gobin, "build", "-o", bin,
		"-ldflags", "-X github.com/nmdb-go/nmdb/internal/version.build=test-stamp-1", ".")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	for _, arg := range []string{"-V", "--version"} {
		b, err := exec.Command(bin, arg).Output()
		if err != nil {
			t.Fatalf("%s %s: %v", bin, arg, err)
		}
		if got, want := string(b), "nmdb-stats "+version.Release+" (test-stamp-1)\n"; got != want {
			t.Errorf("%s printed %q, want %q", arg, got, want)
		}
	}
	// make stamps the same variable.
	mk, err := os.ReadFile(filepath.Join("..", "..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(mk), "-X github.com/nmdb-go/nmdb/internal/version.build=$(VERSION_STAMP)") ||
		!strings.Contains(string(mk), "git describe --always --dirty") {
		t.Error("the Makefile does not stamp internal/version.build from git describe")
	}
	if !strings.Contains(version.String(), version.Release) {
		t.Errorf("version.String() = %q lacks the release %s", version.String(), version.Release)
	}
}
