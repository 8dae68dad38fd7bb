package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// versionString is "vswitch VERSION (goX.Y.Z)"; a build from a git
// checkout adds its revision: "vswitch dev+0123456789ab-dirty (go1.26.8)".
func versionString() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok {
		var rev string
		dirty := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" {
			v += "+" + rev
			if dirty {
				v += "-dirty"
			}
		}
	}
	return fmt.Sprintf("vswitch %s (%s)", v, runtime.Version())
}
