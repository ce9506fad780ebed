package server

import "sync"

// body is a buffer an answer is made in before it is sent. Bodies are
// reused: a host's answer is half a megabyte, and growing a new buffer for
// each request was a fifth of its CPU (the copies of each growth and the
// garbage collector's work after them).
type body struct{ b []byte }

// Write appends p (templates execute into a body).
func (b *body) Write(p []byte) (int, error) {
	b.b = append(b.b, p...)
	return len(p), nil
}

// maxPooledBody is the largest buffer kept for reuse: a rare huge answer
// does not keep its memory.
const maxPooledBody = 4 << 20

var bodies = sync.Pool{New: func() any { return &body{b: make([]byte, 0, 64<<10)} }}

// newBody is an empty body; give it back with free once it is sent.
func newBody() *body {
	b := bodies.Get().(*body)
	b.b = b.b[:0]
	return b
}

func (b *body) free() {
	if cap(b.b) <= maxPooledBody {
		bodies.Put(b)
	}
}
