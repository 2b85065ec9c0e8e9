//go:build !linux && !pcap

package capture

import (
	"time"

	"github.com/google/gopacket"
)

// handle is the live capture of systems without one: OpenLive fails.
type handle struct{}

func openHandle(iface string, opts *LiveOptions) (*handle, LinkType, error) {
	return nil, 0, liveError(iface, "%w", ErrLiveUnsupported)
}

func (*handle) read() ([]byte, gopacket.CaptureInfo, error) {
	return nil, gopacket.CaptureInfo{}, ErrLiveUnsupported
}

func (*handle) setReadDeadline(time.Time) error { return ErrLiveUnsupported }
func (*handle) stats() (LiveStats, error)       { return LiveStats{}, ErrLiveUnsupported }
func (*handle) close() error                    { return nil }
func (*handle) bufferSize() int                 { return 0 }
