package backup

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeNode answers one connection on loopback: replies maps a command's name and first
// argument ("REPLCONF RDB-ONLY"), or its name alone, to its reply line; after PSYNC's, it writes sync, then closes unless hold is set.
type fakeNode struct {
	replies map[string]string
	sync    func(w io.Writer)
	hold    time.Duration
}

func (f fakeNode) start(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
		r := bufio.NewReader(conn)
		for i := 0; i < 10; i++ {
			args, err := readCommand(r)
			if err != nil {
				return
			}
			reply, ok := f.replies[strings.ToUpper(strings.Join(args[:min(2, len(args))], " "))]
			if !ok {
				reply, ok = f.replies[strings.ToUpper(args[0])]
			}
			if !ok {
				reply = "+OK"
			}
			if _, err := io.WriteString(conn, reply+"\r\n"); err != nil || strings.HasPrefix(reply, "-") {
				return
			}
			if strings.EqualFold(args[0], "PSYNC") {
				if f.sync != nil {
					f.sync(conn)
				}
				time.Sleep(f.hold)
				return
			}
		}
	}()
	return l.Addr().String()
}

// readCommand reads a RESP array of bulk strings.
func readCommand(r *bufio.Reader) ([]string, error) {
	line, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "*") {
		return nil, errors.New("not a command")
	}
	n, _ := strconv.Atoi(strings.TrimSpace(line[1:]))
	args := make([]string, 0, n)
	for i := 0; i < n; i++ {
		head, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		size, _ := strconv.Atoi(strings.TrimSpace(head[1:]))
		buf := make([]byte, size+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		args = append(args, string(buf[:size]))
	}
	return args, nil
}

const fullResync = "+FULLRESYNC 0123456789abcdef0123456789abcdef01234567 2419469"

var testMark = strings.Repeat("5e", 20)

// writeSlowly writes data in pieces of k bytes.
func writeSlowly(w io.Writer, data []byte, k int) {
	for len(data) > 0 {
		n := min(k, len(data))
		if _, err := w.Write(data[:n]); err != nil {
			return
		}
		data = data[n:]
	}
}

func markSync(rdb []byte, piece int) func(io.Writer) {
	return func(w io.Writer) {
		_, _ = io.WriteString(w, "\n\n$EOF:"+testMark+"\r\n")
		writeSlowly(w, append(append([]byte{}, rdb...), testMark...), piece)
	}
}

func bulkSync(rdb []byte, declared int) func(io.Writer) {
	return func(w io.Writer) {
		_, _ = io.WriteString(w, "\n$"+strconv.Itoa(declared)+"\r\n")
		writeSlowly(w, rdb, 1000)
	}
}

func streamAll(t *testing.T, ctx context.Context, src Source, readSize int) (ShardInfo, []byte, error) {
	t.Helper()
	stream, err := OpenShard(ctx, src)
	if err != nil {
		return ShardInfo{}, nil, err
	}
	defer stream.Close()
	var got []byte
	buf := make([]byte, readSize)
	for i := 0; i < 10_000_000; i++ {
		n, err := stream.Read(buf)
		got = append(got, buf[:n]...)
		if errors.Is(err, io.EOF) {
			info, err := stream.Info()
			return info, got, err
		}
		if err != nil {
			return ShardInfo{}, got, err
		}
	}
	t.Fatal("no end")
	return ShardInfo{}, nil, nil
}

func TestStreamFramings(t *testing.T) {
	rdb := sampleRDB()
	sum := sha256.Sum256(rdb)
	ctx := context.Background()
	for name, sync := range map[string]func(io.Writer){
		"eof-mark":              markSync(rdb, 777),
		"eof-mark, tiny writes": markSync(rdb, 7),
		"bulk":                  bulkSync(rdb, len(rdb)),
	} {
		for _, readSize := range []int{1, 40, 81, 4096, 1 << 20} {
			addr := fakeNode{replies: map[string]string{"PSYNC": "\n" + fullResync}, sync: sync, hold: time.Second}.start(t)
			info, got, err := streamAll(t, ctx, Source{Addr: addr}, readSize)
			require.NoError(t, err, "%s, reads of %d", name, readSize)
			require.Equal(t, rdb, got, "%s, reads of %d", name, readSize)
			require.Equal(t, hex.EncodeToString(sum[:]), info.SHA256)
			require.Equal(t, int64(1000), info.Keys)
			require.Equal(t, int64(2419469), info.ReplOffset)
			require.Equal(t, strings.Fields(name)[0][:4], info.Framing[:4])
		}
	}
}

func TestStreamFailures(t *testing.T) {
	rdb := sampleRDB()
	flipped := append([]byte{}, rdb...)
	flipped[len(flipped)-20] ^= 1
	ok := map[string]string{"PSYNC": fullResync}
	cases := map[string]struct {
		node  fakeNode
		check func(t *testing.T, err error)
	}{
		"wrong password": {fakeNode{replies: map[string]string{"AUTH": "-WRONGPASS invalid username-password pair or user is disabled."}},
			func(t *testing.T, err error) {
				require.True(t, IsAuthError(err))
				require.ErrorContains(t, err, "AUTH on")
			}},
		"no password": {fakeNode{replies: map[string]string{"REPLCONF": "-NOAUTH Authentication required."}},
			func(t *testing.T, err error) { require.True(t, IsAuthError(err)); require.False(t, IsRetryable(err)) }},
		"redis 6": {fakeNode{replies: map[string]string{"REPLCONF RDB-ONLY": "-ERR Unrecognized REPLCONF option: rdb-only"}},
			func(t *testing.T, err error) { require.ErrorIs(t, err, ErrUnsupported) }},
		"replica without its master": {fakeNode{replies: map[string]string{"PSYNC": "-NOMASTERLINK Can't SYNC while not connected with my master"}},
			func(t *testing.T, err error) {
				require.True(t, IsRetryable(err))
				require.ErrorContains(t, err, "NOMASTERLINK")
			}},
		"fork failed": {fakeNode{replies: ok, sync: func(w io.Writer) { _, _ = io.WriteString(w, "-ERR BGSAVE failed, replication can't continue\r\n") }},
			func(t *testing.T, err error) { require.True(t, IsRetryable(err)) }},
		"closed before the RDB": {fakeNode{replies: ok, sync: func(io.Writer) {}},
			func(t *testing.T, err error) {
				require.ErrorIs(t, err, ErrConnectionLost)
				require.True(t, IsRetryable(err))
			}},
		"odd PSYNC reply": {fakeNode{replies: map[string]string{"PSYNC": "+CONTINUE"}},
			func(t *testing.T, err error) { require.ErrorContains(t, err, "expected +FULLRESYNC") }},
		"mark stream cut": {fakeNode{replies: ok, sync: func(w io.Writer) { markSync(rdb, 500)(w); _ = w.(net.Conn).Close() }},
			func(t *testing.T, err error) { require.NoError(t, err) }}, // the whole RDB and mark arrived
		"mark never comes": {fakeNode{replies: ok, sync: func(w io.Writer) { _, _ = io.WriteString(w, "$EOF:"+testMark+"\r\n"); writeSlowly(w, rdb, 500) }},
			func(t *testing.T, err error) {
				require.ErrorIs(t, err, ErrConnectionLost)
				require.ErrorContains(t, err, "RDB bytes")
			}},
		"bulk stream cut": {fakeNode{replies: ok, sync: bulkSync(rdb[:len(rdb)/2], len(rdb))},
			func(t *testing.T, err error) { require.ErrorIs(t, err, ErrConnectionLost) }},
		"bulk frame of a truncated RDB": {fakeNode{replies: ok, sync: bulkSync(rdb[:len(rdb)/2], len(rdb)/2)},
			func(t *testing.T, err error) {
				require.ErrorIs(t, err, ErrCorruptRDB)
				require.False(t, IsRetryable(err))
			}},
		"bad checksum": {fakeNode{replies: ok, sync: markSync(flipped, 4096)},
			func(t *testing.T, err error) {
				require.ErrorIs(t, err, ErrCorruptRDB)
				require.ErrorContains(t, err, "checksum")
			}},
		"not an RDB": {fakeNode{replies: ok, sync: markSync([]byte("-ERR this is not an rdb at all, but long enough"), 4096)},
			func(t *testing.T, err error) {
				require.ErrorIs(t, err, ErrCorruptRDB)
				require.ErrorContains(t, err, "RDB header")
			}},
		"bad mark": {fakeNode{replies: ok, sync: func(w io.Writer) { _, _ = io.WriteString(w, "$EOF:short\r\n") }},
			func(t *testing.T, err error) { require.ErrorContains(t, err, "bad EOF mark") }},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			addr := tc.node.start(t)
			_, _, err := streamAll(t, context.Background(), Source{Addr: addr, Password: "pw", IdleTimeout: 5 * time.Second}, 64<<10)
			tc.check(t, err)
		})
	}
}

func TestStreamSilentNode(t *testing.T) {
	silent := fakeNode{replies: map[string]string{"PSYNC": fullResync}, sync: func(w io.Writer) {
		_, _ = io.WriteString(w, "$EOF:"+testMark+"\r\nREDIS0010")
	}, hold: 5 * time.Second}

	start := time.Now()
	_, _, err := streamAll(t, context.Background(), Source{Addr: silent.start(t), IdleTimeout: 300 * time.Millisecond}, 4096)
	require.ErrorIs(t, err, ErrConnectionLost)
	require.True(t, IsRetryable(err))
	require.Less(t, time.Since(start), 3*time.Second)

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start = time.Now()
	_, _, err = streamAll(t, ctx, Source{Addr: silent.start(t)}, 4096)
	require.ErrorIs(t, err, context.Canceled)
	require.False(t, IsRetryable(err))
	require.Less(t, time.Since(start), 3*time.Second)

	// Refused connections and unanswered handshakes are bounded too.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	_ = l.Close()
	_, err = OpenShard(context.Background(), Source{Addr: addr})
	require.ErrorIs(t, err, ErrConnectionLost)
}
