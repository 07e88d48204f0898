// Package version names the release and the build of the nmdb programs.
//
// Release is the release number, kept by hand. The build is stamped by
// `make` from git with the linker:
//
//	go build -ldflags "-X github.com/nmdb-go/nmdb/internal/version.build=$(git describe --always --dirty)"
//
// Without a stamp (plain `go build` or `go install`), the build is read from
// the Go toolchain's record of the module and version control state
// (runtime/debug.ReadBuildInfo); when that says nothing either, the build is
// left out.
package version

import (
	"runtime/debug"
	"strconv"
	"strings"
)

// Release is the release number, major.minor.patch.
const Release = "1.0.0"

// build is set by the linker (-X); empty when not stamped.
var build string

// Build returns what identifies this build: the stamp `make` gave it
// (`git describe --always --dirty`), or else the module version or version
// control revision the Go toolchain recorded, or "" when nothing is known.
func Build() string {
	if build != "" {
		return build
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	return fromBuildInfo(bi)
}

// fromBuildInfo describes a build from the toolchain's record: the module
// version when it was installed as pkg@version, else the revision and
// whether the tree was modified.
func fromBuildInfo(bi *debug.BuildInfo) string {
	var rev string
	var modified bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if modified {
			rev += "-dirty"
		}
		return rev
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	return ""
}

// String returns the release and the build, as the programs print them for
// -V: "1.0.0 (86394bb-dirty)", or "1.0.0" when the build is unknown.
func String() string {
	return describe(Release, Build())
}

func describe(release, build string) string {
	if build == "" || build == release || build == "v"+release {
		return release
	}
	return release + " (" + build + ")"
}

// Number returns the release as one integer, major*1000000 + minor*1000 +
// patch (1.2.3 is 1002003), as the server reports it in its statistics.
func Number() uint64 {
	return parseNumber(Release)
}

func parseNumber(release string) uint64 {
	var n uint64
	parts := strings.SplitN(release, ".", 3)
	for i := range 3 {
		n *= 1000
		if i < len(parts) {
			v, err := strconv.ParseUint(parts[i], 10, 64)
			if err == nil && v < 1000 {
				n += v
			}
		}
	}
	return n
}

// FormatNumber turns a number made by Number back into "major.minor.patch".
func FormatNumber(n uint64) string {
	return strconv.FormatUint(n/1000000, 10) + "." + strconv.FormatUint(n/1000%1000, 10) + "." + strconv.FormatUint(n%1000, 10)
}
