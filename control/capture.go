package control

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Capture stream limits.
const (
	captureSnapLen = 262144           // the largest GSO frame fits
	writeTimeout   = 10 * time.Second // a client that stops reading this long is cut off (Server.writeTimeout)
	flushEvery     = 100 * time.Millisecond
)

// DroppedTrailer carries how many frames the capture lost to a slow reader.
const DroppedTrailer = "Vswitch-Capture-Dropped"

// capture streams a port as pcap: GET /v1/capture?port=NAME[&count=N].
func (s *Server) capture(w http.ResponseWriter, r *http.Request) {
	cb, ok := s.b.(CaptureBackend)
	if !ok {
		writeJSON(w, http.StatusNotImplemented, map[string]string{"error": "capture is not supported"})
		return
	}
	port := r.URL.Query().Get("port")
	if port == "" {
		writeError(w, &BadRequestError{Err: errors.New("capture needs ?port=NAME")})
		return
	}
	count := 0
	if c := r.URL.Query().Get("count"); c != "" {
		n, err := strconv.Atoi(c)
		if err != nil || n < 0 {
			writeError(w, &BadRequestError{Err: fmt.Errorf("bad count %q", c)})
			return
		}
		count = n
	}
	stream, err := cb.StartCapture(port)
	if err != nil {
		writeError(w, err)
		return
	}
	defer stream.Close()
	w.Header().Set("Content-Type", "application/vnd.tcpdump.pcap")
	w.Header().Set("Trailer", DroppedTrailer)
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	pw := pcapgo.NewWriter(w)
	rc.SetWriteDeadline(time.Now().Add(s.writeTimeout))
	if err := pw.WriteFileHeader(captureSnapLen, layers.LinkTypeEthernet); err != nil {
		return
	}
	// Flush the header now, so tcpdump and Wireshark start at once.
	if rc.Flush() != nil {
		return
	}
	written := 0
	lastFlush := time.Now()
	defer func() {
		w.Header().Set(DroppedTrailer, strconv.FormatUint(stream.Dropped(), 10))
		s.log.Info("capture ended", "port", port, "frames", written, "dropped", stream.Dropped())
	}()
	ctx := r.Context()
	for count == 0 || written < count {
		// Wake at least every flushEvery to push buffered frames out.
		wctx, cancel := context.WithTimeout(ctx, flushEvery)
		ts, data, err := stream.Next(wctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			if time.Since(lastFlush) >= flushEvery {
				rc.SetWriteDeadline(time.Now().Add(s.writeTimeout))
				if rc.Flush() != nil {
					return
				}
				lastFlush = time.Now()
			}
			continue
		}
		if err != nil {
			return // client gone, or the port was removed
		}
		rc.SetWriteDeadline(time.Now().Add(s.writeTimeout))
		ci := gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(data), Length: len(data)}
		if err := pw.WritePacket(ci, data); err != nil {
			return // a stalled or vanished client: end, leave nothing behind
		}
		written++
		if time.Since(lastFlush) >= flushEvery || written == count {
			if rc.Flush() != nil {
				return
			}
			lastFlush = time.Now()
		}
	}
}
