package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"pcsync/internal/store"
)

// AcquireSyncLock takes an exclusive flock on <db>.lock, beside the file
// the path names after its symbolic links (a second sync through a link to
// the database meets the same lock). The kernel drops it when the process
// ends, however it ends, so a killed sync never leaves the database locked.
func (s *Store) AcquireSyncLock(ctx context.Context) (func(), error) {
	db, err := filepath.EvalSymlinks(s.path)
	if err != nil {
		return nil, fmt.Errorf("sync lock: %w", err)
	}
	path := db + ".lock"
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sync lock %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, &store.LockedError{Holder: strings.TrimSpace(string(holder))}
		}
		return nil, fmt.Errorf("sync lock %s: %w", path, err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(fmt.Sprintf("pid %d, since %s", os.Getpid(), time.Now().UTC().Format(time.RFC3339))), 0)
	return func() {
		_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	}, nil
}
