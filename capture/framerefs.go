package capture

import (
	"strconv"
	"strings"
)

// FrameRefs names the frames of several capture files analysed together.
// Frame numbers restart at 1 in every file, so the analysis stages, which
// know frames by one int, are given a reference that encodes both:
// ref = frame*len(Files) + file (file counting from 0). With one file a
// reference is the frame number itself.
//
// JSON records keep the frame number in the file, as Wireshark numbers
// it, and name the file beside it (Exchange.Refs); text, CSV cells and
// finding messages show a reference as "name#frame" ("b.pcap#12"). A nil
// *FrameRefs (one file) shows plain frame numbers, so single-file output
// does not change.
//
// The stages keep frame numbers in 32 bits: with n files, frames beyond
// 2^31/n in one file cannot be referenced (Ref reports it).
type FrameRefs struct {
	// Files are the names shown, in file order; they are unique.
	Files []string
}

// NewFrameRefs returns the references of files, or nil for fewer than two
// files. Names that repeat (two inputs with one base name) get their
// position added ("x.pcap(2)") so that every reference is unambiguous.
func NewFrameRefs(files []string) *FrameRefs {
	if len(files) < 2 {
		return nil
	}
	r := &FrameRefs{Files: make([]string, len(files))}
	seen := map[string]bool{}
	for i, f := range files {
		for seen[f] {
			f += "(" + strconv.Itoa(i+1) + ")"
		}
		seen[f] = true
		r.Files[i] = f
	}
	return r
}

// maxRef is the largest reference the stages hold (int32 in the rules'
// frame index).
const maxRef = 1<<31 - 1

// Ref returns the reference of frame in file (its index), and false when
// it does not fit in 31 bits.
func (r *FrameRefs) Ref(file, frame int) (int, bool) {
	if r == nil {
		return frame, true
	}
	n := len(r.Files)
	if frame > (maxRef-file)/n {
		return 0, false
	}
	return frame*n + file, true
}

// Split returns the file index and the frame number of ref.
func (r *FrameRefs) Split(ref int) (file, frame int) {
	if r == nil {
		return 0, ref
	}
	n := len(r.Files)
	return ref % n, ref / n
}

// File returns the name of the file ref is in ("" for one file).
func (r *FrameRefs) File(ref int) string {
	if r == nil {
		return ""
	}
	f, _ := r.Split(ref)
	return r.Files[f]
}

// FileFrame returns the name of the file ref is in and the frame number
// in it.
func (r *FrameRefs) FileFrame(ref int) (string, int) {
	f, n := r.Split(ref)
	return r.FileName(f), n
}

// FileName returns the name of file i, or "" for one file.
func (r *FrameRefs) FileName(i int) string {
	if r == nil {
		return ""
	}
	return r.Files[i]
}

// Name returns ref as shown: "b.pcap#12", or "12" for one file.
func (r *FrameRefs) Name(ref int) string {
	return string(r.AppendName(nil, ref))
}

// AppendName appends Name(ref) to dst.
func (r *FrameRefs) AppendName(dst []byte, ref int) []byte {
	if r == nil {
		return strconv.AppendInt(dst, int64(ref), 10)
	}
	f, n := r.Split(ref)
	dst = append(dst, r.Files[f]...)
	dst = append(dst, '#')
	return strconv.AppendInt(dst, int64(n), 10)
}

// Join returns the names of refs joined by sep.
func (r *FrameRefs) Join(refs []int, sep string) string {
	var b []byte
	for i, n := range refs {
		if i > 0 {
			b = append(b, sep...)
		}
		b = r.AppendName(b, n)
	}
	return string(b)
}

// Message rewrites the frame numbers of a finding's message, which the
// rules write as references ("frame 25", "frames 24, 26 and 31"), into
// names ("frame b.pcap#12"): every number in a list that follows the word
// "frame" or "frames". With one file it returns s.
func (r *FrameRefs) Message(s string) string {
	if r == nil || !strings.Contains(s, "frame") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "frame")
		if i < 0 {
			break
		}
		j := i + len("frame")
		if strings.HasPrefix(s[j:], "s") {
			j++
		}
		word := i == 0 || !isWordByte(s[i-1])
		b.WriteString(s[:j])
		s = s[j:]
		if word {
			s = r.rewriteList(&b, s)
		}
	}
	b.WriteString(s)
	return b.String()
}

// rewriteList writes the list of numbers at the start of s (" 3", " 3 and
// 5", " 3, 4 and 5") as names to b and returns the rest of s.
func (r *FrameRefs) rewriteList(b *strings.Builder, s string) string {
	sep := " "
	for {
		if !strings.HasPrefix(s, sep) {
			return s
		}
		k := len(sep)
		e := k
		for e < len(s) && s[e] >= '0' && s[e] <= '9' {
			e++
		}
		if e == k || e < len(s) && isWordByte(s[e]) || isDecimal(s[e:]) || sep != " " && !endsItem(s[e:]) {
			return s
		}
		n, err := strconv.Atoi(s[k:e])
		if err != nil {
			return s
		}
		b.WriteString(sep)
		b.WriteString(r.Name(n))
		s = s[e:]
		switch {
		case strings.HasPrefix(s, ", "):
			sep = ", "
		case strings.HasPrefix(s, " and "):
			sep = " and "
		default:
			return s
		}
	}
}

// isDecimal reports whether the text after a number continues it as a
// decimal fraction ("2.005 s").
func isDecimal(rest string) bool {
	return len(rest) > 1 && rest[0] == '.' && rest[1] >= '0' && rest[1] <= '9'
}

// endsItem reports whether the text after a number that continues a list
// ends a list item: the end, punctuation, or the next separator. A number
// followed by a word (", 500 ms after") is not a frame.
func endsItem(rest string) bool {
	if rest == "" || strings.HasPrefix(rest, ", ") || strings.HasPrefix(rest, " and ") {
		return true
	}
	return strings.IndexByte(").:;]", rest[0]) >= 0
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '#'
}
