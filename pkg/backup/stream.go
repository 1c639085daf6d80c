// Package backup streams each shard of a Redis Cluster as an RDB, over the replication protocol,
// into S3 objects with a manifest, and puts a shard's RDB back in a node's data directory before
// the node starts. It knows nothing of Kubernetes: the controller drives it.
package backup

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// Source is the node a shard's RDB is streamed from.
type Source struct {
	// Addr is host:port of the node's client port.
	Addr string
	// TLS, when set, makes the connection TLS with this configuration.
	TLS *tls.Config
	// Username and Password are sent with AUTH when Password is set; no Username means "default".
	Username, Password string
	// DialTimeout bounds the connection and TLS handshake (default 10 s).
	DialTimeout time.Duration
	// IdleTimeout is the longest the node may stay silent, while it prepares or streams the RDB
	// (default 60 s, Redis's repl-timeout).
	IdleTimeout time.Duration
}

// ShardInfo describes a shard's RDB streamed from a node.
type ShardInfo struct {
	RDBInfo
	// Addr is the node it came from.
	Addr string
	// ReplID and ReplOffset are the replication ID and offset of the fork, from +FULLRESYNC.
	ReplID     string
	ReplOffset int64
	// Framing is "eof-mark" when the node streamed it straight from the fork (diskless sync) and
	// "bulk" when it wrote an RDB file first (repl-diskless-sync no).
	Framing string
}

// ShardStream is a node's RDB as it streams in: Read or WriteTo yield its bytes, checked as
// they go by; the final io.EOF comes only once the whole RDB is known to be valid, so a reader
// that stops at an error never takes a partial or corrupt RDB for a whole one.
type ShardStream struct {
	ctx     context.Context
	addr    string
	conn    *deadlineConn
	payload io.Reader
	check   *rdbChecker
	info    ShardInfo
	done    bool
	err     error
}

// OpenShard connects to the node, asks it for an RDB of its dataset without the command stream
// that follows (REPLCONF rdb-only, Redis 7.0 and later) and returns once the RDB starts.
// ctx bounds the whole stream, reads included.
func OpenShard(ctx context.Context, src Source) (*ShardStream, error) {
	if src.DialTimeout <= 0 {
		src.DialTimeout = 10 * time.Second
	}
	if src.IdleTimeout <= 0 {
		src.IdleTimeout = 60 * time.Second
	}
	s := &ShardStream{ctx: ctx, addr: src.Addr, check: newRDBChecker(), info: ShardInfo{Addr: src.Addr}}
	raw, err := dial(ctx, src)
	if errors.Is(err, ErrTLS) && ctx.Err() == nil {
		return nil, err
	}
	if err != nil {
		return nil, s.wrap("connect", err)
	}
	s.conn = newDeadlineConn(ctx, raw, src.IdleTimeout)
	if err := s.handshake(src); err != nil {
		_ = s.conn.Close()
		return nil, err
	}
	return s, nil
}

func dial(ctx context.Context, src Source) (net.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, src.DialTimeout)
	defer cancel()
	d := net.Dialer{}
	conn, err := d.DialContext(dctx, "tcp", src.Addr)
	if err != nil || src.TLS == nil {
		return conn, err
	}
	config := src.TLS.Clone()
	if config.ServerName == "" && !config.InsecureSkipVerify {
		host, _, _ := net.SplitHostPort(src.Addr)
		config.ServerName = host
	}
	tc := tls.Client(conn, config)
	if err := tc.HandshakeContext(dctx); err != nil {
		_ = conn.Close()
		var netErr net.Error
		if errors.Is(err, io.EOF) || errors.As(err, &netErr) {
			return nil, fmt.Errorf("TLS handshake: %w", err)
		}
		// Certificates or protocol: another try would fail the same way.
		return nil, fmt.Errorf("%w with %s: %v", ErrTLS, src.Addr, err)
	}
	return tc, nil
}

func (s *ShardStream) handshake(src Source) error {
	r := bufio.NewReaderSize(s.conn, 64<<10)
	call := func(name string, args ...string) (string, error) {
		if err := writeCommand(s.conn, args...); err != nil {
			return "", s.wrap(name, err)
		}
		line, err := readLine(r)
		if err != nil {
			return "", s.wrap(name, err)
		}
		if msg, ok := strings.CutPrefix(line, "-"); ok {
			return "", &ReplyError{Addr: s.addr, Command: name, Message: msg}
		}
		return line, nil
	}
	if src.Password != "" {
		user := src.Username
		if user == "" {
			user = "default"
		}
		if _, err := call("AUTH", "AUTH", user, src.Password); err != nil {
			return err
		}
	}
	// capa eof lets a master with repl-diskless-sync (the default) stream from the fork, with
	// no file on its disk.
	if _, err := call("REPLCONF capa", "REPLCONF", "capa", "eof"); err != nil {
		return err
	}
	if _, err := call("REPLCONF rdb-only", "REPLCONF", "rdb-only", "1"); err != nil {
		var re *ReplyError
		if errors.As(err, &re) && strings.Contains(strings.ToLower(re.Message), "unrecognized") {
			return fmt.Errorf("%w: %s (needs Redis 7.0 or later): %v", ErrUnsupported, s.addr, re.Message)
		}
		return err
	}
	line, err := call("PSYNC", "PSYNC", "?", "-1")
	if err != nil {
		return err
	}
	fields := strings.Fields(line)
	if len(fields) != 3 || fields[0] != "+FULLRESYNC" {
		return fmt.Errorf("PSYNC on %s: expected +FULLRESYNC <replid> <offset>, got %q", s.addr, line)
	}
	offset, err := strconv.ParseInt(fields[2], 10, 64)
	if err != nil {
		return fmt.Errorf("PSYNC on %s: bad offset in %q", s.addr, line)
	}
	s.info.ReplID, s.info.ReplOffset = fields[1], offset
	line, err = readLine(r)
	if err != nil {
		return s.wrap("waiting for the RDB", err)
	}
	if msg, ok := strings.CutPrefix(line, "-"); ok {
		return &ReplyError{Addr: s.addr, Command: "PSYNC", Message: msg}
	}
	s.payload, s.info.Framing, err = openPayload(r, line)
	if err != nil {
		return fmt.Errorf("PSYNC on %s: %w", s.addr, err)
	}
	return nil
}

// wrap says why the connection failed: the context's end, or a lost connection.
func (s *ShardStream) wrap(stage string, err error) error {
	if cause := context.Cause(s.ctx); s.ctx.Err() != nil {
		return fmt.Errorf("streaming the RDB of %s: %s: %w", s.addr, stage, cause)
	}
	if errors.Is(err, errLineTooLong) {
		return fmt.Errorf("streaming the RDB of %s: %s: %w", s.addr, stage, err)
	}
	return fmt.Errorf("%w: %s: %s after %d RDB bytes: %v", ErrConnectionLost, s.addr, stage, s.check.size, err)
}

// Read reads the RDB's bytes. Its last call returns io.EOF once the RDB was checked whole, or
// the error that makes it unusable.
func (s *ShardStream) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.done {
		return 0, io.EOF
	}
	n, err := s.payload.Read(p)
	if n > 0 {
		_, _ = s.check.Write(p[:n])
		if herr := s.check.hdr.err; herr != nil {
			return 0, s.fail(fmt.Errorf("RDB of %s: %w: %v", s.addr, ErrCorruptRDB, herr))
		}
	}
	switch {
	case errors.Is(err, io.EOF):
		rdb, cerr := s.check.finish()
		s.info.RDBInfo = rdb
		if cerr != nil {
			return 0, s.fail(fmt.Errorf("RDB of %s: %w", s.addr, cerr))
		}
		s.done = true
		_ = s.conn.Close()
		return n, io.EOF
	case err != nil:
		return 0, s.fail(s.wrap("reading the RDB", err))
	}
	return n, nil
}

func (s *ShardStream) fail(err error) error {
	s.err = err
	_ = s.conn.Close()
	return err
}

// WriteTo writes the whole RDB to w; it returns nil only for a whole, valid RDB.
func (s *ShardStream) WriteTo(w io.Writer) (int64, error) {
	buf := make([]byte, 256<<10)
	var written int64
	for {
		n, err := s.Read(buf)
		if err != nil && !errors.Is(err, io.EOF) {
			return written, err
		}
		if n > 0 {
			k, werr := w.Write(buf[:n])
			written += int64(k)
			if werr != nil {
				return written, s.fail(fmt.Errorf("writing the RDB of %s: %w", s.addr, werr))
			}
		}
		if err != nil {
			return written, nil
		}
	}
}

// Info describes the RDB once it was read whole; before then, or after a failure, it returns
// the stream's error.
func (s *ShardStream) Info() (ShardInfo, error) {
	if s.err != nil {
		return s.info, s.err
	}
	if !s.done {
		return s.info, errors.New("the RDB was not read to its end")
	}
	return s.info, nil
}

// Close ends the stream, closing the connection.
func (s *ShardStream) Close() error {
	if !s.done && s.err == nil {
		s.err = errors.New("stream closed")
	}
	return s.conn.Close()
}
