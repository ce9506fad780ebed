package server

// TakeTurns takes every one of s's turns (see admit), as requests in
// flight would, until release is called.
func TakeTurns(s *Server) (release func()) {
	for range cap(s.slots) {
		s.slots <- struct{}{}
	}
	return func() {
		for range cap(s.slots) {
			<-s.slots
		}
	}
}
