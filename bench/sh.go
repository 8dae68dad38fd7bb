package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// sh runs a command with a time limit and returns its combined output.
func sh(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var b bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &b, &b
	err := cmd.Run()
	if err != nil {
		return b.String(), fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(b.String()))
	}
	return b.String(), nil
}

// nsExec runs a command in a namespace.
func nsExec(ns string, name string, args ...string) (string, error) {
	return sh("ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// cleanup is a stack of undo steps, run in reverse at the end.
type cleanup struct{ steps []func() }

func (c *cleanup) add(f func()) { c.steps = append(c.steps, f) }

func (c *cleanup) run() {
	for i := len(c.steps) - 1; i >= 0; i-- {
		c.steps[i]()
	}
	c.steps = nil
}

// addNetns makes the namespace ns with loopback up; c deletes it.
func addNetns(c *cleanup, ns string) error {
	if _, err := sh("ip", "netns", "add", ns); err != nil {
		return err
	}
	c.add(func() { sh("ip", "netns", "del", ns) })
	nsExec(ns, "ip", "link", "set", "lo", "up")
	return nil
}

// addVeth makes a veth pair and moves peer into ns; c deletes the pair.
func addVeth(c *cleanup, root, peer, ns string) error {
	if _, err := sh("ip", "link", "add", root, "type", "veth", "peer", "name", peer); err != nil {
		return err
	}
	c.add(func() { sh("ip", "link", "del", root) })
	sh("ip", "link", "set", peer, "netns", ns)
	return nil
}
