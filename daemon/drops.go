package daemon

import vswitch "github.com/vswitch/vswitch/switch"

func dropName(i int) string { return vswitch.DropReason(i).String() }
