package capture

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/bpf"
)

// maxFilterLen is the longest classic BPF program Linux accepts
// (BPF_MAXINSNS).
const maxFilterLen = 4096

// filterLayout says where a kernel filter finds the network-layer header of
// the frames it sees.
type filterLayout uint8

const (
	// layoutEthernet: an Ethernet header, the EtherType at 12 and the
	// network header at 14 (Ethernet and loopback interfaces).
	layoutEthernet filterLayout = iota
	// layoutIP: the network header at 0, told apart by its version
	// nibble (raw-IP interfaces, and any interface in cooked mode).
	layoutIP
	// layoutOpaque: no fixed place (IEEE 802.15.4 with 6LoWPAN); port
	// filters do not apply.
	layoutOpaque
)

// dlt returns the name tcpdump's -y option gives the layout.
func (l filterLayout) dlt() string {
	switch l {
	case layoutEthernet:
		return "EN10MB"
	case layoutIP:
		return "RAW"
	}
	return "IEEE802_15_4_NOFCS"
}

// loopbackDedup says how a filter drops the second copy of each loopback
// frame: a packet socket sees every frame sent on lo twice, once going out
// and once coming in, as tcpdump does not show them.
type loopbackDedup struct {
	device bool // the capture is on the loopback device itself
	any    bool // the capture is on every interface; lo has index ifindex
	index  uint32
}

// Values of the packet-type extension (PACKET_* in linux/if_packet.h).
const packetOutgoing = 4

// filterSpec is what a kernel filter is built from.
type filterSpec struct {
	layout  filterLayout
	dedup   loopbackDedup
	ports   []uint16             // deduplicated
	tcp     []uint16             // TCP ports, deduplicated
	user    []bpf.RawInstruction // appended as is: frames must pass it too
	snaplen int
}

// build returns the program for spec, or nil when every frame is to be kept.
func (spec *filterSpec) build() ([]bpf.RawInstruction, error) {
	ports, tcp := spec.ports, spec.tcp
	if spec.layout == layoutOpaque {
		ports, tcp = nil, nil
	}
	if !spec.dedup.device && !spec.dedup.any && len(ports)+len(tcp) == 0 {
		return spec.user, nil
	}
	var a assembler
	accept, body := a.newLabel(), a.newLabel()
	if spec.dedup.device || spec.dedup.any {
		a.emit(bpf.LoadExtension{Num: bpf.ExtType})
		a.jumpIf(bpf.JumpEqual, packetOutgoing, next, body)
		if spec.dedup.any {
			a.emit(bpf.LoadExtension{Num: bpf.ExtInterfaceIndex})
			a.jumpIf(bpf.JumpEqual, spec.dedup.index, next, body)
		}
		a.emit(bpf.RetConstant{Val: 0})
	}
	a.mark(body)
	if len(ports)+len(tcp) > 0 {
		udpPorts(&a, spec.layout, ports, tcp, accept)
	}
	a.mark(accept)
	if len(spec.user) == 0 {
		a.emit(bpf.RetConstant{Val: uint32(spec.snaplen)})
	}
	prog, err := a.assemble()
	if err != nil {
		return nil, err
	}
	if len(prog)+len(spec.user) > maxFilterLen {
		return nil, fmt.Errorf("filter of %d instructions exceeds %d", len(prog)+len(spec.user), maxFilterLen)
	}
	return append(prog, spec.user...), nil
}

// udpPorts emits a program that goes to accept for IPv4 and IPv6 UDP
// datagrams with a source or destination port in ports and for every
// fragment of an IPv4 or IPv6 UDP datagram, for TCP segments (not in
// fragments) with a port in tcp, and returns 0 for anything else. IPv6
// extension headers other than a Fragment header right after the fixed
// header are not followed, as in tcpdump's filters.
//
// Conditional jumps reach at most 255 instructions ahead, so each section
// ends in its own "ret #0" and reaches accept through an unconditional
// jump: no conditional jump spans more than one list of ports.
func udpPorts(a *assembler, layout filterLayout, udp, tcp []uint16, accept label) {
	// checkPorts compares the port loaded by load with every port.
	ports := udp
	checkPorts := func(load bpf.Instruction, hit label) {
		a.emit(load)
		for _, p := range ports {
			a.jumpIf(bpf.JumpEqual, uint32(p), hit, next)
		}
	}
	tcp4, tcp6 := a.newLabel(), a.newLabel()
	v4, v6, drop := a.newLabel(), a.newLabel(), a.newLabel()
	off := uint32(0) // of the network header
	switch layout {
	case layoutEthernet:
		off = 14
		a.emit(bpf.LoadAbsolute{Off: 12, Size: 2})
		a.jumpIf(bpf.JumpEqual, 0x0800, v4, next)
		a.jumpIf(bpf.JumpEqual, 0x86dd, next, drop)
	case layoutIP:
		a.emit(bpf.LoadAbsolute{Off: 0, Size: 1})
		a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xf0})
		a.jumpIf(bpf.JumpEqual, 0x40, v4, next)
		a.jumpIf(bpf.JumpEqual, 0x60, next, drop)
	}
	a.jump(v6)
	a.mark(drop)
	a.emit(bpf.RetConstant{Val: 0})

	a.mark(v4)
	hit4, drop4 := a.newLabel(), a.newLabel()
	a.emit(bpf.LoadAbsolute{Off: off + 9, Size: 1}) // protocol
	udp4 := a.newLabel()
	a.jumpIf(bpf.JumpEqual, 17, udp4, next)
	a.jumpIf(bpf.JumpEqual, 6, next, drop4)
	a.jump(tcp4)
	a.mark(udp4)
	a.emit(bpf.LoadAbsolute{Off: off + 6, Size: 2}) // flags and fragment offset
	a.jumpIf(bpf.JumpBitsSet, 0x3fff, hit4, next)   // more fragments, or not the first
	a.emit(bpf.LoadMemShift{Off: off})              // X = header length
	checkPorts(bpf.LoadIndirect{Off: off, Size: 2}, hit4)
	checkPorts(bpf.LoadIndirect{Off: off + 2, Size: 2}, hit4)
	a.mark(drop4)
	a.emit(bpf.RetConstant{Val: 0})
	a.mark(hit4)
	a.jump(accept)

	a.mark(v6)
	hit6, udp6, drop6 := a.newLabel(), a.newLabel(), a.newLabel()
	a.emit(bpf.LoadAbsolute{Off: off + 6, Size: 1}) // next header
	a.jumpIf(bpf.JumpEqual, 17, udp6, next)
	t6 := a.newLabel()
	a.jumpIf(bpf.JumpEqual, 6, t6, next)
	a.jumpIf(bpf.JumpEqual, 44, next, drop6)
	a.emit(bpf.LoadAbsolute{Off: off + 40, Size: 1}) // the Fragment header's next header
	a.jumpIf(bpf.JumpEqual, 17, hit6, drop6)
	a.mark(t6)
	a.jump(tcp6)
	a.mark(udp6)
	checkPorts(bpf.LoadAbsolute{Off: off + 40, Size: 2}, hit6)
	checkPorts(bpf.LoadAbsolute{Off: off + 42, Size: 2}, hit6)
	a.mark(drop6)
	a.emit(bpf.RetConstant{Val: 0})
	a.mark(hit6)
	a.jump(accept)

	// TCP: the ports are at the same places as UDP's; a fragment of a
	// TCP segment is not kept.
	ports = tcp
	a.mark(tcp4)
	hitT4, dropT4 := a.newLabel(), a.newLabel()
	a.emit(bpf.LoadAbsolute{Off: off + 6, Size: 2})
	a.jumpIf(bpf.JumpBitsSet, 0x1fff, dropT4, next) // not the first fragment
	a.emit(bpf.LoadMemShift{Off: off})
	checkPorts(bpf.LoadIndirect{Off: off, Size: 2}, hitT4)
	checkPorts(bpf.LoadIndirect{Off: off + 2, Size: 2}, hitT4)
	a.mark(dropT4)
	a.emit(bpf.RetConstant{Val: 0})
	a.mark(hitT4)
	a.jump(accept)

	a.mark(tcp6)
	hitT6 := a.newLabel()
	checkPorts(bpf.LoadAbsolute{Off: off + 40, Size: 2}, hitT6)
	checkPorts(bpf.LoadAbsolute{Off: off + 42, Size: 2}, hitT6)
	a.emit(bpf.RetConstant{Val: 0})
	a.mark(hitT6)
	a.jump(accept)
}

// dedupPorts returns the distinct ports, sorted.
func dedupPorts(ports []uint16) []uint16 {
	p := slices.Clone(ports)
	slices.Sort(p)
	return slices.Compact(p)
}

// A label names an instruction a jump goes to; it must come after the jump.
type label int

// next is the instruction that follows a jump.
const next label = -1

// assembler builds a classic BPF program with jumps to labels.
type assembler struct {
	prog   []bpf.Instruction
	labels []int // instruction index of each label, -1 until marked
	fixes  []fix
}

type fix struct {
	at              int
	onTrue, onFalse label
}

func (a *assembler) newLabel() label {
	a.labels = append(a.labels, -1)
	return label(len(a.labels) - 1)
}

func (a *assembler) mark(l label) { a.labels[l] = len(a.prog) }

func (a *assembler) emit(ins bpf.Instruction) { a.prog = append(a.prog, ins) }

func (a *assembler) jumpIf(cond bpf.JumpTest, val uint32, t, f label) {
	a.fixes = append(a.fixes, fix{at: len(a.prog), onTrue: t, onFalse: f})
	a.emit(bpf.JumpIf{Cond: cond, Val: val})
}

func (a *assembler) jump(to label) {
	a.fixes = append(a.fixes, fix{at: len(a.prog), onTrue: to, onFalse: next})
	a.emit(bpf.Jump{})
}

// skip returns the distance of a jump at instruction at to label l.
func (a *assembler) skip(at int, l label) (uint32, error) {
	if l == next {
		return 0, nil
	}
	to := a.labels[l]
	if to <= at {
		return 0, fmt.Errorf("bpf: jump from %d to unmarked or earlier label", at)
	}
	return uint32(to - at - 1), nil
}

// assemble resolves the jumps and returns the raw program.
func (a *assembler) assemble() ([]bpf.RawInstruction, error) {
	for _, f := range a.fixes {
		t, err := a.skip(f.at, f.onTrue)
		if err != nil {
			return nil, err
		}
		e, err := a.skip(f.at, f.onFalse)
		if err != nil {
			return nil, err
		}
		switch ins := a.prog[f.at].(type) {
		case bpf.Jump:
			ins.Skip = t
			a.prog[f.at] = ins
		case bpf.JumpIf:
			if t > 255 || e > 255 {
				return nil, fmt.Errorf("bpf: conditional jump at %d too long", f.at)
			}
			ins.SkipTrue, ins.SkipFalse = uint8(t), uint8(e)
			a.prog[f.at] = ins
		}
	}
	return bpf.Assemble(a.prog)
}

// tcpdumpTimeout bounds a run of tcpdump that compiles a filter.
const tcpdumpTimeout = 10 * time.Second

// errNoTcpdump is returned when a filter expression is given and tcpdump
// is not installed.
var errNoTcpdump = errors.New("a filter expression is compiled by tcpdump, which is not on the PATH (install tcpdump, or filter by port)")

// compileFilter compiles a tcpdump filter expression for the layout with
// `tcpdump -ddd`.
func compileFilter(expr string, layout filterLayout, snaplen int) ([]bpf.RawInstruction, error) {
	path, err := exec.LookPath("tcpdump")
	if err != nil {
		return nil, errNoTcpdump
	}
	ctx, cancel := context.WithTimeout(context.Background(), tcpdumpTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "-ddd", "-y", layout.dlt(), "-s", strconv.Itoa(snaplen), "--", expr)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i]
		}
		if msg == "" {
			msg = err.Error()
		}
		return nil, fmt.Errorf("filter %q: %s", expr, strings.TrimPrefix(msg, "tcpdump: "))
	}
	prog, err := parseDDD(out)
	if err != nil {
		return nil, fmt.Errorf("filter %q: tcpdump -ddd output: %v", expr, err)
	}
	return prog, nil
}

// parseDDD parses the output of `tcpdump -ddd`: the number of instructions
// on the first line, then one instruction per line as four decimal numbers,
// "code jt jf k".
func parseDDD(out []byte) ([]bpf.RawInstruction, error) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	if !sc.Scan() {
		return nil, errors.New("empty")
	}
	n, err := strconv.Atoi(strings.TrimSpace(sc.Text()))
	if err != nil || n <= 0 || n > maxFilterLen {
		return nil, fmt.Errorf("bad instruction count %q", sc.Text())
	}
	prog := make([]bpf.RawInstruction, 0, n)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 4 {
			return nil, fmt.Errorf("line %d: %q is not \"code jt jf k\"", len(prog)+2, line)
		}
		var v [4]uint64
		for i, bits := range [4]int{16, 8, 8, 32} {
			if v[i], err = strconv.ParseUint(f[i], 10, bits); err != nil {
				return nil, fmt.Errorf("line %d: %v", len(prog)+2, err)
			}
		}
		if len(prog) == n {
			return nil, fmt.Errorf("more than the %d instructions announced", n)
		}
		prog = append(prog, bpf.RawInstruction{Op: uint16(v[0]), Jt: uint8(v[1]), Jf: uint8(v[2]), K: uint32(v[3])})
	}
	if len(prog) != n {
		return nil, fmt.Errorf("%d instructions, %d announced", len(prog), n)
	}
	return prog, nil
}
