package sqlite

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"pcsync/internal/store"
)

// MinFreeBytes is the free space a sync needs at the least: room for a
// write-ahead log and the first transactions.
const MinFreeBytes = 64 << 20

// checkWritable verifies, before anything is opened, that the database file
// can be created or opened for writing. A path that cannot name a database
// file is a *store.DSNError (the user must choose another); a file or
// directory pcsync may not write is an error of its own.
func checkWritable(path string) error {
	bad := func(format string, args ...any) error {
		return &store.DSNError{DSN: path, Msg: fmt.Sprintf(format, args...)}
	}
	if path == "" {
		return bad("no database path")
	}
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	if err != nil {
		return bad("directory %s does not exist: create it or choose another --db", dir)
	}
	if !st.IsDir() {
		return bad("%s is not a directory", dir)
	}
	if fi, err := os.Stat(path); err == nil {
		if fi.IsDir() {
			return bad("%s is a directory, not a database file", path)
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
			return fmt.Errorf("the database %s has %d names (hard links): SQLite keeps its write-ahead log beside the name, "+
				"so a write through one name can corrupt what another reads; keep one name and remove the other links "+
				"(find them with: find / -xdev -samefile %s)", path, st.Nlink, path)
		}
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("cannot write the database %s: %v (a sync needs write access to it and its directory)", path, errors.Unwrap(err))
		}
		f.Close()
		return nil
	}
	probe, err := os.CreateTemp(dir, ".pcsync-probe-*")
	if err != nil {
		return fmt.Errorf("cannot create the database in %s: %v", dir, errors.Unwrap(err))
	}
	probe.Close()
	os.Remove(probe.Name())
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err != nil {
		return nil // cannot tell: the database will say if it fills up
	}
	if free := int64(fs.Bavail) * int64(fs.Bsize); free < MinFreeBytes {
		return fmt.Errorf("only %d MiB free in %s; a sync needs %d MiB at least: free some space or choose another --db",
			free>>20, dir, MinFreeBytes>>20)
	}
	return nil
}
