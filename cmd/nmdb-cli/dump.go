package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"iter"

	"github.com/nmdb-go/nmdb/nmdb/wire"
)

// The dump file format (all integers big-endian):
//
//	header:  8 bytes "NMDBDUMP", u32 format version (1)
//	record:  u32 key size, u32 value size, key, value   (repeated)
//	trailer: u32 0xFFFFFFFF, u64 number of records
//
// Sizes are at most wire.MaxData. Nothing may follow the trailer; a file
// without one is truncated.
const (
	dumpMagic   = "NMDBDUMP"
	dumpVersion = 1
	dumpEnd     = 0xFFFFFFFF
)

// errDumpFormat marks a file that is not a valid dump.
var errDumpFormat = errors.New("not a valid dump file")

// record is one key and its value.
type record struct {
	key, val []byte
}

// dumpWriter writes a dump file.
type dumpWriter struct {
	w   *bufio.Writer
	n   uint64
	hdr [8]byte
}

// newDumpWriter writes the header to w and returns a writer for records.
func newDumpWriter(w io.Writer) (*dumpWriter, error) {
	d := &dumpWriter{w: bufio.NewWriterSize(w, 256<<10)}
	d.w.WriteString(dumpMagic)
	binary.BigEndian.PutUint32(d.hdr[:4], dumpVersion)
	if _, err := d.w.Write(d.hdr[:4]); err != nil {
		return nil, fmt.Errorf("writing dump header: %w", err)
	}
	return d, nil
}

// write appends one record.
func (d *dumpWriter) write(key, val []byte) error {
	binary.BigEndian.PutUint32(d.hdr[0:4], uint32(len(key)))
	binary.BigEndian.PutUint32(d.hdr[4:8], uint32(len(val)))
	d.w.Write(d.hdr[:])
	d.w.Write(key)
	if _, err := d.w.Write(val); err != nil {
		return fmt.Errorf("writing dump record: %w", err)
	}
	d.n++
	return nil
}

// close writes the trailer and flushes. It does not close the underlying
// writer.
func (d *dumpWriter) close() error {
	var t [12]byte
	binary.BigEndian.PutUint32(t[0:4], dumpEnd)
	binary.BigEndian.PutUint64(t[4:12], d.n)
	d.w.Write(t[:])
	if err := d.w.Flush(); err != nil {
		return fmt.Errorf("writing dump trailer: %w", err)
	}
	return nil
}

// readDump returns the records of the dump file in r, in file order. Each
// record's slices are fresh. The sequence ends with an error for a file
// that is not a complete, valid dump.
func readDump(r io.Reader) iter.Seq2[record, error] {
	return func(yield func(record, error) bool) {
		br := bufio.NewReaderSize(r, 256<<10)
		var hdr [12]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			yield(record{}, fmt.Errorf("%w: reading header: %w", errDumpFormat, eofIsUnexpected(err)))
			return
		}
		if string(hdr[:8]) != dumpMagic {
			yield(record{}, fmt.Errorf("%w: bad magic (want %q)", errDumpFormat, dumpMagic))
			return
		}
		if v := binary.BigEndian.Uint32(hdr[8:]); v != dumpVersion {
			yield(record{}, fmt.Errorf("%w: format version %d, this tool reads %d", errDumpFormat, v, dumpVersion))
			return
		}
		var n uint64
		for {
			if _, err := io.ReadFull(br, hdr[:4]); err != nil {
				yield(record{}, fmt.Errorf("%w: truncated after %d records: %w", errDumpFormat, n, eofIsUnexpected(err)))
				return
			}
			ks := binary.BigEndian.Uint32(hdr[:4])
			if ks == dumpEnd {
				if _, err := io.ReadFull(br, hdr[4:12]); err != nil {
					yield(record{}, fmt.Errorf("%w: truncated trailer: %w", errDumpFormat, eofIsUnexpected(err)))
					return
				}
				if want := binary.BigEndian.Uint64(hdr[4:12]); want != n {
					yield(record{}, fmt.Errorf("%w: trailer counts %d records, file has %d", errDumpFormat, want, n))
					return
				}
				if _, err := br.ReadByte(); err != io.EOF {
					yield(record{}, fmt.Errorf("%w: data after the trailer", errDumpFormat))
				}
				return
			}
			if _, err := io.ReadFull(br, hdr[4:8]); err != nil {
				yield(record{}, fmt.Errorf("%w: truncated record %d: %w", errDumpFormat, n, eofIsUnexpected(err)))
				return
			}
			vs := binary.BigEndian.Uint32(hdr[4:8])
			if ks > wire.MaxData || vs > wire.MaxData {
				yield(record{}, fmt.Errorf("%w: record %d: sizes %d and %d exceed the limit of %d", errDumpFormat, n, ks, vs, wire.MaxData))
				return
			}
			buf := make([]byte, int(ks)+int(vs))
			if _, err := io.ReadFull(br, buf); err != nil {
				yield(record{}, fmt.Errorf("%w: truncated record %d: %w", errDumpFormat, n, eofIsUnexpected(err)))
				return
			}
			n++
			if !yield(record{key: buf[:ks:ks], val: buf[ks:]}, nil) {
				return
			}
		}
	}
}

// eofIsUnexpected turns a clean EOF in the middle of a dump into
// io.ErrUnexpectedEOF.
func eofIsUnexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
