//go:build !linux

package main

import "os"

// isTerminal reports false off Linux: vswitch runs on Linux only.
func isTerminal(*os.File) bool { return false }
