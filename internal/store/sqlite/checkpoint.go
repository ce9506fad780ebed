package sqlite

import (
	"context"
	"os"
	"sync"
	"time"
)

// walLimit is the WAL size at which the checkpointer folds it into the
// database file.
const walLimit = 64 << 20

// checkpointer moves WAL checkpoints off the write path. SQLite's automatic
// checkpoint runs inside the COMMIT that crosses the limit, so the writer
// (and, through backpressure, the download) stalls while pages are copied and
// synced. With auto-checkpoints off on the write connection, this goroutine
// runs PASSIVE checkpoints on a connection of its own, on the other core,
// while writing goes on; the store runs a final one at Close.
type checkpointer struct {
	s    *Store
	stop chan struct{}
	wg   sync.WaitGroup
}

func (s *Store) startCheckpointer() error {
	if err := s.conn.Exec("PRAGMA wal_autocheckpoint=0"); err != nil {
		return err
	}
	c := &checkpointer{s: s, stop: make(chan struct{})}
	c.wg.Go(c.loop)
	s.cp = c
	return nil
}

func (c *checkpointer) loop() {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-tick.C:
		}
		fi, err := os.Stat(c.s.path + "-wal")
		if err != nil || fi.Size() < walLimit {
			continue
		}
		conn, err := c.s.open(context.Background())
		if err != nil {
			continue
		}
		_ = conn.Exec("PRAGMA wal_checkpoint(PASSIVE)")
		conn.Close()
	}
}

func (c *checkpointer) close() {
	close(c.stop)
	c.wg.Wait()
}
