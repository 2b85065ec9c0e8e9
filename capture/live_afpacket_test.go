//go:build !pcap

package capture

// exactKernelCounts reports that LiveStats count each frame that passed the
// filter once, so that Received-Dropped is what the Reader got.
const exactKernelCounts = true
