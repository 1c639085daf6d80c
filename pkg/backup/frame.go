package backup

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// eofMarkLen is the length of the random delimiter around a diskless RDB ($EOF:<mark>\r\n...<mark>).
const eofMarkLen = 40

// deadlineConn gives each read and write of conn its own deadline, and cuts them short for good
// when ctx ends.
type deadlineConn struct {
	conn    net.Conn
	idle    time.Duration
	mu      sync.Mutex
	stopped bool
	stop    func() bool
	closing sync.Once
	closed  error
}

func newDeadlineConn(ctx context.Context, conn net.Conn, idle time.Duration) *deadlineConn {
	d := &deadlineConn{conn: conn, idle: idle}
	d.stop = context.AfterFunc(ctx, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		d.stopped = true
		_ = conn.SetDeadline(time.Unix(1, 0))
	})
	return d
}

func (d *deadlineConn) arm() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.stopped {
		_ = d.conn.SetDeadline(time.Now().Add(d.idle))
	}
}

func (d *deadlineConn) Read(p []byte) (int, error) {
	d.arm()
	return d.conn.Read(p)
}

func (d *deadlineConn) Write(p []byte) (int, error) {
	d.arm()
	return d.conn.Write(p)
}

// Close closes the connection once; later calls return the first's result.
func (d *deadlineConn) Close() error {
	d.closing.Do(func() {
		d.stop()
		d.closed = d.conn.Close()
	})
	return d.closed
}

// writeCommand sends args as a RESP array of bulk strings.
func writeCommand(w io.Writer, args ...string) error {
	var b bytes.Buffer
	b.WriteString("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		b.WriteString("$" + strconv.Itoa(len(a)) + "\r\n" + a + "\r\n")
	}
	_, err := w.Write(b.Bytes())
	return err
}

// maxLine bounds a reply line of the handshake; maxKeepAlives bounds the newlines a master sends,
// one a second, while it prepares an RDB (an hour of them).
const (
	maxLine       = 4096
	maxKeepAlives = 3600
)

var errLineTooLong = errors.New("reply line too long")

// readLine reads a reply line, skipping the bare newlines a master sends to keep a waiting
// replica's link alive.
func readLine(r *bufio.Reader) (string, error) {
	for i := 0; i < maxKeepAlives; i++ {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) || len(line) > maxLine {
			return "", errLineTooLong
		}
		if err != nil {
			return "", err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) > 0 {
			return string(line), nil
		}
	}
	return "", fmt.Errorf("no reply after %d keep-alive newlines", maxKeepAlives)
}

// bulkPayload is an RDB sent as $<len>\r\n<len bytes> (a master with disk-based sync).
type bulkPayload struct {
	r    io.Reader
	left int64
}

func (b *bulkPayload) Read(p []byte) (int, error) {
	if b.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	if err != nil && b.left > 0 {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return n, err
	}
	return n, nil
}

// markPayload is an RDB sent as $EOF:<mark>\r\n<bytes><mark> (diskless sync): the end is known
// only when the last bytes received are the mark, so the last eofMarkLen bytes are held back.
type markPayload struct {
	r       io.Reader
	mark    []byte
	tail    [eofMarkLen]byte
	held    int
	ended   bool
	scratch []byte
	pending []byte
}

func (m *markPayload) Read(p []byte) (int, error) {
	if len(m.pending) > 0 {
		n := copy(p, m.pending)
		m.pending = m.pending[n:]
		return n, nil
	}
	if m.ended {
		return 0, io.EOF
	}
	if len(p) <= 2*eofMarkLen {
		// Small reads go through a scratch buffer, so that the held tail always fits.
		if m.scratch == nil {
			m.scratch = make([]byte, 32<<10)
		}
		n, err := m.Read(m.scratch)
		m.pending = m.scratch[:n]
		k := copy(p, m.pending)
		m.pending = m.pending[k:]
		if k == 0 {
			return 0, err
		}
		return k, nil
	}
	h := copy(p, m.tail[:m.held])
	n, err := m.r.Read(p[h:])
	t := h + n
	if t >= eofMarkLen && bytes.Equal(p[t-eofMarkLen:t], m.mark) {
		m.ended, m.held = true, 0
		return t - eofMarkLen, nil
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, err
	}
	keep := min(t, eofMarkLen)
	m.held = copy(m.tail[:], p[t-keep:t])
	return t - keep, nil
}

// openPayload reads the line announcing the RDB and returns a reader of its bytes.
func openPayload(r *bufio.Reader, line string) (io.Reader, string, error) {
	if rest, ok := strings.CutPrefix(line, "$EOF:"); ok {
		if len(rest) != eofMarkLen {
			return nil, "", fmt.Errorf("bad EOF mark in %q", line)
		}
		return &markPayload{r: r, mark: []byte(rest)}, "eof-mark", nil
	}
	if rest, ok := strings.CutPrefix(line, "$"); ok {
		n, err := strconv.ParseInt(rest, 10, 64)
		if err != nil || n < 0 {
			return nil, "", fmt.Errorf("bad RDB length in %q", line)
		}
		return &bulkPayload{r: r, left: n}, "bulk", nil
	}
	return nil, "", fmt.Errorf("expected the RDB ($<length> or $EOF:<mark>), got %q", line)
}
