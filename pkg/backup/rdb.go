package backup

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
)

// RDBInfo describes one RDB as it went by.
type RDBInfo struct {
	// Size is the RDB's length in bytes, without the replication framing.
	Size int64
	// SHA256 is the hex SHA-256 of those bytes.
	SHA256 string
	// Version is the RDB format version (10 for Redis 7.0).
	Version int
	// RedisVersion is the redis-ver aux field: the server that wrote the RDB.
	RedisVersion string
	// Keys and Expires are the counts of db 0's RESIZEDB opcode: the keys at the fork, exactly.
	Keys, Expires int64
	// AuxReplID and AuxReplOffset are the repl-id and repl-offset aux fields, -1 when absent.
	AuxReplID     string
	AuxReplOffset int64
	// Checksummed is false when the writer had rdbchecksum off (a zero checksum).
	Checksummed bool
}

// RDB opcodes and encodings of redis's src/rdb.h.
const (
	opFunction2     = 245
	opFunctionPreGA = 246
	opModuleAux     = 247
	opAux           = 250
	opResizeDB      = 251
	opSelectDB      = 254
	opEOF           = 255

	lenEncoded = 3 // the top two bits of a length byte that introduce a special string encoding
	encInt8    = 0
	encInt16   = 1
	encInt32   = 2
	encLZF     = 3

	moduleOpEOF    = 0
	moduleOpSInt   = 1
	moduleOpUInt   = 2
	moduleOpFloat  = 3
	moduleOpDouble = 4
	moduleOpString = 5

	// minChecksumVersion is the first RDB version that ends in a CRC64 (Redis 2.6).
	minChecksumVersion = 5
	// maxInlineString bounds the strings of the header region kept in memory; longer ones (a
	// function library's code, a module's blob) are skipped as they go by.
	maxInlineString = 4096
)

// jonesPoly is CRC-64/Jones, reflected: the checksum of RDBs (no initial or final inversion).
const jonesPoly = 0x95ac9329ac4bc9b5

// jones are slicing-by-8 tables of jonesPoly: jones[k][b] is b's CRC followed by k zero bytes.
// (hash/crc64 rebuilds such tables at every call for a polynomial of its own.)
var jones = func() (t [8][256]uint64) {
	for i := range 256 {
		crc := uint64(i)
		for range 8 {
			if crc&1 == 1 {
				crc = crc>>1 ^ jonesPoly
			} else {
				crc >>= 1
			}
		}
		t[0][i] = crc
	}
	for i := range 256 {
		for k := 1; k < 8; k++ {
			t[k][i] = t[0][t[k-1][i]&0xff] ^ t[k-1][i]>>8
		}
	}
	return t
}()

func crcUpdate(crc uint64, p []byte) uint64 {
	for len(p) >= 8 {
		crc ^= binary.LittleEndian.Uint64(p)
		crc = jones[7][crc&0xff] ^ jones[6][crc>>8&0xff] ^ jones[5][crc>>16&0xff] ^ jones[4][crc>>24&0xff] ^
			jones[3][crc>>32&0xff] ^ jones[2][crc>>40&0xff] ^ jones[1][crc>>48&0xff] ^ jones[0][crc>>56]
		p = p[8:]
	}
	for _, b := range p {
		crc = jones[0][byte(crc)^b] ^ crc>>8
	}
	return crc
}

// rdbChecker checks an RDB written to it piece by piece, holding no more than a header element
// and the last 8 bytes: the checksum is only known to be the checksum at the end.
type rdbChecker struct {
	sha   hash.Hash
	size  int64
	crc   uint64
	tail  [8]byte // the last bytes seen, not yet in crc
	held  int
	last  byte // the last byte added to crc
	hdr   headerParser
	extra [16]byte
}

func newRDBChecker() *rdbChecker {
	return &rdbChecker{sha: sha256.New(), hdr: headerParser{auxOffset: -1}}
}

func (c *rdbChecker) Write(p []byte) (int, error) {
	c.sha.Write(p)
	c.size += int64(len(p))
	if !c.hdr.finished() {
		c.hdr.feed(p)
	}
	if len(p) >= len(c.tail) {
		c.addCRC(c.tail[:c.held])
		c.addCRC(p[:len(p)-len(c.tail)])
		c.held = copy(c.tail[:], p[len(p)-len(c.tail):])
		return len(p), nil
	}
	joined := append(c.extra[:0], c.tail[:c.held]...)
	joined = append(joined, p...)
	if over := len(joined) - len(c.tail); over > 0 {
		c.addCRC(joined[:over])
		joined = joined[over:]
	}
	c.held = copy(c.tail[:], joined)
	return len(p), nil
}

func (c *rdbChecker) addCRC(p []byte) {
	if len(p) > 0 {
		c.crc = crcUpdate(c.crc, p)
		c.last = p[len(p)-1]
	}
}

// finish checks that what was written is a whole RDB and describes it.
func (c *rdbChecker) finish() (RDBInfo, error) {
	h := &c.hdr
	info := RDBInfo{Size: c.size, SHA256: hex.EncodeToString(c.sha.Sum(nil)), Version: h.version,
		RedisVersion: h.redisVersion, Keys: h.keys, Expires: h.expires, AuxReplID: h.auxReplID, AuxReplOffset: h.auxOffset}
	if h.err != nil {
		return info, fmt.Errorf("%w: %v", ErrCorruptRDB, h.err)
	}
	if !h.done {
		return info, fmt.Errorf("%w: it ends after %d bytes, inside its header", ErrCorruptRDB, c.size)
	}
	if h.sawEOF && c.size > h.eofAt+1+int64(len(c.tail)) {
		return info, fmt.Errorf("%w: %d bytes follow its EOF opcode", ErrCorruptRDB, c.size-h.eofAt-1)
	}
	if c.held < len(c.tail) || c.last != opEOF {
		return info, fmt.Errorf("%w: it does not end with the EOF opcode and checksum (%d bytes): truncated", ErrCorruptRDB, c.size)
	}
	stored := binary.LittleEndian.Uint64(c.tail[:])
	if stored != 0 && stored != c.crc {
		return info, fmt.Errorf("%w: checksum %016x, computed %016x", ErrCorruptRDB, stored, c.crc)
	}
	info.Checksummed = stored != 0
	return info, nil
}
