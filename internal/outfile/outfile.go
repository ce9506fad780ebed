// Package outfile writes pcsync's output files safely: never over the
// database they come from (or its companion files), and always whole: a file
// is written under a temporary name beside its target and renamed into place
// only when complete, so a failed or interrupted write leaves the previous
// file as it was.
package outfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// ClashError says an output path names one of the protected files.
type ClashError struct {
	Flag, Path, Protected string
}

func (e *ClashError) Error() string {
	return fmt.Sprintf("%s %s is the database file %s: writing there would destroy the database; choose another path", e.Flag, e.Path, e.Protected)
}

// Guard holds the files no output may be written to.
type Guard struct {
	protected []string
}

// ForSQLite protects a SQLite database and its companion files (write-ahead
// log, shared memory, rollback journal, pcsync's sync lock).
func ForSQLite(db string) Guard {
	var g Guard
	for _, suffix := range []string{"", "-wal", "-shm", "-journal", ".lock"} {
		g.protected = append(g.protected, db+suffix)
		if real := resolve(db); real != db { // through a link: the companions beside the file too
			g.protected = append(g.protected, real+suffix)
		}
	}
	return g
}

// Check refuses path (given by flag) when it is one of the protected files,
// compared as files: through symbolic links and relative paths, by inode
// when both exist, and by resolved path when either does not exist yet.
func (g Guard) Check(flag, path string) error {
	if path == "" {
		return nil
	}
	target := resolve(path)
	fi, err := os.Stat(path)
	for _, p := range g.protected {
		if resolve(p) == target {
			return &ClashError{Flag: flag, Path: path, Protected: p}
		}
		if err == nil {
			if pi, perr := os.Stat(p); perr == nil && os.SameFile(fi, pi) {
				return &ClashError{Flag: flag, Path: path, Protected: p}
			}
		}
	}
	return nil
}

// resolve is path made absolute with every symbolic link followed, also a
// link to a file that does not exist yet, and the parent of a missing file.
func resolve(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return filepath.Clean(path)
	}
	for range 40 { // links followed at most, as the kernel does
		if r, err := filepath.EvalSymlinks(abs); err == nil {
			return r
		}
		fi, err := os.Lstat(abs)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 { // missing: resolve its directory
			dir, base := filepath.Split(abs)
			if r, err := filepath.EvalSymlinks(dir); err == nil {
				return filepath.Join(r, base)
			}
			return abs
		}
		link, err := os.Readlink(abs)
		if err != nil {
			return abs
		}
		if !filepath.IsAbs(link) {
			link = filepath.Join(filepath.Dir(abs), link)
		}
		abs = filepath.Clean(link)
	}
	return abs
}

// File is an output being written under a temporary name, or straight
// into a device or pipe.
type File struct {
	*os.File
	target string
	done   bool
	direct bool // a device or pipe, written as it is
}

// Create starts writing path: a temporary file in the same directory, which
// Commit renames to path. A symbolic link keeps its place: the file it
// names is the one replaced. A device or a pipe (/dev/null, /dev/stdout, a
// FIFO) is written to as it is, never replaced by a file; a directory is
// refused.
func Create(path string) (*File, error) {
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		if fi.IsDir() {
			return nil, fmt.Errorf("cannot write %s: it is a directory; name a file in it", path)
		}
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return nil, fmt.Errorf("cannot write %s: %w", path, pathErr(err))
		}
		return &File{File: f, target: path, direct: true}, nil
	}
	target := path
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		target = resolve(path)
	}
	dir, base := filepath.Split(target)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		err = pathErr(err) // name the target, not the temporary file
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("cannot write %s: directory %s does not exist", path, dir)
		}
		return nil, fmt.Errorf("cannot write %s: %w", path, err)
	}
	return &File{File: f, target: target}, nil
}

// pathErr is the cause of a *fs.PathError, without the path it names.
func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Commit makes the written file the target: flushed to disk, with the
// target's earlier permissions (or rw-r--r--), renamed into place. A
// device or pipe is closed.
func (f *File) Commit() error {
	if f.direct {
		f.done = true
		if err := f.Close(); err != nil {
			return fmt.Errorf("write %s: %w", f.target, err)
		}
		return nil
	}
	mode := fs.FileMode(0o644)
	if fi, err := os.Stat(f.target); err == nil {
		mode = fi.Mode().Perm()
	}
	err := errors.Join(f.Chmod(mode), f.Sync(), f.Close())
	if err == nil {
		err = os.Rename(f.Name(), f.target)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", f.target, err)
	}
	f.done = true
	return nil
}

// Abort removes the temporary file, leaving the target as it was; after a
// Commit it does nothing, so it can be deferred.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.Close()
	if !f.direct {
		os.Remove(f.Name())
	}
}

// RefuseUnlike refuses to replace an existing file at path that does not
// begin with prefix: an output whose files have a known start (a PEM
// certificate) never replaces another kind of file, a database least of all.
func RefuseUnlike(flag, path, prefix string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", flag, path, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && !fi.Mode().IsRegular() {
		return fmt.Errorf("%s %s is not a regular file; choose a file's path", flag, path)
	}
	head := make([]byte, len(prefix))
	n, _ := io.ReadFull(f, head)
	if n > 0 && string(head[:n]) != prefix {
		return fmt.Errorf("%s %s exists and is not what pcsync writes there (it does not begin with %q): "+
			"replacing it could destroy another file; remove it or choose another path", flag, path, prefix)
	}
	return nil
}
