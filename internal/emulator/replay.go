package emulator

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"pcsync/internal/wire"
)

// Replay serves a capture written by `pcsync sync --capture DIR` back, as
// `pcsync emulate --replay DIR` does: each request is matched on its
// method, path and parameters (and the digest of a JSON body) and gets the
// captured answers to it in the order they came, the last one again once
// all have been served. An answer that broke off in the capture breaks off
// at the same byte; a request that got no answer (a connection refused or
// reset) has its connection dropped. A request the capture has no answer
// for gets a 404 that names it.
type Replay struct {
	ix  *wire.Index
	log *slog.Logger
}

// NewReplay loads the capture in dir.
func NewReplay(dir string, log *slog.Logger) (*Replay, error) {
	ix, err := wire.Load(dir)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Replay{ix: ix, log: log}, nil
}

// Exchanges is the number of exchanges the capture holds.
func (rp *Replay) Exchanges() int { return rp.ix.Len() }

// hopHeaders are the captured answer's headers the replaying server sets itself.
var hopHeaders = []string{"Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "Date"}

func (rp *Replay) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 256<<20))
	if err != nil {
		http.Error(w, "pcsync replay: request body: "+err.Error(), http.StatusBadRequest)
		return
	}
	key := wire.RequestKey(r.Method, r.URL, r.Header.Get("Content-Type"), body)
	ex, ok := rp.ix.Next(key)
	if !ok {
		rp.log.Warn("replay: no captured answer", "request", key)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, "pcsync replay: the capture has no answer for %s (it answers %d other requests to this path)\n",
			key, rp.ix.Similar(r.Method, r.URL.EscapedPath()))
		return
	}
	rp.log.Info("replay", "request", key, "seq", ex.Seq, "status", ex.Status, "complete", ex.Complete)
	if ex.Status == 0 { // the capture got no answer: drop the connection
		panic(http.ErrAbortHandler)
	}
	for k, vs := range ex.ResponseHeader {
		w.Header()[k] = vs
	}
	for _, k := range hopHeaders {
		w.Header().Del(k)
	}
	f, err := rp.ix.Body(ex)
	if err != nil {
		rp.log.Warn("replay: captured body missing", "seq", ex.Seq, "err", err)
		panic(http.ErrAbortHandler)
	}
	defer f.Close()
	w.WriteHeader(ex.Status)
	if _, err := io.Copy(&flushWriter{w: w}, io.LimitReader(f, ex.BodyBytes)); err != nil {
		return
	}
	if !ex.Complete { // it broke off here in the capture
		panic(http.ErrAbortHandler)
	}
}
