package tui

import (
	"errors"
	"fmt"
	"os"
	"sync"
)

// segmentSize is the size of the store's segments; a blob larger than this
// gets a segment of its own.
const segmentSize = 1 << 20

// blobRef locates a blob in a byteStore: segment index and offset.
type blobRef struct {
	seg uint32
	off uint32
}

// byteStore keeps the bytes of captured frames so that the frame in focus
// can be decoded on demand. It is an append-only log of segments: the
// newest memBudget bytes stay in memory, older segments are written to a
// temporary file (up to diskBudget bytes), and beyond that they are
// dropped. Dropped segments read as missing.
//
// The loader goroutine appends and the UI goroutine reads, so every method
// takes the lock.
type byteStore struct {
	mu         sync.Mutex
	segs       []segment
	first      int // segments before first were released (dropBefore)
	inMem      int64
	memBudget  int64
	diskBudget int64
	dir        string
	file       *os.File
	fileSize   int64
	fileErr    error
	dropped    int64 // bytes dropped for want of room
}

type segment struct {
	mem     []byte // nil once spilled or dropped
	size    int    // bytes used
	fileOff int64  // valid when onDisk
	onDisk  bool
}

// newByteStore returns a store that keeps memBudget bytes in memory and
// spills up to diskBudget bytes to a temporary file in dir ("" for the
// system's temporary directory). diskBudget 0 disables spilling.
func newByteStore(memBudget, diskBudget int64, dir string) *byteStore {
	if memBudget < 2*segmentSize {
		memBudget = 2 * segmentSize
	}
	return &byteStore{memBudget: memBudget, diskBudget: diskBudget, dir: dir}
}

// add appends the concatenation of parts and returns where it went.
func (s *byteStore) add(parts ...[]byte) blobRef {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	last := len(s.segs) - 1
	if last < s.first || s.segs[last].mem == nil || s.segs[last].size+n > len(s.segs[last].mem) {
		c := segmentSize
		if n > c {
			c = n
		}
		s.segs = append(s.segs, segment{mem: make([]byte, c)})
		s.inMem += int64(c)
		last = len(s.segs) - 1
		s.evict()
	}
	sg := &s.segs[last]
	ref := blobRef{seg: uint32(last), off: uint32(sg.size)}
	for _, p := range parts {
		sg.size += copy(sg.mem[sg.size:], p)
	}
	return ref
}

// evict spills or drops the oldest in-memory segments (never the newest)
// until the memory budget holds.
func (s *byteStore) evict() {
	for i := s.first; s.inMem > s.memBudget && i < len(s.segs)-1; i++ {
		sg := &s.segs[i]
		if sg.mem == nil {
			continue
		}
		if !s.spill(sg) {
			s.dropped += int64(sg.size)
		}
		s.inMem -= int64(len(sg.mem))
		sg.mem = nil
	}
}

func (s *byteStore) spill(sg *segment) bool {
	if s.fileErr != nil || s.fileSize+int64(sg.size) > s.diskBudget {
		return false
	}
	if s.file == nil {
		f, err := os.CreateTemp(s.dir, "coapaudit-view-*")
		if err != nil {
			s.fileErr = err
			return false
		}
		// The file is only reached through the open descriptor; on
		// systems that allow it, it disappears at once.
		os.Remove(f.Name())
		s.file = f
	}
	if _, err := s.file.WriteAt(sg.mem[:sg.size], s.fileSize); err != nil {
		s.fileErr = err
		return false
	}
	sg.fileOff, sg.onDisk = s.fileSize, true
	s.fileSize += int64(sg.size)
	return true
}

// errBlobGone is returned for bytes that were not kept.
var errBlobGone = errors.New("frame bytes no longer kept")

// read returns a copy of the n bytes at ref.
func (s *byteStore) read(ref blobRef, n int) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := int(ref.seg)
	if i < s.first || i >= len(s.segs) {
		return nil, errBlobGone
	}
	sg := &s.segs[i]
	if int(ref.off)+n > sg.size {
		return nil, fmt.Errorf("blob %d+%d beyond segment of %d bytes", ref.off, n, sg.size)
	}
	b := make([]byte, n)
	switch {
	case sg.mem != nil:
		copy(b, sg.mem[ref.off:])
	case sg.onDisk:
		if _, err := s.file.ReadAt(b, sg.fileOff+int64(ref.off)); err != nil {
			return nil, err
		}
	default:
		return nil, errBlobGone
	}
	return b, nil
}

// dropBefore releases the segments before the one holding ref: their
// frames were forgotten.
func (s *byteStore) dropBefore(ref blobRef) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ; s.first < int(ref.seg) && s.first < len(s.segs); s.first++ {
		sg := &s.segs[s.first]
		s.inMem -= int64(len(sg.mem))
		s.segs[s.first] = segment{}
	}
}

// stats returns the bytes held in memory, on disk, and dropped.
func (s *byteStore) stats() (mem, disk, dropped int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inMem, s.fileSize, s.dropped
}

// close removes the temporary file.
func (s *byteStore) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.segs, s.first = nil, 0
	if s.file == nil {
		return nil
	}
	name := s.file.Name()
	err := s.file.Close()
	s.file = nil
	if rerr := os.Remove(name); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
		err = rerr
	}
	return err
}
