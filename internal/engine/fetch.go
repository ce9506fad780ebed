package engine

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"pcsync/internal/compliance"
	"pcsync/internal/qualys"
	"pcsync/internal/store"
)

// item is what a stream hands the writer: a chunk of records and, with the
// last chunk of a batch, the batch's completion.
type item struct {
	postures []compliance.Posture
	bytes    int64 // of JSON (or XML), the records' size in flight
	done     *store.BatchDone
	cursor   *store.BatchCursor // classic: the page is stored
	policy   int64
	// rejected are the records of the batch (or classic page) that did not
	// decode: counted in the transaction that stores the rest, and written
	// to the rejects file once it committed, so a replay never repeats them.
	rejected *rejected
}

type rejected struct {
	batch Batch
	errs  []*qualys.RecordError
}

// fetch runs the batches on Concurrency workers feeding the writers, and
// waits for all of them. It returns the first fatal error (authentication,
// database, cancellation); a batch that fails on its own is recorded as
// failed in the store (FailBatch) and the others go on.
func (r *run) fetch(ctx context.Context, batches []Batch) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// The SQLite writer is the bottleneck and SQLite yields the CPU often;
	// were every stream decoding at once, the writer would queue behind them
	// for a core. Decoding therefore takes one of GOMAXPROCS-1 slots, leaving
	// a core to the writer (on two cores: one decoder at a time, which still
	// decodes faster than SQLite stores). See BENCHMARKS.md.
	// One writer per lane; a batch's records all go down one lane, so its
	// completion commits with (or after) every one of its records. A store
	// that writes concurrently (PostgreSQL) does its work in its own server
	// processes, so every stream may decode at once.
	// The lanes share the queue one writer would have, so memory does not
	// grow with the writers, and it holds about queued records whatever the
	// chunk size: 2*Concurrency+2 chunks of 1,000 records, as it did when
	// chunks had 1,000 (larger chunks wake the writer and a waiting stream
	// less often: BENCHMARKS.md).
	queued := (2*r.opts.Concurrency + 2) * 1000
	n := writers(r.e.store)
	slots := max(1, min(r.opts.Concurrency, runtime.GOMAXPROCS(0)-1))
	if n > 1 {
		slots = r.opts.Concurrency
	}
	r.slots = make(chan struct{}, slots)
	lanes := make([]chan item, n)
	for i := range lanes {
		lanes[i] = make(chan item, max(1, queued/r.opts.ChunkRecords/n))
	}
	pool := &sync.Pool{New: func() any { return make([]compliance.Posture, r.opts.ChunkRecords) }}
	writerDone := make(chan error, len(lanes))
	for _, lane := range lanes {
		go func() {
			err := r.write(ctx, lane, pool)
			if err != nil {
				cancel(err)
			}
			writerDone <- err
		}()
	}

	work := make(chan Batch)
	var wg sync.WaitGroup
	for range r.opts.Concurrency {
		wg.Go(func() {
			for b := range work {
				fetch := r.fetchBatch
				if b.Classic {
					fetch = r.fetchClassic
				}
				err := fetch(ctx, b, lanes[b.No%int64(len(lanes))], pool)
				if err == nil {
					continue
				}
				if fatal(ctx, err) {
					cancel(err)
					continue
				}
				r.log.Error("batch failed", "batch", b.No, "policy_id", b.Policy.PolicyID, "hosts", len(b.Policy.HostIDs), "err", err)
				if ferr := r.e.store.FailBatch(ctx, r.rec.ID, b.No, err.Error()); ferr != nil {
					cancel(&StoreError{ferr})
				}
			}
		})
	}
feed:
	for _, b := range batches {
		select {
		case work <- b:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	var werr error
	for _, lane := range lanes {
		close(lane)
	}
	for range lanes {
		if err := <-writerDone; err != nil && werr == nil {
			werr = err
		}
	}
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	if werr != nil {
		return werr
	}
	return ctx.Err()
}

// writers is how many goroutines write to st at once: one, unless the
// store takes concurrent writes (store.ConcurrentSink).
func writers(st Store) int {
	if c, ok := st.(store.ConcurrentSink); ok {
		return max(1, c.Writers())
	}
	return 1
}

// fatal reports whether err must stop the whole run rather than one batch.
func fatal(ctx context.Context, err error) bool {
	var auth *qualys.AuthError
	var se *StoreError
	return ctx.Err() != nil || errors.As(err, &auth) || errors.As(err, &se)
}

// retryable reports whether a batch whose stream failed with err is worth
// fetching again: the stream broke off or arrived garbled, but did not
// exceed one of pcsync's bounds (which a new fetch would only repeat).
func retryable(err error) bool {
	var syn *qualys.SyntaxError
	var lim *qualys.LimitError
	return (errors.Is(err, qualys.ErrTruncated) || errors.As(err, &syn)) && !errors.As(err, &lim)
}

// fetchBatch streams one batch, fetching it again (bounded, with backoff)
// when the stream breaks off. Records of a broken attempt that reached the
// writer are upserted again by the next attempt, never doubled.
func (r *run) fetchBatch(ctx context.Context, b Batch, items chan<- item, pool *sync.Pool) error {
	for attempt := 0; ; attempt++ {
		rejects, err := r.stream(ctx, b, items, pool)
		if err == nil || !retryable(err) || attempt >= r.opts.MaxStreamRetries || ctx.Err() != nil {
			if err != nil && rejects > 0 { // the batch is fetched again by the next run
				r.log.Warn("records of a failed batch did not decode", "batch", b.No, "policy_id", b.Policy.PolicyID, "records", rejects)
			}
			return err
		}
		r.e.Progress.Retries.Add(1)
		wait := r.opts.RetryBackoff(attempt + 1)
		r.log.Warn("posture stream broke off, fetching the batch again", "batch", b.No,
			"policy_id", b.Policy.PolicyID, "attempt", attempt+1, "wait", wait.String(), "err", err)
		if err := sleepCtx(ctx, wait); err != nil {
			return err
		}
	}
}

func (r *run) keepRejects(b Batch, rejects []*qualys.RecordError) {
	for _, re := range rejects {
		r.e.Progress.Rejects.Add(1)
		r.log.Error("record rejected", "batch", b.No, "policy_id", b.Policy.PolicyID, "record", re.Index, "offset", re.Offset, "err", re.Error())
		if r.opts.Rejects != nil {
			if err := r.opts.Rejects.Reject(r.rec.ID, b, re); err != nil {
				r.log.Error("cannot write to the rejects file", "err", err)
			}
		}
	}
}

// stream makes one attempt at a batch. The records that did not decode go
// with the batch's completion; a failed attempt returns how many there were.
func (r *run) stream(ctx context.Context, b Batch, items chan<- item, pool *sync.Pool) (int, error) {
	req := &qualys.PostureRequest{
		Policies: []compliance.PolicyHosts{b.Policy}, Evidence: r.opts.Evidence, Compression: r.opts.Compression,
		LastEvaluationDate: r.opts.LastEvaluationDate, LastScanDate: r.opts.LastScanDate,
		LastScanDateFrom: r.opts.LastScanDateFrom, LastScanDateTo: r.opts.LastScanDateTo,
		StatusChangedSince: r.opts.StatusChangedSince, Extra: r.opts.ExtraParams,
	}
	if b.Filtered {
		r.incremental(req)
	}
	s, err := r.e.client.PCRS.Posture(ctx, req)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	p := &r.e.Progress
	var wire, data int64
	account := func() {
		w, d := s.WireBytes(), s.DataBytes()
		p.WireBytes.Add(w - wire)
		p.DataBytes.Add(d - data)
		wire, data = w, d
	}
	defer account()
	// Decoding holds a slot (see run.slots); it is given up before a chunk
	// is handed to the writer, which may block.
	held := false
	acquire := func() error {
		if held {
			return nil
		}
		s.Pause() // waiting for a slot is not the server's silence
		defer s.Resume()
		select {
		case r.slots <- struct{}{}:
			held = true
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	release := func() {
		if held {
			<-r.slots
			held = false
		}
	}
	defer release()
	send := func(it item) error {
		account()
		release()
		s.Pause() // nor is waiting for the writer
		defer s.Resume()
		select {
		case items <- it:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	var rejects []*qualys.RecordError
	var counts compliance.Counts
	hosts := make(map[int64]struct{}, len(b.Policy.HostIDs))
	chunk := pool.Get().([]compliance.Posture)
	n := 0
	// A chunk is handed over at ChunkRecords records or, with TxBytes set,
	// at a quarter of TxBytes (as the default 2,500 is of 10,000 records).
	chunkBytes, start := r.opts.TxBytes/4, int64(0)
	size := func() int64 { return s.DataBytes() - start }
	for {
		if err := acquire(); err != nil {
			pool.Put(chunk)
			return len(rejects), err
		}
		rec := &chunk[n]
		err := s.Next(rec)
		if err == io.EOF {
			break
		}
		var re *qualys.RecordError
		if errors.As(err, &re) {
			rejects = append(rejects, re)
			continue
		}
		if err != nil {
			if n > 0 { // keep what arrived; the retry upserts it again
				err = errors.Join(err, send(item{postures: chunk[:n], bytes: size(), policy: b.Policy.PolicyID}))
			} else {
				pool.Put(chunk)
			}
			return len(rejects), err
		}
		counts.Add(rec.Status)
		hosts[rec.Host.ID] = struct{}{}
		p.Records.Add(1)
		if n++; n == len(chunk) || (chunkBytes > 0 && size() >= chunkBytes) {
			if err := send(item{postures: chunk[:n], bytes: size(), policy: b.Policy.PolicyID}); err != nil {
				return len(rejects), err
			}
			chunk, n, start = pool.Get().([]compliance.Posture), 0, s.DataBytes()
		}
	}
	done := &store.BatchDone{BatchNo: b.No, PolicyID: b.Policy.PolicyID, HostsReturned: int64(len(hosts)), Counts: counts,
		Rejects: int64(len(rejects))}
	if !b.Filtered { // every posture of these hosts is stored with it
		done.Whole = make([]int64, 0, len(b.Policy.HostIDs))
		for _, h := range b.Policy.HostIDs {
			if id, err := strconv.ParseInt(h, 10, 64); err == nil {
				done.Whole = append(done.Whole, id)
			}
		}
	}
	it := item{postures: chunk[:n], bytes: size(), done: done, policy: b.Policy.PolicyID}
	if len(rejects) > 0 {
		it.rejected = &rejected{batch: b, errs: rejects}
	}
	return len(rejects), send(it)
}

// write is the single writer: it gathers chunks into transactions of about
// TxRecords records (fewer when the streams are slower than the database)
// and commits each batch's completion with its last records.
func (r *run) write(ctx context.Context, items <-chan item, pool *sync.Pool) error {
	b := &store.Batch{RunID: r.rec.ID, Exceptions: r.opts.Source == "classic"}
	var rejects []*rejected
	var bytes int64 // the transaction's records' size (item.bytes)
	full := func() bool {
		return len(b.Postures) >= r.opts.TxRecords || (r.opts.TxBytes > 0 && bytes >= r.opts.TxBytes)
	}
	flush := func() error {
		if len(b.Postures) == 0 && len(b.Done) == 0 && len(b.Cursors) == 0 {
			return nil
		}
		if err := r.e.store.Write(ctx, b); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return &StoreError{err}
		}
		r.e.Progress.Stored.Add(int64(len(b.Postures)))
		r.e.Progress.BatchesDone.Add(int64(len(b.Done)))
		if r.log.Enabled(ctx, slog.LevelDebug) {
			r.log.Debug("transaction committed", "records", len(b.Postures), "batches_done", len(b.Done))
			for _, d := range b.Done {
				r.log.Debug("batch committed", "batch", d.BatchNo, "policy_id", d.PolicyID, "records", d.Counts.Records,
					"hosts_returned", d.HostsReturned, "rejects", d.Rejects)
			}
		}
		for _, rj := range rejects { // committed: now they are the run's
			r.keepRejects(rj.batch, rj.errs)
		}
		rejects = rejects[:0]
		clear(b.Postures) // the batch keeps no record (nor its evidence) alive until the next one overwrites it
		b.Postures, b.Done, b.Cursors = b.Postures[:0], b.Done[:0], b.Cursors[:0]
		bytes = 0
		return nil
	}
	add := func(it item) {
		b.Postures = append(b.Postures, it.postures...)
		bytes += it.bytes
		if it.postures != nil {
			// The transaction holds a copy of the records: the chunk goes
			// back to the streams now rather than at the commit, so the
			// records of a transaction are not held twice.
			c := it.postures[:cap(it.postures)]
			clear(c) // a pooled chunk keeps no record (nor its evidence) alive
			pool.Put(c)
		}
		if it.done != nil {
			b.Done = append(b.Done, *it.done)
		}
		if it.cursor != nil {
			b.Cursors = append(b.Cursors, *it.cursor)
		}
		if it.rejected != nil {
			rejects = append(rejects, it.rejected)
		}
	}
	for {
		var it item
		var ok bool
		select {
		case it, ok = <-items:
		case <-ctx.Done():
			return ctx.Err()
		}
		if !ok {
			return flush()
		}
		add(it)
	gather:
		for !full() {
			select {
			case it, ok = <-items:
				if !ok {
					return flush()
				}
				add(it)
			default:
				break gather
			}
		}
		if err := flush(); err != nil {
			return err
		}
	}
}

// fetchClassic lists one policy's posture through the classic API, page by
// page (truncation_limit records each, resolved against the page's
// GLOSSARY), and hands the records to the writer. A page cut off mid-way is
// fetched again by the client before any of it is handed on.
func (r *run) fetchClassic(ctx context.Context, b Batch, items chan<- item, pool *sync.Pool) error {
	send := func(it item) error {
		select {
		case items <- it:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	params := r.opts.Classic.Results
	if b.Filtered {
		params = cloneParams(params)
		since := r.rec.Since
		if t, err := time.Parse(time.RFC3339, params.Get("status_changes_since")); err == nil && t.After(since) {
			since = t // the configured filter is narrower: keep it
		}
		params.Set("status_changes_since", compliance.FormatDate(since))
	}
	// Each page commits with the batch's cursor and its counts, so a
	// resumed run starts from the first page not stored.
	err := r.e.client.Classic.PostureInfo(ctx, b.Policy.PolicyID, b.Cursor, params, func(pg *qualys.PostureInfoPage) error {
		r.e.Progress.WireBytes.Add(pg.Bytes) // the classic API sends no compression
		r.e.Progress.DataBytes.Add(pg.Bytes)
		var counts compliance.Counts
		chunks := slices.Collect(slices.Chunk(pg.Records, r.opts.ChunkRecords))
		if len(chunks) == 0 {
			chunks = [][]compliance.Posture{nil}
		}
		for i, recs := range chunks {
			chunk := pool.Get().([]compliance.Posture)
			n := copy(chunk, recs)
			for j := range n {
				counts.Add(chunk[j].Status)
			}
			r.e.Progress.Records.Add(int64(n))
			it := item{postures: chunk[:n], bytes: pg.Bytes * int64(n) / int64(max(1, len(pg.Records))), policy: b.Policy.PolicyID}
			if i == len(chunks)-1 {
				it.cursor = &store.BatchCursor{BatchNo: b.No, Next: pg.Next, Counts: counts, Rejects: int64(len(pg.Rejects))}
				if len(pg.Rejects) > 0 {
					it.rejected = &rejected{batch: b, errs: pg.Rejects}
				}
				if pg.Next == 0 { // the last page: the batch is done in the same transaction
					it.done = &store.BatchDone{BatchNo: b.No, PolicyID: b.Policy.PolicyID, Counted: true}
				}
			}
			if err := send(it); err != nil {
				return err
			}
		}
		return nil
	})
	return err
}

// incremental narrows a PCRS request to what changed since the run's Since,
// with the configured filter (a narrower filter already set is kept).
func (r *run) incremental(req *qualys.PostureRequest) {
	since := r.rec.Since
	var dst *time.Time
	switch r.opts.IncrementalFilter {
	case "lastEvaluationDate":
		dst = &req.LastEvaluationDate
	case "lastScanDate":
		dst = &req.LastScanDate
		if !req.LastScanDateFrom.IsZero() { // cannot be combined: keep the range
			return
		}
	default:
		dst = &req.StatusChangedSince
	}
	if dst.Before(since) {
		*dst = since
	}
}
