package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/vswitch/vswitch/config"
)

// configError makes main print the config's FILE:LINE: reason lines and
// exit 2.
type configError struct{ err error }

func (e *configError) Error() string { return e.err.Error() }

// loadConfig loads path, or the embedded default when path is "". `run`
// and `config check` share it, so both report the same lines.
func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.Default(), nil
	}
	c, err := config.Load(path)
	if err != nil {
		return nil, &configError{err}
	}
	return c, nil
}

// needSubcommand is the start of a command made of subcommands (config,
// port): without one it is a usage error asking for one of choices, and
// a help flag asks for the command's help.
func needSubcommand(cmd string, args []string, choices string) error {
	if len(args) == 0 {
		return usagef(cmd, "%s: %s?", cmd, choices)
	}
	if isHelp(args[0]) {
		return &helpRequest{cmd}
	}
	return nil
}

func cmdConfig(g globals, args []string, stdout io.Writer) error {
	if err := needSubcommand("config", args, "check or default"); err != nil {
		return err
	}
	switch args[0] {
	case "default":
		fs := flag.NewFlagSet("config default", flag.ContinueOnError)
		if err := parseNoArgs(fs, args[1:], ""); err != nil {
			return err
		}
		_, err := stdout.Write(config.DefaultYAML())
		return err
	case "check":
		fs := flag.NewFlagSet("config check", flag.ContinueOnError)
		path := fs.String("c", g.config, "config file")
		pos, err := parseFlags(fs, args[1:])
		if err != nil {
			return err
		}
		if *path == "" && len(pos) == 1 { // `config check FILE` works too
			*path, pos = pos[0], nil
		}
		if *path == "" || len(pos) > 0 {
			return usagef("config", "config check needs -c FILE")
		}
		if _, err := loadConfig(*path); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: ok\n", *path)
		return nil
	}
	return usagef("config", "config: unknown subcommand %q", args[0])
}
