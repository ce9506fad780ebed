package sqlite

import (
	"context"
	"os"
	"sync"
	"time"

	"github.com/ncruces/go-sqlite3"
)

// walLimit is the WAL size at which the checkpointer folds it into the
// database file.
var walLimit int64 = 64 << 20

// walRestart is how much of the log a checkpoint may leave behind it
// before the checkpointer takes the writer's turn to catch up: SQLite
// starts the log over only once a checkpoint has copied all of it, which
// passive checkpoints beside a writer that commits every few dozen
// milliseconds never do, so the WAL grew as large as the data a first
// load wrote (8.6 GB at 5M postures with evidence, 17 GB at 10M).
var walRestart int64 = 256 << 20

// checkpointEvery is how often the checkpointer looks at the WAL's size.
var checkpointEvery = 100 * time.Millisecond

// checkpointer moves WAL checkpoints off the write path. SQLite's automatic
// checkpoint runs inside the COMMIT that crosses the limit, so the writer
// (and, through backpressure, the download) stalls while pages are copied and
// synced. With auto-checkpoints off on the write connection, this goroutine
// runs PASSIVE checkpoints on a connection of its own, on the other core,
// while writing goes on; when the log passes walRestart it runs one more
// between two of the writer's transactions, which copies what was written
// meanwhile and lets the next transaction start the log over. The store
// runs a final one at Close.
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
	tick := time.NewTicker(checkpointEvery)
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
		frames, err := checkpoint(conn)
		page, perr := scalar(conn, "PRAGMA page_size")
		if err == nil && perr == nil && frames*page >= walRestart {
			c.betweenWrites(func() { _, _ = checkpoint(conn) })
		}
		conn.Close()
	}
}

// checkpoint runs a passive checkpoint on conn and returns the frames in
// the log.
func checkpoint(conn *sqlite3.Conn) (int64, error) {
	st, _, err := conn.Prepare("PRAGMA wal_checkpoint(PASSIVE)")
	if err != nil {
		return 0, err
	}
	defer st.Close()
	if !st.Step() {
		return 0, st.Err()
	}
	return st.ColumnInt64(1), nil
}

// betweenWrites runs fn holding the store's lock, that is, between two
// of the writer's transactions; it gives up if the checkpointer is
// stopped meanwhile (Close holds the lock while it waits for the loop).
func (c *checkpointer) betweenWrites(fn func()) {
	locked := make(chan struct{})
	go func() {
		c.s.mu.Lock()
		close(locked)
	}()
	select {
	case <-locked:
		fn()
		c.s.mu.Unlock()
	case <-c.stop:
		go func() {
			<-locked
			c.s.mu.Unlock()
		}()
	}
}

func (c *checkpointer) close() {
	close(c.stop)
	c.wg.Wait()
}
