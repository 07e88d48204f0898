package daemon

import (
	"fmt"
	"net"
	"os"
	"strings"
)

// NotifyEnv names the variable in which a service manager (systemd, for a
// unit of Type=notify) passes the socket that takes state messages.
const NotifyEnv = "NOTIFY_SOCKET"

// Notify sends state to the service manager through the datagram socket
// named by $NOTIFY_SOCKET: "READY=1" once the daemon serves, "STOPPING=1"
// when it begins to stop, "STATUS=..." for a line of status. Lines of
// several assignments are separated by newlines. Without the variable it
// does nothing and reports false.
//
// This is the whole of the protocol a Type=notify unit needs (see
// sd_notify(3)): one datagram on a Unix socket, whose address is a path,
// or a name in the abstract namespace when it starts with "@".
func Notify(state string) (sent bool, err error) {
	addr := os.Getenv(NotifyEnv)
	if addr == "" {
		return false, nil
	}
	if err := NotifyTo(addr, state); err != nil {
		return false, err
	}
	return true, nil
}

// NotifyTo sends state to the notification socket at addr ("@name" for the
// abstract namespace).
func NotifyTo(addr, state string) error {
	if !strings.HasPrefix(addr, "/") && !strings.HasPrefix(addr, "@") {
		return fmt.Errorf("daemon: %s=%q is neither a path nor an abstract socket name", NotifyEnv, addr)
	}
	name := addr
	if name[0] == '@' {
		name = "\x00" + name[1:] // the abstract namespace
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("daemon: notify the service manager at %s: %w", addr, err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("daemon: notify the service manager at %s: %w", addr, err)
	}
	return nil
}
