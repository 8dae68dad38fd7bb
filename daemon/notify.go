package daemon

import (
	"net"
	"os"
	"strconv"
)

// notifySystemd tells a service manager (systemd's Type=notify, its
// NOTIFY_SOCKET) that this process is ready and is the service's main
// process: after an upgrade, the new process takes the service over from
// the old one, which exits (NotifyAccess=all lets it say so). Without
// NOTIFY_SOCKET it does nothing.
func notifySystemd() error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if path[0] == '@' {
		path = "\x00" + path[1:] // an abstract socket
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte("READY=1\nMAINPID=" + strconv.Itoa(os.Getpid()) + "\n"))
	return err
}
