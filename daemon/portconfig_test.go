package daemon

import (
	"fmt"
	"testing"

	"github.com/vswitch/vswitch/config"
)

// The security keys of a port reach the switch as configured.
func TestSwitchPortConfigSecurity(t *testing.T) {
	c, err := config.Parse("f.yaml", []byte(`ports:
  - {name: a, type: tap, isolated: true, guard: dhcp}
  - {name: b, type: tap, guard: {macs: ["52:54:00:00:00:01"], ips: [10.0.0.2]}}
  - {name: c, type: afpacket, device: e}
`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, pc := range c.Ports {
		s := switchPortConfig(pc)
		got = append(got, fmt.Sprintf("%s %v %d %+v", s.Name, s.Isolated, s.MaxMACs, s.Guard))
	}
	want := "[a true 16 &{DHCP:true MACs:[] IPs:[]} b false 16 &{DHCP:false MACs:[52:54:00:00:00:01] IPs:[10.0.0.2]} c false 0 <nil>]"
	if fmt.Sprint(got) != want {
		t.Fatalf("got\n%v\nwant\n%s", got, want)
	}
}
