package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

func versionString() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 && v == "dev" {
				v += "+" + s.Value[:12]
			}
		}
	}
	return fmt.Sprintf("vswitch %s (%s)", v, runtime.Version())
}
