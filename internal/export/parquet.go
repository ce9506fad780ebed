package export

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/snappy"

	"pcsync/internal/store"
)

// Parquet output (pcsync export --format parquet --out DIR), for data
// lakes: every table as DIR/TABLE.parquet, and postures partitioned by
// policy as DIR/postures/policy_id=N/part-K.parquet (Hive style: the
// partition's value is in the path, not in the files), which Spark, Trino,
// DuckDB and pandas read as they are.
//
// Columns are the fields NDJSON writes, with the same names, typed: ids
// and counts INT64, dates TIMESTAMP (microseconds, UTC), flags BOOLEAN,
// texts STRING, nested objects (a posture's technology and criticality)
// as groups, and JSON documents (evidence, causeOfFailure) as STRING
// columns holding the JSON text. A posture's unmodelled fields, which
// NDJSON spreads into the record, are one STRING column "extra" (a JSON
// object). Every leaf is optional (null where NDJSON writes null).
//
// Memory stays bounded: rows are written in row groups of ParquetRowGroup
// rows, and at most ParquetOpenPartitions posture partitions are open at
// once (a partition closed early continues in another part file).

// ParquetRowGroup is how many rows a row group holds.
const ParquetRowGroup = 8192

// ParquetOpenPartitions is how many posture partitions are open at once.
const ParquetOpenPartitions = 4

// WriteParquet writes every table of rd as Parquet files under dir, which
// must exist (empty).
func WriteParquet(ctx context.Context, rd store.Reader, dir string) error {
	for i := range store.Tables {
		t := &store.Tables[i]
		var err error
		if t.Name == "postures" {
			err = writePostures(ctx, rd, filepath.Join(dir, "postures"))
		} else {
			err = writeTable(ctx, rd, t, filepath.Join(dir, t.Name+".parquet"))
		}
		if err != nil {
			return fmt.Errorf("parquet %s: %w", t.Name, err)
		}
	}
	return nil
}

// layout maps a row's fields to the leaf columns of its Parquet schema.
type layout struct {
	schema *parquet.Schema
	cols   []int // per field of the row: its leaf column, -1 for a group
	skip   string
}

// newLayout builds the schema of rows shaped as sample (kinds of the
// registry table t where the sample has none), leaving out the top-level
// field skip.
func newLayout(name string, sample row, t *store.Table, skip string) *layout {
	kinds := make([]kind, len(sample))
	for i, f := range sample {
		kinds[i] = f.kind
		if f.kind == kNull && t != nil {
			kinds[i] = kindOf(t.Columns[i].Type)
		}
	}
	root, _ := group(sample, kinds, 0, len(sample), skip)
	l := &layout{schema: parquet.NewSchema(name, root), skip: skip}
	l.cols = make([]int, len(sample))
	l.index(sample, 0, len(sample), nil)
	return l
}

func kindOf(t store.Type) kind {
	return [...]kind{store.Int: kInt, store.Text: kString, store.Time: kDate, store.Bool: kBool, store.JSON: kRaw}[t]
}

// group makes the Parquet group of fields [i, end) of sample.
func group(sample row, kinds []kind, i, end int, skip string) (parquet.Group, int) {
	g := parquet.Group{}
	for i < end {
		f := sample[i]
		switch {
		case f.kind == kObject:
			sub, next := group(sample, kinds, i+1, i+1+int(f.n), "")
			g[f.name] = sub
			i = next
			continue
		case f.name == skip:
		default:
			g[f.name] = parquet.Optional(leaf(kinds[i]))
		}
		i++
	}
	return g, i
}

func leaf(k kind) parquet.Node {
	switch k {
	case kInt:
		return parquet.Int(64)
	case kDate:
		return parquet.Timestamp(parquet.Microsecond)
	case kBool:
		return parquet.Leaf(parquet.BooleanType)
	case kFloat:
		return parquet.Leaf(parquet.DoubleType)
	}
	return parquet.String() // texts, JSON documents, spliced objects
}

// index records the leaf column of each field of [i, end).
func (l *layout) index(sample row, i, end int, path []string) int {
	for i < end {
		f := sample[i]
		if f.kind == kObject {
			l.cols[i] = -1
			i = l.index(sample, i+1, i+1+int(f.n), append(path, f.name))
			continue
		}
		l.cols[i] = -1
		if leaf, ok := l.schema.Lookup(append(append([]string(nil), path...), f.name)...); ok {
			l.cols[i] = leaf.ColumnIndex
		}
		i++
	}
	return i
}

// values fills out with r's values, one per leaf column.
func (l *layout) values(out parquet.Row, r row) parquet.Row {
	out = append(out[:0], make(parquet.Row, len(l.schema.Columns()))...)
	for i := range r {
		col := l.cols[i]
		if col < 0 {
			continue
		}
		out[col] = value(&r[i]).Level(0, 1, col)
		if out[col].IsNull() {
			out[col] = parquet.NullValue().Level(0, 0, col)
		}
	}
	return out
}

// value is a field's Parquet value (null where NDJSON writes null).
func value(f *field) parquet.Value {
	switch f.kind {
	case kString:
		return parquet.ByteArrayValue([]byte(f.s))
	case kInt:
		return parquet.Int64Value(f.n)
	case kDate:
		if f.t.IsZero() {
			return parquet.NullValue()
		}
		return parquet.Int64Value(f.t.UnixMicro())
	case kBool:
		return parquet.BooleanValue(f.b)
	case kFloat:
		return parquet.DoubleValue(f.f)
	case kRaw, kSplice:
		if f.raw == nil {
			return parquet.NullValue()
		}
		return parquet.ByteArrayValue(bytes.Clone(f.raw)) // the reader reuses f.raw for the next row
	}
	return parquet.NullValue()
}

// fileWriter is one Parquet file being written, rows buffered by the
// hundred.
type fileWriter struct {
	f    *os.File
	w    *parquet.Writer
	l    *layout
	rows []parquet.Row
	n    int
}

func createFile(path string, l *layout) (*fileWriter, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	w := parquet.NewWriter(f, l.schema, parquet.Compression(&snappy.Codec{}), parquet.MaxRowsPerRowGroup(ParquetRowGroup),
		parquet.CreatedBy("pcsync", "", ""))
	return &fileWriter{f: f, w: w, l: l, rows: make([]parquet.Row, 100)}, nil
}

func (fw *fileWriter) write(r row) error {
	fw.rows[fw.n] = fw.l.values(fw.rows[fw.n], r)
	fw.n++
	if fw.n == len(fw.rows) {
		return fw.flush()
	}
	return nil
}

func (fw *fileWriter) flush() error {
	_, err := fw.w.WriteRows(fw.rows[:fw.n])
	fw.n = 0
	return err
}

func (fw *fileWriter) close() error {
	err := fw.flush()
	if cerr := fw.w.Close(); err == nil {
		err = cerr
	}
	if cerr := fw.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// tableRows streams the rows of table t as export lays them out, with the
// sample that gives their shape.
func tableRows(t *store.Table) (row, func(ctx context.Context, rd store.Reader, emit func(row) error) error) {
	if v, ok := views[t.Name]; ok {
		return v.sample(), v.rows
	}
	return columnRow(nil, t, nil), func(ctx context.Context, rd store.Reader, emit func(row) error) error {
		var r row
		return rd.Rows(ctx, t, func(vals []any) error { r = columnRow(r[:0], t, vals); return emit(r) })
	}
}

func writeTable(ctx context.Context, rd store.Reader, t *store.Table, path string) error {
	sample, rows := tableRows(t)
	reg := t
	if _, ok := views[t.Name]; ok {
		reg = nil
	}
	fw, err := createFile(path, newLayout(t.Name, sample, reg, ""))
	if err != nil {
		return err
	}
	if err := rows(ctx, rd, fw.write); err != nil {
		fw.close()
		return err
	}
	return fw.close()
}

// writePostures writes the postures partitioned by policy, at most
// ParquetOpenPartitions files open at once (the least recently written is
// closed to open another; its policy continues in a new part file).
func writePostures(ctx context.Context, rd store.Reader, dir string) error {
	sample, rows := tableRows(store.TableNamed("postures"))
	l := newLayout("postures", sample, nil, "policyId")
	policyField := -1
	for i, f := range sample {
		if f.name == "policyId" {
			policyField = i
		}
	}
	open := map[int64]*fileWriter{}
	var order []int64 // least recently written first
	parts := map[int64]int{}
	closeOne := func(id int64) error {
		err := open[id].close()
		delete(open, id)
		for i, x := range order {
			if x == id {
				order = append(order[:i], order[i+1:]...)
				break
			}
		}
		return err
	}
	err := rows(ctx, rd, func(r row) error {
		id := r[policyField].n
		fw, ok := open[id]
		if !ok {
			if len(open) == ParquetOpenPartitions {
				if err := closeOne(order[0]); err != nil {
					return err
				}
			}
			path := filepath.Join(dir, "policy_id="+strconv.FormatInt(id, 10), fmt.Sprintf("part-%05d.parquet", parts[id]))
			parts[id]++
			var err error
			if fw, err = createFile(path, l); err != nil {
				return err
			}
			open[id] = fw
		} else {
			for i, x := range order {
				if x == id {
					order = append(order[:i], order[i+1:]...)
					break
				}
			}
		}
		order = append(order, id)
		return fw.write(r)
	})
	for len(order) > 0 {
		if cerr := closeOne(order[0]); err == nil {
			err = cerr
		}
	}
	if err == nil && len(parts) == 0 {
		err = os.MkdirAll(dir, 0o755) // no postures: an empty table is an empty folder
	}
	return err
}
