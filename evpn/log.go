package evpn

import (
	"log/slog"

	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
)

// logger hands GoBGP's log lines to slog: warnings and errors as they
// are, its chatty info and debug lines at debug level.
type logger struct{ l *slog.Logger }

func (g *logger) attrs(f gobgplog.Fields) []any {
	out := make([]any, 0, 2*len(f))
	for k, v := range f {
		out = append(out, k, v)
	}
	return out
}

func (g *logger) Panic(msg string, f gobgplog.Fields) { g.l.Error("bgp: "+msg, g.attrs(f)...) }
func (g *logger) Fatal(msg string, f gobgplog.Fields) { g.l.Error("bgp: "+msg, g.attrs(f)...) }
func (g *logger) Error(msg string, f gobgplog.Fields) { g.l.Error("bgp: "+msg, g.attrs(f)...) }
func (g *logger) Warn(msg string, f gobgplog.Fields)  { g.l.Warn("bgp: "+msg, g.attrs(f)...) }
func (g *logger) Info(msg string, f gobgplog.Fields)  { g.l.Debug("bgp: "+msg, g.attrs(f)...) }
func (g *logger) Debug(msg string, f gobgplog.Fields) { g.l.Debug("bgp: "+msg, g.attrs(f)...) }

func (g *logger) SetLevel(gobgplog.LogLevel)  {}
func (g *logger) GetLevel() gobgplog.LogLevel { return gobgplog.InfoLevel }
