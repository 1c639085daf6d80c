package oci

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
)

var (
	// ErrDamaged says a blob does not match its digest or its descriptor's size.
	ErrDamaged = errors.New("the archive is damaged")
	// ErrNotInArchive says the archive lacks a file the reader was asked for.
	ErrNotInArchive = errors.New("not in the archive")
)

// maxJSONSize bounds the index.json, indexes, manifests and configs the reader decodes: they are
// small, and a descriptor that calls a layer a manifest must not fill memory.
const maxJSONSize = 4 << 20

// Archive is an OCI image layout in a tar file, as cmd/imagebuild writes it: oci-layout,
// index.json and blobs/<algorithm>/<encoded>. Each read seeks to its file in the tar, so a large
// archive is never held in memory; reads may run concurrently. Errors of reads do not name the
// archive's file: the caller knows it.
type Archive struct {
	file    *os.File
	size    int64
	entries map[string]archiveEntry // regular files by cleaned name
}

// archiveEntry is a file of the tar: the number of entries before it, and its size.
type archiveEntry struct {
	ordinal int
	size    int64
}

// OpenArchive reads the tar's headers, not its content, and checks that it is an image layout.
func OpenArchive(name string) (*Archive, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	a, err := openArchive(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return a, nil
}

func openArchive(f *os.File) (*Archive, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	a := &Archive{file: f, size: fi.Size(), entries: map[string]archiveEntry{}}
	tr := tar.NewReader(a.section())
	for ordinal := 0; ; ordinal++ {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if hdr.Typeflag == tar.TypeReg {
			// A later entry of the same name replaces an earlier one, as tar has it.
			a.entries[path.Clean(hdr.Name)] = archiveEntry{ordinal: ordinal, size: hdr.Size}
		}
	}
	_, hasLayout := a.entries["oci-layout"]
	_, hasIndex := a.entries["index.json"]
	if !hasLayout || !hasIndex {
		return nil, errors.New("not an OCI image layout archive (no oci-layout or index.json)")
	}
	return a, nil
}

// Close closes the archive's file.
func (a *Archive) Close() error { return a.file.Close() }

// section is the whole file as a reader of its own, so that reads do not share an offset.
func (a *Archive) section() *io.SectionReader { return io.NewSectionReader(a.file, 0, a.size) }

// Index is the layout's index.json: the images the archive holds.
func (a *Archive) Index() (Index, error) {
	var index Index
	err := a.readFile("index.json", func(r io.Reader, size int64) error {
		if size > maxJSONSize {
			return fmt.Errorf("%d bytes is too large", size)
		}
		return json.NewDecoder(r).Decode(&index)
	})
	if err != nil {
		return Index{}, fmt.Errorf("index.json: %w", err)
	}
	return index, nil
}

// DecodeJSON decodes the blob d names, an index, a manifest or a config, into v.
func (a *Archive) DecodeJSON(d Descriptor, v any) error {
	if d.Size > maxJSONSize {
		return fmt.Errorf("blob %s of %d bytes is too large for JSON", d.Digest, d.Size)
	}
	content, err := a.Blob(d)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(content, v); err != nil {
		return fmt.Errorf("blob %s: %w", d.Digest, err)
	}
	return nil
}

// Blob is the content of the blob d names, checked against d's digest and size.
func (a *Archive) Blob(d Descriptor) ([]byte, error) {
	var content []byte
	err := a.ReadBlob(d, func(r io.Reader) error {
		var err error
		content, err = io.ReadAll(r)
		return err
	})
	return content, err
}

// ReadBlob calls read with the content of the blob d names, and fails with ErrDamaged when the
// content does not match d's digest, whatever read made of it: a read that stops early is
// checked all the same, and a read that failed on damaged content is told why.
func (a *Archive) ReadBlob(d Descriptor, read func(io.Reader) error) error {
	dg, err := parseDigest(d.Digest)
	if err != nil {
		return err
	}
	if e, ok := a.entries[dg.blobPath()]; ok && e.size != d.Size {
		return fmt.Errorf("blob %s is %d bytes, its descriptor says %d: %w", d.Digest, e.size, d.Size, ErrDamaged)
	}
	err = a.readFile(dg.blobPath(), func(r io.Reader, _ int64) error {
		h := dg.newHash()
		readErr := read(io.TeeReader(r, h))
		if _, err := io.Copy(h, r); err != nil {
			return err
		}
		if got := dg.sum(h); got != dg.String() {
			return fmt.Errorf("has digest %s: %w", got, ErrDamaged)
		}
		return readErr
	})
	if err != nil {
		return fmt.Errorf("blob %s: %w", d.Digest, err)
	}
	return nil
}

// readFile calls read with the content of the file name. Skipping the entries before it seeks,
// so finding a file costs little even in a large archive.
func (a *Archive) readFile(name string, read func(r io.Reader, size int64) error) error {
	e, ok := a.entries[name]
	if !ok {
		return ErrNotInArchive
	}
	tr := tar.NewReader(a.section())
	for i := 0; i <= e.ordinal; i++ {
		if _, err := tr.Next(); err != nil {
			return err
		}
	}
	return read(tr, e.size)
}
