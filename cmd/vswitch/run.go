package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/vswitch/vswitch/daemon"
)

func cmdRun(control string, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", "", "config file (default: the embedded default config)")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	format := fs.String("log-format", "text", "text or json")
	if err := fs.Parse(args); err != nil {
		return usagef("%v", err)
	}
	if fs.NArg() > 0 {
		return usagef("run: unexpected %q", fs.Arg(0))
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		return usagef("bad -log-level %q", *level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler = slog.NewTextHandler(stderr, opts)
	switch *format {
	case "text":
	case "json":
		h = slog.NewJSONHandler(stderr, opts)
	default:
		return usagef("bad -log-format %q", *format)
	}
	log := slog.New(h)
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	if control != "" {
		cfg.Control = control
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	daemon.Version = version
	return daemon.Run(ctx, cfg, log)
}
