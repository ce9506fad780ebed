package outfile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// CheckDir refuses dir (given by flag) as a directory of output files when
// it is one of the protected files, or holds one at any depth (replacing
// the directory would remove it), compared through symbolic links and
// relative paths; and when it exists and is not a directory.
func (g Guard) CheckDir(flag, dir string) error {
	if err := g.Check(flag, dir); err != nil {
		return err
	}
	root := resolve(dir)
	for _, p := range g.protected {
		if within(resolve(p), root) {
			return &ClashError{Flag: flag, Path: dir, Protected: p}
		}
	}
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return fmt.Errorf("%s %s is a file, not a directory", flag, dir)
	}
	return nil
}

func within(path, root string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// Dir is a directory of output files being written under a temporary name
// beside its target: Commit puts it in the target's place whole, Abort
// removes it, so an interrupted export leaves the previous directory.
type Dir struct {
	Path   string // where to write the files meanwhile
	target string
	done   bool
}

// CreateDir starts writing the directory dir (through a symbolic link,
// the directory it names).
func CreateDir(dir string) (*Dir, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Lstat(abs); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		abs = resolve(abs) // the link keeps its place: the directory it names is replaced
	}
	// the mode a new directory gets (the umask applies), or the one it replaces
	for {
		var b [6]byte
		rand.Read(b[:])
		tmp := filepath.Join(filepath.Dir(abs), "."+filepath.Base(abs)+".tmp-"+hex.EncodeToString(b[:]))
		err := os.Mkdir(tmp, 0o777)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if fi, err := os.Stat(abs); err == nil && fi.IsDir() {
			if err := os.Chmod(tmp, fi.Mode().Perm()); err != nil {
				os.Remove(tmp)
				return nil, err
			}
		}
		return &Dir{Path: tmp, target: abs}, nil
	}
}

// Commit replaces the target directory with the one written (the earlier
// one is removed first: the two renames are not one atomic step).
func (d *Dir) Commit() error {
	old := ""
	if _, err := os.Stat(d.target); err == nil {
		old = d.Path + ".old"
		if err := os.Rename(d.target, old); err != nil {
			return err
		}
	}
	if err := os.Rename(d.Path, d.target); err != nil {
		if old != "" {
			_ = os.Rename(old, d.target)
		}
		return err
	}
	d.done = true
	if old != "" {
		return os.RemoveAll(old)
	}
	return nil
}

// Abort removes what was written, leaving the target as it was; after a
// Commit it does nothing, so it can be deferred.
func (d *Dir) Abort() {
	if !d.done {
		os.RemoveAll(d.Path)
	}
}
