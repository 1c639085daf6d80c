package backup

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// rdbBuilder writes RDBs by the rules of redis's src/rdb.c, for feeding the checker.
type rdbBuilder struct{ bytes.Buffer }

func (b *rdbBuilder) length(n uint64) *rdbBuilder {
	switch {
	case n < 1<<6:
		b.WriteByte(byte(n))
	case n < 1<<14:
		b.Write([]byte{byte(n>>8) | 0x40, byte(n)})
	case n <= 0xffffffff:
		b.WriteByte(0x80)
		b.Write(binary.BigEndian.AppendUint32(nil, uint32(n)))
	default:
		b.WriteByte(0x81)
		b.Write(binary.BigEndian.AppendUint64(nil, n))
	}
	return b
}

func (b *rdbBuilder) str(s string) *rdbBuilder {
	b.length(uint64(len(s)))
	b.WriteString(s)
	return b
}

// intStr writes v as Redis writes a short numeric string: in the smallest integer encoding.
func (b *rdbBuilder) intStr(v int64) *rdbBuilder {
	switch {
	case v >= -1<<7 && v < 1<<7:
		b.Write([]byte{0xc0, byte(v)})
	case v >= -1<<15 && v < 1<<15:
		b.WriteByte(0xc1)
		b.Write(binary.LittleEndian.AppendUint16(nil, uint16(v)))
	default:
		b.WriteByte(0xc2)
		b.Write(binary.LittleEndian.AppendUint32(nil, uint32(v)))
	}
	return b
}

func (b *rdbBuilder) op(op byte) *rdbBuilder { b.WriteByte(op); return b }

func (b *rdbBuilder) aux(key, val string) *rdbBuilder { return b.op(opAux).str(key).str(val) }

// end writes the EOF opcode and the checksum of everything before it (0 when zero is set).
func (b *rdbBuilder) end(zero bool) []byte {
	b.op(opEOF)
	sum := crcUpdate(0, b.Bytes())
	if zero {
		sum = 0
	}
	b.Write(binary.LittleEndian.AppendUint64(nil, sum))
	return bytes.Clone(b.Bytes())
}

func header(version int) *rdbBuilder {
	b := &rdbBuilder{}
	b.WriteString("REDIS" + strings.Repeat("0", 4-len(strconv.Itoa(version))) + strconv.Itoa(version))
	return b.aux("redis-ver", "7.0.15").op(opAux).str("redis-bits").intStr(64)
}

// withKeys adds db 0 with n string keys, expires of them with a TTL.
func (b *rdbBuilder) withKeys(n, expires int) *rdbBuilder {
	b.op(opSelectDB).length(0).op(opResizeDB).length(uint64(n)).length(uint64(expires))
	for i := 0; i < n; i++ {
		if i < expires {
			b.op(252)
			b.Write(binary.LittleEndian.AppendUint64(nil, 1<<41))
		}
		b.op(0).str("key:" + strconv.Itoa(i)).str(strings.Repeat("v", i%300))
	}
	return b
}

func sampleRDB() []byte {
	return header(10).op(opAux).str("repl-offset").intStr(2419469).aux("repl-id", strings.Repeat("a1", 20)).
		withKeys(1000, 10).end(false)
}

func checkRDB(data []byte, chunk int) (RDBInfo, error) {
	c := newRDBChecker()
	for len(data) > 0 {
		k := min(chunk, len(data))
		_, _ = c.Write(data[:k])
		data = data[k:]
	}
	return c.finish()
}

func TestCRC64IsRedisJones(t *testing.T) {
	// The check value of redis's src/crc64.c.
	require.Equal(t, uint64(0xe9c6d914c4b8d9ca), crcUpdate(0, []byte("123456789")))
	require.Equal(t, crcUpdate(0, []byte("123456789")), crcUpdate(crcUpdate(0, []byte("1234")), []byte("56789")))
}

func TestCheckRDBInAnyPieces(t *testing.T) {
	data := sampleRDB()
	sum := sha256.Sum256(data)
	for _, chunk := range []int{1, 2, 3, 7, 8, 9, 10, 64, 4096, len(data)} {
		info, err := checkRDB(data, chunk)
		require.NoError(t, err, "chunk %d", chunk)
		require.Equal(t, RDBInfo{Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:]), Version: 10, RedisVersion: "7.0.15",
			Keys: 1000, Expires: 10, AuxReplID: strings.Repeat("a1", 20), AuxReplOffset: 2419469, Checksummed: true}, info, "chunk %d", chunk)
	}
}

func TestCheckRDBHeaderVariants(t *testing.T) {
	t.Run("empty dataset", func(t *testing.T) {
		info, err := checkRDB(header(10).end(false), 5)
		require.NoError(t, err)
		require.Equal(t, int64(0), info.Keys)
	})
	t.Run("zero checksum (rdbchecksum no)", func(t *testing.T) {
		info, err := checkRDB(header(10).withKeys(3, 0).end(true), 5)
		require.NoError(t, err)
		require.False(t, info.Checksummed)
		require.Equal(t, int64(3), info.Keys)
	})
	t.Run("long, compressed and module fields are skipped", func(t *testing.T) {
		b := header(11)
		b.op(opAux).str("lzf-field").Write([]byte{0xc3, 3, 10, 'a', 'b', 'c'}) // LZF: clen 3, len 10
		b.op(opAux).str("repl-offset").str("123456789012")
		b.op(opFunction2).str("#!lua name=lib\n" + strings.Repeat("-- padding\n", 800))
		b.op(opModuleAux).length(12345).length(moduleOpUInt).length(2)
		b.length(moduleOpSInt).length(7).length(moduleOpFloat).Write([]byte{1, 2, 3, 4})
		b.length(moduleOpDouble).Write(make([]byte, 8))
		b.length(moduleOpString).str(strings.Repeat("m", 5000)).length(moduleOpEOF)
		data := b.withKeys(70000, 0).end(false)
		for _, chunk := range []int{1, 13, 1 << 16} {
			info, err := checkRDB(data, chunk)
			require.NoError(t, err)
			require.Equal(t, int64(70000), info.Keys)
			require.Equal(t, int64(123456789012), info.AuxReplOffset)
			require.Equal(t, 11, info.Version)
		}
	})
}

func TestCheckRDBRefusesBadRDBs(t *testing.T) {
	good := sampleRDB()
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x01
	cases := map[string]struct {
		data []byte
		want string
	}{
		"bad magic":             {append([]byte("RUDIS0010"), good[9:]...), "no RDB header"},
		"not an rdb":            {[]byte("-ERR something\r\n"), "no RDB header"},
		"ancient version":       {append([]byte("REDIS0004"), good[9:]...), "older than any"},
		"empty":                 {nil, "inside its header"},
		"cut in the header":     {good[:30], "inside its header"},
		"cut in the keys":       {good[:len(good)/2], "truncated"},
		"cut before checksum":   {good[:len(good)-8], "truncated"},
		"last byte missing":     {good[:len(good)-1], "checksum"},
		"flipped bit":           {flipped, "checksum"},
		"bytes after the end":   {append(header(10).end(false), 0xff), "follow its EOF"},
		"keys in db 1":          {header(10).op(opSelectDB).length(1).op(opResizeDB).length(1).length(0).end(false), "db 1"},
		"key before RESIZEDB":   {header(10).op(opSelectDB).length(0).op(0).str("k").str("v").end(false), "key count is unknown"},
		"pre-GA function":       {header(10).op(opFunctionPreGA).str("x").end(false), "release candidates"},
		"bad module opcode":     {header(10).op(opModuleAux).length(1).length(2).length(2).length(9).end(false), "module opcode"},
		"unknown string coding": {header(10).op(opAux).str("k").op(0xc9).end(false), "string encoding"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			for _, chunk := range []int{1, 7, 1 << 20} {
				_, err := checkRDB(tc.data, chunk)
				require.ErrorIs(t, err, ErrCorruptRDB)
				require.Contains(t, err.Error(), tc.want)
			}
		})
	}
}

// BenchmarkRDBChecker is the checking's cost a byte: SHA-256 and CRC64 as the bytes go by.
func BenchmarkRDBChecker(b *testing.B) {
	data := header(10).withKeys(200_000, 0).end(false)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		c := newRDBChecker()
		for off := 0; off < len(data); off += 256 << 10 {
			_, _ = c.Write(data[off:min(off+256<<10, len(data))])
		}
		if _, err := c.finish(); err != nil {
			b.Fatal(err)
		}
	}
}
