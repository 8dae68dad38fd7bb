package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// pcap file layout: a 24-byte file header, then records, each a 16-byte
// header (its third field the captured length) and the frame.
const (
	pcapFileHeaderLen   = 24
	pcapRecordHeaderLen = 16
	pcapMaxRecord       = 1 << 24 // larger is not a pcap record
)

// errPcapWrite wraps a failed write to the output, to tell it from a
// failed read of the stream.
var errPcapWrite = errors.New("writing the capture")

// pcapWriter passes a pcap stream through to w one whole record at a
// time, so that a capture cut short (Ctrl-C) ends on a record boundary
// that tcpdump and Wireshark read without complaint. A stream that is
// not pcap passes through as it comes.
type pcapWriter struct {
	w       io.Writer
	order   binary.ByteOrder // set once the file header was seen
	raw     bool             // not pcap: pass everything through
	buf     []byte           // the start of a header or record not yet whole
	records int              // records written
}

func (p *pcapWriter) Write(b []byte) (int, error) {
	if p.raw {
		return p.write(b, len(b))
	}
	p.buf = append(p.buf, b...)
	n := p.whole()
	if n == 0 {
		return len(b), nil
	}
	if _, err := p.write(p.buf[:n], len(b)); err != nil {
		return 0, err
	}
	p.buf = p.buf[:copy(p.buf, p.buf[n:])]
	return len(b), nil
}

func (p *pcapWriter) write(b []byte, n int) (int, error) {
	if _, err := p.w.Write(b); err != nil {
		return 0, fmt.Errorf("%w: %w", errPcapWrite, err)
	}
	return n, nil
}

// whole returns how many bytes at the start of buf are whole headers and
// records, counting the records.
func (p *pcapWriter) whole() int {
	off := 0
	if p.order == nil {
		if len(p.buf) < pcapFileHeaderLen {
			return 0
		}
		switch binary.LittleEndian.Uint32(p.buf) {
		case 0xa1b2c3d4, 0xa1b23c4d: // microsecond, nanosecond timestamps
			p.order = binary.LittleEndian
		case 0xd4c3b2a1, 0x4d3cb2a1:
			p.order = binary.BigEndian
		default:
			p.raw = true
			return len(p.buf)
		}
		off = pcapFileHeaderLen
	}
	for len(p.buf)-off >= pcapRecordHeaderLen {
		incl := p.order.Uint32(p.buf[off+8:])
		if incl > pcapMaxRecord {
			p.raw = true
			return len(p.buf)
		}
		end := off + pcapRecordHeaderLen + int(incl)
		if end > len(p.buf) {
			break
		}
		off = end
		p.records++
	}
	return off
}
