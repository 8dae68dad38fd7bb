package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/vswitch/vswitch/config"
	"github.com/vswitch/vswitch/daemon"
)

func cmdRun(g globals, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	path := fs.String("c", g.config, "config file")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	format := fs.String("log-format", "text", "text or json")
	if err := parseNoArgs(fs, args, " (the config file goes after -c)"); err != nil {
		return err
	}
	log, err := newLogger(stderr, *level, *format)
	if err != nil {
		return err
	}
	// load is also what a reload reads, with the same --control.
	load := func() (*config.Config, error) {
		cfg, err := loadConfig(*path)
		if err == nil && g.control != "" {
			cfg.Control = g.control
		}
		return cfg, err
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	if *path == "" {
		log.Info("no -c FILE: running the embedded default config ('vswitch config default' prints it)")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// Once stopping, a second signal kills at once (the default).
		<-ctx.Done()
		stop()
	}()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	usr2 := make(chan os.Signal, 1)
	signal.Notify(usr2, syscall.SIGUSR2)
	defer signal.Stop(usr2)
	opts := daemon.Options{Load: load, Upgrade: usr2, SetCPUs: cpuSetter(log)}
	if v := os.Getenv(daemon.HandoverFDEnv); v != "" {
		// An upgrade started us: take over from the process that did.
		os.Unsetenv(daemon.HandoverFDEnv) // not for our own upgrade's child
		fd, err := strconv.Atoi(v)
		if err != nil || fd < 3 {
			return fmt.Errorf("%s=%q: want a descriptor number", daemon.HandoverFDEnv, v)
		}
		opts.Handover = os.NewFile(uintptr(fd), "handover")
	}
	daemon.Version = version
	return daemon.RunWith(ctx, cfg, log, opts, hup)
}

// newLogger makes the daemon's logger on w.
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("run", "run: bad -log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usagef("run", "run: bad -log-format %q: want text or json", format)
}
