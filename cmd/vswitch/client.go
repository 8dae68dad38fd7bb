package main

import (
	"flag"

	"github.com/vswitch/vswitch/config"
	"github.com/vswitch/vswitch/control"
)

// configFlag adds -c FILE to a command that talks to a running vswitch:
// the socket is then FILE's control:. A -c before the command is its
// default.
func configFlag(fs *flag.FlagSet, g globals) *string {
	return fs.String("c", g.config, "take the control socket from this config file")
}

// socketPath picks the control socket: --control, else the control: of
// the config file cfgPath, else the default.
func socketPath(control, cfgPath string) (string, error) {
	switch {
	case control != "":
		return control, nil
	case cfgPath != "":
		cfg, err := loadConfig(cfgPath)
		if err != nil {
			return "", err
		}
		return cfg.Control, nil
	}
	return config.DefaultControl, nil
}

// client returns a client for the socket socketPath picks.
func client(socket, cfgPath string) (*control.Client, error) {
	path, err := socketPath(socket, cfgPath)
	if err != nil {
		return nil, err
	}
	return control.NewClient(path), nil
}
