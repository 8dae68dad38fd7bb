package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"

	"github.com/vswitch/vswitch/control"
)

func cmdCapture(socket string, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] == "" || args[0][0] == '-' {
		return usagef("capture needs a PORT")
	}
	port := args[0]
	fs := flag.NewFlagSet("capture", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	file := fs.String("w", "", "write pcap to FILE (default stdout)")
	count := fs.Int("count", 0, "stop after N frames")
	if err := fs.Parse(args[1:]); err != nil {
		return usagef("capture: %v", err)
	}
	q := url.Values{"port": {port}}
	if *count > 0 {
		q.Set("count", fmt.Sprint(*count))
	}
	resp, err := client(socket).Get(context.Background(), "/v1/capture?"+q.Encode())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out := stdout
	if *file != "" {
		f, err := os.Create(*file)
		if err != nil {
			return err
		}
		defer f.Close()
		out = f
	}
	if _, err := io.Copy(out, resp.Body); err != nil {
		return err
	}
	if d := resp.Trailer.Get(control.DroppedTrailer); d != "" && d != "0" {
		fmt.Fprintf(os.Stderr, "vswitch: capture of %s dropped %s frames (the reader was too slow)\n", port, d)
	}
	return nil
}
