//go:build pcap

package capture

// exactKernelCounts is false: libpcap's counters may include frames it
// discards itself, such as the outgoing copies of loopback frames.
const exactKernelCounts = false
