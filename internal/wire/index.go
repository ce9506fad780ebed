package wire

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
)

// Index is a capture read back for replay: the exchanges of each request
// key, in the order they happened. Only the small N.json files are held;
// bodies are streamed from their files when served.
type Index struct {
	dir    string
	mu     sync.Mutex
	queues map[string][]*Exchange
	served map[string]int
}

// Load reads the capture in dir.
func Load(dir string) (*Index, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "[0-9][0-9][0-9][0-9][0-9][0-9].json"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("%s holds no capture (no NNNNNN.json files): make one with pcsync sync --capture %s", dir, dir)
	}
	var all []*Exchange
	for _, p := range paths {
		f, err := openPlain(p)
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(io.LimitReader(f, maxExchangeBytes+1))
		f.Close()
		if err != nil {
			return nil, err
		}
		if len(b) > maxExchangeBytes {
			return nil, fmt.Errorf("%s: larger than %d KiB, which no exchange of a pcsync capture is", p, maxExchangeBytes>>10)
		}
		ex := &Exchange{}
		if err := json.Unmarshal(b, ex); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if ex.Key == "" || ex.Seq <= 0 || ex.Status != 0 && (ex.Status < 100 || ex.Status > 599) || ex.BodyBytes < 0 {
			return nil, fmt.Errorf("%s: not an exchange of a pcsync capture", p)
		}
		all = append(all, ex)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Seq < all[j].Seq })
	ix := &Index{dir: dir, queues: map[string][]*Exchange{}, served: map[string]int{}}
	for _, ex := range all {
		ix.queues[ex.Key] = append(ix.queues[ex.Key], ex)
	}
	return ix, nil
}

// Len is the number of exchanges in the capture.
func (ix *Index) Len() int {
	n := 0
	for _, q := range ix.queues {
		n += len(q)
	}
	return n
}

// Next returns the exchange that answers the next request with key: the
// captured answers to that request in the order they came, the last one
// again once all have been served. It reports false when the capture has no
// such request.
func (ix *Index) Next(key string) (*Exchange, bool) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	q := ix.queues[key]
	if len(q) == 0 {
		return nil, false
	}
	i := min(ix.served[key], len(q)-1)
	ix.served[key]++
	return q[i], true
}

// Body opens the captured body of the answer ex.
func (ix *Index) Body(ex *Exchange) (*os.File, error) {
	return openPlain(filepath.Join(ix.dir, fmt.Sprintf("%06d.resp", ex.Seq)))
}

// maxExchangeBytes bounds an exchange's index file (its headers and
// parameters; bodies are files of their own).
const maxExchangeBytes = 1 << 20

// openPlain opens a capture's file, refusing anything but a plain file: a
// capture may come from elsewhere (a bug report), and a link in it must
// not serve another file of this machine.
func openPlain(path string) (*os.File, error) {
	// O_NONBLOCK: a FIFO opens at once (to be refused below) instead of
	// waiting for a writer that never comes
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is not a plain file, which every file of a pcsync capture is", path)
	}
	return f, nil
}

// Similar counts the captured requests with the same method and path as
// key but other parameters or body: what a 404 can point to.
func (ix *Index) Similar(method, escapedPath string) int {
	prefix := method + " " + escapedPath
	n := 0
	for k, q := range ix.queues {
		if k == prefix || strings.HasPrefix(k, prefix+"?") || strings.HasPrefix(k, prefix+" ") {
			n += len(q)
		}
	}
	return n
}
