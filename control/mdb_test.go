package control

import (
	"context"
	"testing"
)

type mdbBackend struct{ fakeBackend }

func (*mdbBackend) MDB() []MDBEntry {
	return []MDBEntry{{VLAN: 10, Group: "239.1.2.3", Port: "vm1", ExpiresSeconds: 200}, {VLAN: 10, Port: "gw", Router: true}}
}

// GET /v1/mdb returns the backend's rows, and the client reads them back.
func TestMDB(t *testing.T) {
	_, c, _ := serve(t, &mdbBackend{})
	got, err := c.MDB(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != (MDBEntry{VLAN: 10, Group: "239.1.2.3", Port: "vm1", ExpiresSeconds: 200}) || !got[1].Router || got[1].Group != "" {
		t.Fatalf("MDB = %+v", got)
	}
}
