// Package atomicfile writes a file through a temporary file in the same
// directory, renamed over the target only when the writer commits: a run
// that fails, or is stopped, leaves what was there before.
package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
)

// File is an output file being written. Write to it like an *os.File, then
// Commit to put it in place or Abort to discard it.
type File struct {
	*os.File
	name string
	done bool
}

// Create opens a temporary file beside name (".name.tmp-*", in the same
// directory so that the rename is atomic).
func Create(name string) (*File, error) {
	dir, base := filepath.Split(name)
	if dir == "" {
		dir = "."
	}
	if st, err := os.Stat(name); err == nil && st.IsDir() {
		return nil, &os.PathError{Op: "create", Path: name, Err: errors.New("is a directory")}
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return nil, err
	}
	mode := os.FileMode(0o644)
	if st, err := os.Stat(name); err == nil {
		mode = st.Mode().Perm()
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return &File{File: f, name: name}, nil
}

// Name returns the name the file will have once committed.
func (f *File) Name() string { return f.name }

// Commit closes the temporary file and renames it over the target. After
// an error the target is untouched and the temporary file is removed.
func (f *File) Commit() error {
	if f.done {
		return errors.New("atomicfile: " + f.name + " already committed or aborted")
	}
	f.done = true
	tmp := f.File.Name()
	err := f.File.Close()
	if err == nil {
		err = os.Rename(tmp, f.name)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// Abort closes and removes the temporary file; the target is untouched.
// It does nothing after Commit, so it can be deferred.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.File.Close()
	os.Remove(f.File.Name())
}
