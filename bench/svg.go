package main

import (
	"fmt"
	"strings"
)

var palette = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"}

// bars draws grouped bars: one group per test, one bar per switch.
func (r *report) bars(title, unit string, tests ...string) string {
	const w, h, left, bottom = 640, 360, 60, 40
	var maxV float64
	var switches []string
	seen := map[string]bool{}
	for _, res := range r.Results {
		for _, t := range tests {
			if res.Test == t {
				maxV = max(maxV, res.Max)
				if !seen[res.Switch] {
					seen[res.Switch] = true
					switches = append(switches, res.Switch)
				}
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", w, h)
	fmt.Fprintf(&b, `<text x="%d" y="20" font-size="15">%s (%s)</text>`+"\n", left, title, unit)
	if maxV == 0 || len(switches) == 0 {
		b.WriteString(`<text x="60" y="60">no data</text></svg>` + "\n")
		return b.String()
	}
	plotH := float64(h - bottom - 40)
	groupW := float64(w-left-20) / float64(len(tests))
	barW := groupW * 0.8 / float64(len(switches))
	for gi, t := range tests {
		gx := float64(left) + float64(gi)*groupW
		fmt.Fprintf(&b, `<text x="%.0f" y="%d">%s</text>`+"\n", gx+groupW/2-10, h-bottom+18, t)
		for si, sw := range switches {
			for _, res := range r.Results {
				if res.Switch == sw && res.Test == t {
					bh := res.Median / maxV * plotH
					x := gx + groupW*0.1 + float64(si)*barW
					y := float64(h-bottom) - bh
					fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`+"\n", x, y, barW-2, bh, palette[si%len(palette)])
					fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="10">%.2f</text>`+"\n", x, y-3, res.Median)
				}
			}
		}
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", left, h-bottom, w-10, h-bottom)
	for si, sw := range switches {
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="10" height="10" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n",
			w-140, 30+si*16, palette[si%len(palette)], w-125, 39+si*16, sw)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// cdfPlot draws each switch's request/response latency distribution.
func (r *report) cdfPlot() string {
	const w, h, left, bottom = 640, 360, 60, 40
	var maxV float64
	for _, c := range r.cdfs {
		if len(c) > 99 {
			maxV = max(maxV, c[99]) // the p99 bounds the axis; the tail is off the chart
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", w, h)
	fmt.Fprintf(&b, `<text x="%d" y="20" font-size="15">Request/response latency CDF (us, up to p99)</text>`+"\n", left)
	if maxV == 0 {
		b.WriteString(`<text x="60" y="60">no data</text></svg>` + "\n")
		return b.String()
	}
	plotW, plotH := float64(w-left-20), float64(h-bottom-40)
	i := 0
	for _, sw := range r.o.switches {
		c, ok := r.cdfs[sw]
		if !ok {
			continue
		}
		var pts []string
		for p := 0; p <= 99; p++ {
			x := float64(left) + c[p]/maxV*plotW
			y := float64(h-bottom) - float64(p)/100*plotH
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", palette[i%len(palette)], strings.Join(pts, " "))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="10" height="10" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n",
			w-140, h-bottom-60+i*16, palette[i%len(palette)], w-125, h-bottom-51+i*16, sw)
		i++
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", left, h-bottom, w-10, h-bottom)
	fmt.Fprintf(&b, `<text x="%d" y="%d">0</text><text x="%d" y="%d">%.0f us</text>`+"\n", left, h-bottom+16, w-70, h-bottom+16, maxV)
	b.WriteString("</svg>\n")
	return b.String()
}
