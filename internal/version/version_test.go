package version

import (
	"runtime/debug"
	"testing"
)

func TestNumber(t *testing.T) {
	for _, tc := range []struct {
		release string
		n       uint64
	}{
		{"1.0.0", 1000000},
		{"1.2.3", 1002003},
		{"0.23", 23000},
		{"12.345.678", 12345678},
	} {
		if got := parseNumber(tc.release); got != tc.n {
			t.Errorf("parseNumber(%q) = %d, want %d", tc.release, got, tc.n)
		}
	}
	if got := FormatNumber(Number()); got != Release {
		t.Errorf("FormatNumber(Number()) = %q, want %q", got, Release)
	}
	if got := FormatNumber(1002003); got != "1.2.3" {
		t.Errorf("FormatNumber(1002003) = %q", got)
	}
}

func TestDescribe(t *testing.T) {
	for _, tc := range []struct{ build, want string }{
		{"", "1.0.0"},
		{"v1.0.0", "1.0.0"},
		{"86394bb-dirty", "1.0.0 (86394bb-dirty)"},
	} {
		if got := describe("1.0.0", tc.build); got != tc.want {
			t.Errorf("describe(%q) = %q, want %q", tc.build, got, tc.want)
		}
	}
}

func TestFromBuildInfo(t *testing.T) {
	for _, tc := range []struct {
		name string
		bi   debug.BuildInfo
		want string
	}{
		{"nothing", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, ""},
		{"installed", debug.BuildInfo{Main: debug.Module{Version: "v1.0.0"}}, "v1.0.0"},
		{"checkout", debug.BuildInfo{Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "86394bb2f1c0a9e8d7c6b5a4"},
			{Key: "vcs.modified", Value: "true"},
		}}, "86394bb2f1c0-dirty"},
		{"clean", debug.BuildInfo{Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "86394bb"},
			{Key: "vcs.modified", Value: "false"},
		}}, "86394bb"},
	} {
		if got := fromBuildInfo(&tc.bi); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
