package export

import (
	"encoding/hex"
	"strconv"
	"time"
	"unicode/utf8"
)

// The append helpers below write JSON without reflection or allocation for
// the per-frame records, which are the hot path of `coapaudit packets`.
// Their output is checked against encoding/json in the tests.

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaping as encoding/json does
// (without its HTML escaping) and replacing invalid UTF-8 with U+FFFD.
func appendString[S string | []byte](dst []byte, s S) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		var r rune
		var size int
		switch v := any(s).(type) {
		case string:
			r, size = utf8.DecodeRuneInString(v[i:])
		case []byte:
			r, size = utf8.DecodeRune(v[i:])
		}
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendHex appends b as a JSON string of lowercase hex.
func appendHex(dst, b []byte) []byte {
	dst = append(dst, '"')
	dst = hex.AppendEncode(dst, b)
	return append(dst, '"')
}

// appendKey appends ,"key": (or "key": after an opening brace).
func appendKey(dst []byte, key string) []byte {
	if n := len(dst); n > 0 && dst[n-1] != '{' && dst[n-1] != '[' {
		dst = append(dst, ',')
	}
	dst = append(dst, '"')
	dst = append(dst, key...)
	return append(dst, '"', ':')
}

func appendInt(dst []byte, key string, v int64) []byte {
	return strconv.AppendInt(appendKey(dst, key), v, 10)
}

func appendBool(dst []byte, key string, v bool) []byte {
	return strconv.AppendBool(appendKey(dst, key), v)
}

func appendStr[S string | []byte](dst []byte, key string, v S) []byte {
	return appendString(appendKey(dst, key), v)
}

// appendTime appends t as an RFC 3339 string with nanoseconds, in UTC.
func appendTime(dst []byte, t time.Time) []byte {
	return appendTimeC(dst, nil, t)
}

func appendTimeC(dst []byte, c *TimeCache, t time.Time) []byte {
	dst = append(dst, '"')
	dst = c.AppendTime(dst, t)
	return append(dst, '"')
}

// TimeCache formats capture timestamps fast: it keeps the formatted date
// and time of the last second seen, which consecutive frames nearly always
// share. A TimeCache belongs to one goroutine.
type TimeCache struct {
	sec    int64
	valid  bool
	prefix []byte // "2006-01-02T15:04:05."
}

// AppendTime appends t in UTC as 2006-01-02T15:04:05.000000000Z.
func (c *TimeCache) AppendTime(dst []byte, t time.Time) []byte {
	if c == nil {
		return t.UTC().AppendFormat(dst, timeLayout)
	}
	t = t.UTC()
	sec := t.Unix()
	if !c.valid || sec != c.sec {
		c.prefix = t.Truncate(time.Second).AppendFormat(c.prefix[:0], "2006-01-02T15:04:05.")
		c.sec, c.valid = sec, true
	}
	dst = append(dst, c.prefix...)
	ns := t.Nanosecond()
	var digits [9]byte
	for i := 8; i >= 0; i-- {
		digits[i] = byte('0' + ns%10)
		ns /= 10
	}
	dst = append(dst, digits[:]...)
	return append(dst, 'Z')
}

// appendFloat appends a duration or ratio the way encoding/json writes a float64.
func appendFloat(dst []byte, f float64) []byte {
	abs := f
	if abs < 0 {
		abs = -abs
	}
	fmtc := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		fmtc = 'e'
	}
	return strconv.AppendFloat(dst, f, fmtc, -1, 64)
}
