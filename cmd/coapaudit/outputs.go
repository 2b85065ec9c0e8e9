package main

import (
	"github.com/coapaudit/coapaudit/analysis"
	"github.com/coapaudit/coapaudit/capture"
	"github.com/coapaudit/coapaudit/export"
	"github.com/coapaudit/coapaudit/filter"
	"github.com/coapaudit/coapaudit/internal/atomicfile"
)

// outputFile is a file a run writes beside stdout (--report, -w): written
// under a temporary name, put in place by Commit when the run succeeds,
// discarded by Abort when it fails.
type outputFile interface {
	Commit() error
	Abort()
}

// outputs are where a run's records go: stdout, the --out directory and
// other files. Nothing replaces an existing file before the run has
// written everything.
type outputs struct {
	stdout export.Writer
	dir    *export.DirWriter
	files  []outputFile
	// filter, when set, holds back the records it does not match.
	filter *filter.Filter
}

// writer returns the writer every record goes to.
func (o *outputs) writer() export.Writer {
	if o.dir != nil {
		return filtered(export.Multi{o.stdout, o.dir}, o.filter)
	}
	return filtered(o.stdout, o.filter)
}

// packets returns the writer of packet records in analyze and live: the
// --out directory (filtered), or nil without --out.
func (o *outputs) packets() export.Writer {
	if o.dir == nil {
		return nil
	}
	return filtered(o.dir, o.filter)
}

// finish writes the summary and closes stdout's writer; then, when the run
// wrote everything (runErr nil), puts the output files in place, or else
// discards them. It returns the first error.
func (o *outputs) finish(runErr error, sum *analysis.Summary) error {
	if err := o.writer().Write(&export.Summary{Summary: sum}); err != nil && runErr == nil {
		runErr = err
	}
	if err := o.stdout.Close(); err != nil && runErr == nil {
		runErr = err
	}
	if runErr != nil {
		o.abort()
		return runErr
	}
	if o.dir != nil {
		if err := o.dir.Close(); err != nil {
			o.abort()
			return usageErr("%v", err)
		}
	}
	for i, f := range o.files {
		if err := f.Commit(); err != nil {
			for _, g := range o.files[i+1:] {
				g.Abort()
			}
			return err
		}
	}
	return nil
}

// abort discards every output file not yet in place.
func (o *outputs) abort() {
	if o.dir != nil {
		o.dir.Abort()
	}
	for _, f := range o.files {
		f.Abort()
	}
}

// pcapOutput is live's -w file.
type pcapOutput struct {
	f  *atomicfile.File
	pw *capture.PcapngWriter
}

func createPcapOutput(name string, link capture.LinkType, snaplen int) (*pcapOutput, error) {
	f, err := atomicfile.Create(name)
	if err != nil {
		return nil, usageErr("-w: %v", err)
	}
	pw, err := capture.NewPcapngWriter(f, link, snaplen)
	if err != nil {
		f.Abort()
		return nil, usageErr("-w: %v", err)
	}
	return &pcapOutput{f: f, pw: pw}, nil
}

func (p *pcapOutput) Commit() error {
	if err := p.pw.Close(); err != nil {
		p.f.Abort()
		return usageErr("-w %s: %v", p.f.Name(), err)
	}
	if err := p.f.Commit(); err != nil {
		return usageErr("-w %s: %v", p.f.Name(), err)
	}
	return nil
}

func (p *pcapOutput) Abort() { p.f.Abort() }

// reportOutput is analyze's --report file, rendered when it is committed.
type reportOutput struct {
	rep *htmlReport
	eng *analysis.Engine
	sum *analysis.Summary
}

func (r *reportOutput) Commit() error { return r.rep.finish(r.eng, r.sum) }
func (r *reportOutput) Abort()        { r.rep.close() }

// packetRecords makes the packet records of the engine's packets, reusing
// one record and one timestamp cache: a record is valid until the next.
type packetRecords struct {
	rec   export.Packet
	times export.TimeCache
}

func newPacketRecords(refs *capture.FrameRefs) *packetRecords {
	p := &packetRecords{}
	p.rec.Refs, p.rec.Times = refs, &p.times
	return p
}

// of returns the record of pk.
func (p *packetRecords) of(pk *analysis.Packet) *export.Packet {
	p.rec.Packet = pk
	return &p.rec
}
