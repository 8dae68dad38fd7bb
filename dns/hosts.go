package dns

// SetHosts replaces the names that always resolve (Config.Hosts), as a
// config reload does. The server's goroutine takes them before its next
// query, so it keeps owning its names without a lock.
func (s *Server) SetHosts(hosts []Host) {
	l := newLocalNames("", hosts, nil)
	s.hosts.Store(&l)
}

// takeHosts installs names SetHosts left; the server's goroutine only.
func (s *Server) takeHosts() {
	if l := s.hosts.Swap(nil); l != nil {
		s.local.static, s.local.staticPTR = l.static, l.staticPTR
	}
}
