package main

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// pcapStream is a pcap file with n records of varying lengths.
func pcapStream(t *testing.T, n int) ([]byte, []int) {
	var b bytes.Buffer
	w := pcapgo.NewWriter(&b)
	if err := w.WriteFileHeader(65536, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	var ends []int // the offset just past each record
	for i := range n {
		data := bytes.Repeat([]byte{byte(i)}, 60+i*37%1400)
		w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(int64(i), 0), CaptureLength: len(data), Length: len(data)}, data)
		ends = append(ends, b.Len())
	}
	return b.Bytes(), ends
}

// feed writes stream into a pcapWriter in random chunks.
func feed(p *pcapWriter, stream []byte, rnd *rand.Rand) {
	for len(stream) > 0 {
		n := min(len(stream), 1+rnd.IntN(300))
		p.Write(stream[:n])
		stream = stream[n:]
	}
}

func TestPcapWriterWholeRecords(t *testing.T) {
	stream, ends := pcapStream(t, 50)
	rnd := rand.New(rand.NewPCG(1, 2))
	var out bytes.Buffer
	p := &pcapWriter{w: &out}
	feed(p, stream, rnd)
	if !bytes.Equal(out.Bytes(), stream) || p.records != 50 {
		t.Fatalf("passed %d of %d bytes, %d records", out.Len(), len(stream), p.records)
	}
	// Cut anywhere: the output ends on the last whole record.
	for range 200 {
		cut := rnd.IntN(len(stream))
		out.Reset()
		p := &pcapWriter{w: &out}
		feed(p, stream[:cut], rnd)
		want := 0
		if cut >= 24 {
			want = 24
		}
		for _, e := range ends {
			if e <= cut {
				want = e
			}
		}
		if out.Len() != want {
			t.Fatalf("cut at %d: wrote %d bytes, want %d", cut, out.Len(), want)
		}
		if want > 0 {
			r, err := pcapgo.NewReader(bytes.NewReader(out.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < p.records; i++ {
				if _, _, err := r.ReadPacketData(); err != nil {
					t.Fatalf("cut at %d, record %d: %v", cut, i, err)
				}
			}
		}
	}
}

func TestPcapWriterBigEndianAndRaw(t *testing.T) {
	// A big-endian pcap header with one 4-byte record, fed byte by byte.
	be := make([]byte, 24+16+4)
	binary.BigEndian.PutUint32(be, 0xa1b2c3d4)
	binary.BigEndian.PutUint32(be[24+8:], 4)
	var out bytes.Buffer
	p := &pcapWriter{w: &out}
	for i := range be {
		p.Write(be[i : i+1])
	}
	if !bytes.Equal(out.Bytes(), be) || p.records != 1 {
		t.Fatalf("big-endian: %d bytes, %d records", out.Len(), p.records)
	}
	// Not pcap: passed through untouched.
	out.Reset()
	p = &pcapWriter{w: &out}
	junk := bytes.Repeat([]byte("not a pcap stream "), 3)
	p.Write(junk[:10])
	p.Write(junk[10:])
	if !bytes.Equal(out.Bytes(), junk) {
		t.Fatalf("raw: %q", out.Bytes())
	}
}

// The edges of the record parser: a file header alone passes at once; a
// zero-length record is a record; a record of exactly pcapMaxRecord bytes
// is waited for, one byte larger makes the stream raw.
func TestPcapWriterEdges(t *testing.T) {
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr, 0xa1b2c3d4)
	rec := func(incl uint32) []byte {
		r := make([]byte, 16)
		binary.LittleEndian.PutUint32(r[8:], incl)
		return r
	}
	for _, tt := range []struct {
		name    string
		in      []byte
		out     int // bytes passed
		records int
		raw     bool
	}{
		{"header alone", hdr, 24, 0, false},
		{"header and 15 bytes", append(append([]byte(nil), hdr...), make([]byte, 15)...), 24, 0, false},
		{"empty record", append(append([]byte(nil), hdr...), rec(0)...), 40, 1, false},
		{"largest record, not all there", append(append([]byte(nil), hdr...), rec(pcapMaxRecord)...), 24, 0, false},
		{"too large a record", append(append([]byte(nil), hdr...), rec(pcapMaxRecord+1)...), 40, 0, true},
		{"23 bytes", hdr[:23], 0, 0, false},
	} {
		var out bytes.Buffer
		p := &pcapWriter{w: &out}
		if n, err := p.Write(tt.in); n != len(tt.in) || err != nil {
			t.Fatalf("%s: Write %d %v", tt.name, n, err)
		}
		if out.Len() != tt.out || p.records != tt.records || p.raw != tt.raw {
			t.Errorf("%s: passed %d bytes, %d records, raw %v; want %d, %d, %v", tt.name, out.Len(), p.records, p.raw, tt.out, tt.records, tt.raw)
		}
	}
}
