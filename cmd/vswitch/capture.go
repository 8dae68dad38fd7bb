package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/vswitch/vswitch/control"
)

func cmdCapture(g globals, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("capture", flag.ContinueOnError)
	file := fs.String("w", "", "write pcap to FILE (default stdout)")
	count := fs.Int("count", 0, "stop after N frames")
	cfgPath := configFlag(fs, g)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("capture", "capture needs one PORT")
	}
	if *count < 0 {
		return usagef("capture", "capture: --count %d is negative", *count)
	}
	port := pos[0]
	toStdout := *file == "" || *file == "-"
	if f, ok := stdout.(*os.File); ok && toStdout && isTerminal(f) {
		return usagef("capture", "capture writes binary pcap: pipe it (| tcpdump -nr -) or use -w FILE")
	}
	c, err := client(g.control, *cfgPath)
	if err != nil {
		return err
	}
	// Ctrl-C ends the capture; what was captured stays, whole records.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	q := url.Values{"port": {port}}
	if *count > 0 {
		q.Set("count", strconv.Itoa(*count))
	}
	resp, err := c.Get(ctx, "/v1/capture?"+q.Encode())
	if err != nil {
		if ctx.Err() != nil {
			return nil // interrupted before the stream began
		}
		return err
	}
	defer resp.Body.Close()

	// The file is made only once the stream began: a failed capture
	// does not clobber an earlier one.
	out := stdout
	var f *os.File
	if !toStdout {
		if f, err = os.Create(*file); err != nil {
			return err
		}
		defer f.Close()
		out = f
	}
	pw := &pcapWriter{w: out}
	_, err = io.Copy(pw, resp.Body)
	switch {
	case err == nil || ctx.Err() != nil: // the end (--count, port gone, vswitch stopped) or Ctrl-C
		err = nil
	case errors.Is(err, errPcapWrite): // the output failed (disk full): as it is
	default:
		err = fmt.Errorf("capture of %s: the stream broke: %w", port, err)
	}
	if f != nil {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}
	fmt.Fprintf(stderr, "vswitch: %d frames captured from %s\n", pw.records, port)
	if d := resp.Trailer.Get(control.DroppedTrailer); d != "" && d != "0" {
		fmt.Fprintf(stderr, "vswitch: %s more frames dropped: the reader was too slow\n", d)
	}
	return err
}
