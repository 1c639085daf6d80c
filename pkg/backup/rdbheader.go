package backup

import (
	"encoding/binary"
	"fmt"
	"strconv"
)

// Header parser states.
const (
	stMagic = iota
	stOpcode
	stAuxKey
	stAuxValue
	stFunction
	stModuleHead
	stModuleOp
	stModuleValue
	stSelectDB
	stResizeDB
)

// headerParser reads an RDB's header region, up to db 0's RESIZEDB (or the EOF of an empty
// dataset), from bytes that arrive in pieces of any size. An element is gathered in buf until it
// is whole; long strings are skipped instead.
type headerParser struct {
	state    int
	buf      []byte
	skip     int64
	pos      int64 // offset of buf[0] in the RDB
	auxKey   string
	moduleOp uint64
	db       int64

	version      int
	redisVersion string
	auxReplID    string
	auxOffset    int64
	keys         int64
	expires      int64
	done, sawEOF bool
	eofAt        int64
	err          error
}

func (h *headerParser) finished() bool { return h.done || h.err != nil }

func (h *headerParser) feed(p []byte) {
	for !h.finished() {
		if h.skip > 0 {
			if len(p) == 0 {
				return
			}
			k := min(int64(len(p)), h.skip)
			h.skip -= k
			h.pos += k
			p = p[k:]
			continue
		}
		need := h.step()
		if need == 0 {
			continue
		}
		if len(p) == 0 {
			return
		}
		k := min(need-len(h.buf), len(p))
		h.buf = append(h.buf, p[:k]...)
		p = p[k:]
	}
}

// consume drops an element of n bytes from buf.
func (h *headerParser) consume(n int) {
	h.pos += int64(n)
	h.buf = h.buf[:copy(h.buf, h.buf[n:])]
}

func (h *headerParser) fail(format string, args ...any) int {
	h.err = fmt.Errorf("at byte %d: "+format, append([]any{h.pos}, args...)...)
	return 0
}

// step parses one element from buf and returns 0, or returns how long buf must be to hold it.
func (h *headerParser) step() int {
	b := h.buf
	switch h.state {
	case stMagic:
		if len(b) < 9 {
			return 9
		}
		v, err := strconv.Atoi(string(b[5:9]))
		if string(b[:5]) != "REDIS" || err != nil || v < 0 {
			return h.fail("no RDB header (REDIS00NN): %q", b[:9])
		}
		if v < minChecksumVersion {
			return h.fail("RDB version %d is older than any this reads", v)
		}
		h.version = v
		h.consume(9)
		h.state = stOpcode
	case stOpcode:
		if len(b) < 1 {
			return 1
		}
		op := b[0]
		switch op {
		case opAux:
			h.state = stAuxKey
		case opFunction2:
			h.state = stFunction
		case opModuleAux:
			h.state = stModuleHead
		case opSelectDB:
			h.state = stSelectDB
		case opResizeDB:
			h.state = stResizeDB
		case opEOF:
			h.done, h.sawEOF, h.eofAt = true, true, h.pos
		case opFunctionPreGA:
			return h.fail("function opcode of Redis 7.0 release candidates is not supported")
		default:
			return h.fail("opcode %d before db 0's RESIZEDB: the key count is unknown", op)
		}
		h.consume(1)
	case stAuxKey, stAuxValue, stFunction:
		val, n, need, ok := h.parseString(b)
		if !ok {
			return need
		}
		h.consume(n)
		switch h.state {
		case stAuxKey:
			h.auxKey = string(val)
			h.state = stAuxValue
		case stAuxValue:
			h.setAux(h.auxKey, string(val))
			h.state = stOpcode
		default:
			h.state = stOpcode
		}
	case stModuleHead: // module id, then the UINT opcode and the 'when' of the aux data
		var vals [3]uint64
		n := 0
		for i := range vals {
			v, enc, k, ok := parseLen(b[n:])
			if !ok {
				return len(b) + 1
			}
			if enc {
				return h.fail("bad length in module aux data")
			}
			vals[i], n = v, n+k
		}
		if vals[1] != moduleOpUInt {
			return h.fail("bad module aux data (when-opcode %d)", vals[1])
		}
		h.consume(n)
		h.state = stModuleOp
	case stModuleOp:
		v, enc, n, ok := parseLen(b)
		if !ok {
			return len(b) + 1
		}
		if enc || v > moduleOpString {
			return h.fail("bad module opcode")
		}
		h.consume(n)
		h.moduleOp, h.state = v, stModuleValue
		if v == moduleOpEOF {
			h.state = stOpcode
		}
	case stModuleValue:
		switch h.moduleOp {
		case moduleOpSInt, moduleOpUInt:
			_, _, n, ok := parseLen(b)
			if !ok {
				return len(b) + 1
			}
			h.consume(n)
		case moduleOpFloat:
			h.skip = 4
		case moduleOpDouble:
			h.skip = 8
		default:
			_, n, need, ok := h.parseString(b)
			if !ok {
				return need
			}
			h.consume(n)
		}
		h.state = stModuleOp
	case stSelectDB:
		v, enc, n, ok := parseLen(b)
		if !ok {
			return len(b) + 1
		}
		if enc {
			return h.fail("bad SELECTDB length")
		}
		if v != 0 {
			return h.fail("keys in db %d: a cluster node keeps its keys in db 0", v)
		}
		h.db = int64(v)
		h.consume(n)
		h.state = stOpcode
	case stResizeDB:
		keys, enc1, n1, ok := parseLen(b)
		if !ok {
			return len(b) + 1
		}
		expires, enc2, n2, ok := parseLen(b[n1:])
		if !ok {
			return len(b) + 1
		}
		if enc1 || enc2 {
			return h.fail("bad RESIZEDB lengths")
		}
		h.keys, h.expires = int64(keys), int64(expires)
		h.consume(n1 + n2)
		h.done = true
	}
	return 0
}

// parseString reads a string at the front of b. ok is false when b is too short, need then
// being the length b must reach. A long or compressed string is not returned: its body is set
// to be skipped, and n covers only its lengths.
func (h *headerParser) parseString(b []byte) (val []byte, n, need int, ok bool) {
	v, enc, k, ok := parseLen(b)
	if !ok {
		return nil, 0, len(b) + 1, false
	}
	if !enc {
		if v > maxInlineString {
			h.skip = int64(v)
			return nil, k, 0, true
		}
		if len(b) < k+int(v) {
			return nil, 0, k + int(v), false
		}
		return b[k : k+int(v)], k + int(v), 0, true
	}
	switch v {
	case encInt8, encInt16, encInt32:
		size := 1 << v
		if len(b) < k+size {
			return nil, 0, k + size, false
		}
		var x int64
		switch v {
		case encInt8:
			x = int64(int8(b[k]))
		case encInt16:
			x = int64(int16(binary.LittleEndian.Uint16(b[k:])))
		default:
			x = int64(int32(binary.LittleEndian.Uint32(b[k:])))
		}
		return strconv.AppendInt(nil, x, 10), k + size, 0, true
	case encLZF:
		clen, e1, k1, ok := parseLen(b[k:])
		if !ok {
			return nil, 0, len(b) + 1, false
		}
		_, e2, k2, ok := parseLen(b[k+k1:])
		if !ok {
			return nil, 0, len(b) + 1, false
		}
		if e1 || e2 {
			h.fail("bad compressed string lengths")
			return nil, 0, 0, false
		}
		h.skip = int64(clen)
		return nil, k + k1 + k2, 0, true
	}
	h.fail("unknown string encoding %d", v)
	return nil, 0, 0, false
}

func (h *headerParser) setAux(key, val string) {
	switch key {
	case "redis-ver":
		h.redisVersion = val
	case "repl-id":
		h.auxReplID = val
	case "repl-offset":
		if off, err := strconv.ParseInt(val, 10, 64); err == nil {
			h.auxOffset = off
		}
	}
}

// parseLen reads an RDB length at the front of b: its value, whether it introduces a special
// string encoding (value then being the encoding), and its size; ok is false when b is short.
func parseLen(b []byte) (v uint64, enc bool, n int, ok bool) {
	if len(b) == 0 {
		return 0, false, 0, false
	}
	switch b[0] >> 6 {
	case 0:
		return uint64(b[0] & 0x3f), false, 1, true
	case 1:
		if len(b) < 2 {
			return 0, false, 0, false
		}
		return uint64(b[0]&0x3f)<<8 | uint64(b[1]), false, 2, true
	case lenEncoded:
		return uint64(b[0] & 0x3f), true, 1, true
	}
	switch b[0] {
	case 0x80:
		if len(b) < 5 {
			return 0, false, 0, false
		}
		return uint64(binary.BigEndian.Uint32(b[1:])), false, 5, true
	case 0x81:
		if len(b) < 9 {
			return 0, false, 0, false
		}
		return binary.BigEndian.Uint64(b[1:]), false, 9, true
	}
	// An invalid length byte: report it as an encoding no string has, which callers refuse.
	return 0xff, true, 1, true
}
