package main

import (
	"log/slog"
	"os"
	"runtime"

	"github.com/vswitch/vswitch/config"
)

// cpuSetter returns what applies the config's cpus: runtime.GOMAXPROCS,
// the number of threads that run Go code at once. A GOMAXPROCS in the
// environment is the operator's word for this process, as for any Go
// program, and wins over the file.
func cpuSetter(log *slog.Logger) func(config.CPUs) {
	env := os.Getenv("GOMAXPROCS")
	return func(n config.CPUs) {
		was := runtime.GOMAXPROCS(0)
		switch {
		case env != "":
			if n != 0 {
				log.Warn("cpus ignored: GOMAXPROCS is set in the environment", "cpus", n, "GOMAXPROCS", env)
			}
			return
		case n == 0:
			// The runtime's choice (CPUs, affinity, cgroup quota), kept
			// up to date as those change.
			runtime.SetDefaultGOMAXPROCS()
		default:
			runtime.GOMAXPROCS(int(n))
		}
		if now := runtime.GOMAXPROCS(0); now != was {
			log.Info("threads for Go code changed", "cpus", n, "threads", now, "were", was)
		}
	}
}
