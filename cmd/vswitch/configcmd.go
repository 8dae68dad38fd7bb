package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/vswitch/vswitch/config"
)

// configError makes main print the config's FILE:LINE lines and exit 2.
type configError struct{ err error }

func (e *configError) Error() string { return e.err.Error() }

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

func cmdConfig(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usagef("config: check or default?")
	}
	switch args[0] {
	case "default":
		_, err := stdout.Write(config.DefaultYAML())
		return err
	case "check":
		fs := flag.NewFlagSet("config check", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		path := fs.String("c", "", "config file")
		if err := fs.Parse(args[1:]); err != nil || *path == "" {
			return usagef("config check needs -c FILE")
		}
		if _, err := loadConfig(*path); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: ok\n", *path)
		return nil
	}
	return usagef("config: unknown subcommand %q", args[0])
}
