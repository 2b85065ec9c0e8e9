package export

import (
	"strconv"

	"github.com/coapaudit/coapaudit/capture"
)

// The JSON forms of frame references (capture.FrameRefs).

// appendRefFrame appends key (a comma, the quoted name and a colon) and
// the frame number of ref, then, with several files, fileKey and the name
// of its file.
func appendRefFrame(r *capture.FrameRefs, dst []byte, key, fileKey string, ref int) []byte {
	f, n := r.Split(ref)
	dst = strconv.AppendInt(append(dst, key...), int64(n), 10)
	if r != nil {
		dst = appendXString(append(dst, fileKey...), r.Files[f])
	}
	return dst
}

// appendRefFrames appends key and the frame numbers of refs as a JSON array
// (null when refs is nil), then, with several files, fileKey and the
// array of their files, item by item.
func appendRefFrames(r *capture.FrameRefs, dst []byte, key, filesKey string, refs []int) []byte {
	dst = append(dst, key...)
	if r == nil || refs == nil {
		return appendInts(dst, refs)
	}
	dst = append(dst, '[')
	for i, ref := range refs {
		if i > 0 {
			dst = append(dst, ',')
		}
		_, n := r.Split(ref)
		dst = strconv.AppendInt(dst, int64(n), 10)
	}
	dst = append(append(dst, ']'), filesKey...)
	dst = append(dst, '[')
	for i, ref := range refs {
		if i > 0 {
			dst = append(dst, ',')
		}
		f, _ := r.Split(ref)
		dst = appendXString(dst, r.Files[f])
	}
	return append(dst, ']')
}

func appendRefsJoined(r *capture.FrameRefs, dst []byte, refs []int, sep byte) []byte {
	for i, n := range refs {
		if i > 0 {
			dst = append(dst, sep)
		}
		dst = r.AppendName(dst, n)
	}
	return dst
}
