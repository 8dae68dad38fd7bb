// Package config is vswitch's configuration: the YAML schema, its
// defaults, the embedded default config, and validation whose every error
// names the file, the line and the key.
//
// It must never do I/O beyond reading the one file it is given: it does not
// touch devices, namespaces, sockets or the network. Whether a device
// exists is the daemon's question, asked when it starts.
package config
