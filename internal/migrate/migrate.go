// Package migrate copies a pcsync database into another, table by table
// through the store's table registry (store.Tables), whatever the two
// implementations are: SQLite to PostgreSQL and back.
//
// Each table is streamed in key order (Reader.Rows) and written in
// transactions of BatchRows rows (store.RowLoader), so memory is bounded by
// one batch whatever the size of the database. A copy that is killed
// resumes where it stopped: each table continues after the last key the
// target holds (rows before it are read again, to checksum them, but not
// written again). Each table is then verified: its rows are counted and
// checksummed on both sides, and any difference fails the copy.
package migrate

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"pcsync/internal/store"
)

// BatchRows is how many rows one transaction of the target stores, unless
// Options say.
const BatchRows = 5000

// TableResult is what the copy of one table found on both sides.
type TableResult struct {
	Table       string
	SourceRows  int64
	TargetRows  int64
	SourceSum   Sum
	TargetSum   Sum
	Copied      int64         // rows written by this invocation (the others were there)
	Elapsed     time.Duration // copying and verifying
	CopyElapsed time.Duration
}

// OK says the table's rows and checksums agree.
func (r *TableResult) OK() bool {
	return r.SourceRows == r.TargetRows && r.SourceSum == r.TargetSum
}

// Copy copies every registry table from one database to the other, in the
// registry's order, and verifies each; report is called after each table.
// It returns an error for a database failure; a verification that finds a
// difference is a result that is not OK, not an error.
func Copy(ctx context.Context, from store.Reader, to Target, batchRows int, report func(*TableResult)) ([]TableResult, error) {
	if batchRows <= 0 {
		batchRows = BatchRows
	}
	var out []TableResult
	for i := range store.Tables {
		t := &store.Tables[i]
		r, err := copyTable(ctx, from, to, t, batchRows)
		if err != nil {
			return out, fmt.Errorf("table %s: %w", t.Name, err)
		}
		out = append(out, *r)
		if report != nil {
			report(r)
		}
	}
	return out, nil
}

// ForeignError says the target holds rows that are not a copy of the
// source's: the copy would mix two databases.
type ForeignError struct {
	Table string
	Rows  int64 // the target's rows of Table
}

func (e *ForeignError) Error() string {
	return fmt.Sprintf("it holds data that is not a copy of the source's: its %d rows of %s differ from the source's first rows",
		e.Rows, e.Table)
}

// CheckResumable makes sure, before anything is written, that what the
// target holds is what an interrupted copy of from left there: in each
// table, the target's rows are the source's up to the target's last key.
// A new target passes; one holding another database's rows is a
// *ForeignError.
func CheckResumable(ctx context.Context, from store.Reader, to Target) error {
	stop := errors.New("past the target's last key")
	for i := range store.Tables {
		t := &store.Tables[i]
		last, err := to.LastKey(ctx, t)
		if err != nil || last == nil {
			if err != nil {
				return fmt.Errorf("table %s: %w", t.Name, err)
			}
			continue
		}
		var haveRows, wantRows int64
		var haveSum, wantSum Sum
		if err := to.Rows(ctx, t, func(row []any) error {
			haveRows++
			haveSum.Add(row)
			return nil
		}); err != nil {
			return fmt.Errorf("table %s: %w", t.Name, err)
		}
		keys := keyColumns(t)
		err = from.Rows(ctx, t, func(row []any) error {
			if compareKey(row, keys, last) > 0 {
				return stop
			}
			wantRows++
			wantSum.Add(row)
			return nil
		})
		if err != nil && !errors.Is(err, stop) {
			return fmt.Errorf("table %s: %w", t.Name, err)
		}
		if haveRows != wantRows || haveSum != wantSum {
			return &ForeignError{Table: t.Name, Rows: haveRows}
		}
	}
	return nil
}

// Target is the database a copy writes: loaded row by row, then read to
// verify it.
type Target interface {
	store.Reader
	store.RowLoader
}

func copyTable(ctx context.Context, from store.Reader, to Target, t *store.Table, batchRows int) (*TableResult, error) {
	start := time.Now()
	res := &TableResult{Table: t.Name}
	last, err := to.LastKey(ctx, t)
	if err != nil {
		return nil, err
	}
	keys := keyColumns(t)
	var batch [][]any
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := to.LoadRows(ctx, t, batch); err != nil {
			return err
		}
		res.Copied += int64(len(batch))
		batch = batch[:0]
		return nil
	}
	err = from.Rows(ctx, t, func(row []any) error {
		res.SourceRows++
		res.SourceSum.Add(row)
		if last != nil && compareKey(row, keys, last) <= 0 {
			return nil // copied by an earlier, interrupted invocation
		}
		batch = append(batch, append([]any(nil), row...))
		if len(batch) == batchRows {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return nil, err
	}
	res.CopyElapsed = time.Since(start)
	err = to.Rows(ctx, t, func(row []any) error {
		res.TargetRows++
		res.TargetSum.Add(row)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// keyColumns are the indexes of t's key columns.
func keyColumns(t *store.Table) []int {
	var out []int
	for _, k := range t.Key {
		for i, c := range t.Columns {
			if c.Name == k {
				out = append(out, i)
			}
		}
	}
	return out
}

// compareKey compares row's key with key (values of t.Key).
func compareKey(row []any, cols []int, key []any) int {
	for i, c := range cols {
		var d int
		switch a := row[c].(type) {
		case int64:
			b, _ := key[i].(int64)
			d = cmp.Compare(a, b)
		case string:
			b, _ := key[i].(string)
			d = cmp.Compare(a, b)
		}
		if d != 0 {
			return d
		}
	}
	return 0
}

// Sum is an order-independent checksum of rows: the sum (mod 2^64) of the
// first 8 bytes of each row's SHA-256 over a typed encoding of its values.
// Times count to the microsecond, PostgreSQL's precision.
type Sum uint64

// Add adds one row.
func (s *Sum) Add(row []any) {
	h := sha256.New()
	var buf [9]byte
	for _, v := range row {
		switch x := v.(type) {
		case nil:
			h.Write([]byte{0})
		case int64:
			buf[0] = 1
			binary.BigEndian.PutUint64(buf[1:], uint64(x))
			h.Write(buf[:])
		case string:
			writeBytes(h, 2, []byte(x))
		case time.Time:
			buf[0] = 3
			binary.BigEndian.PutUint64(buf[1:], uint64(x.UnixMicro()))
			h.Write(buf[:])
		case bool:
			buf[0], buf[1] = 4, 0
			if x {
				buf[1] = 1
			}
			h.Write(buf[:2])
		case []byte:
			writeBytes(h, 5, x)
		default:
			writeBytes(h, 6, fmt.Append(nil, x))
		}
	}
	*s += Sum(binary.BigEndian.Uint64(h.Sum(nil)[:8]))
}

func writeBytes(h interface{ Write([]byte) (int, error) }, tag byte, b []byte) {
	var head [9]byte
	head[0] = tag
	binary.BigEndian.PutUint64(head[1:], uint64(len(b)))
	h.Write(head[:])
	h.Write(b)
}

// String is the checksum as 16 hex digits.
func (s Sum) String() string { return fmt.Sprintf("%016x", uint64(s)) }
