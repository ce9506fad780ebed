package server

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"pcsync/internal/store"
)

// A policy's controls are listed worst first, and a sync that writes
// changes their figures, so a keyset on the figures alone would let a
// control that moves between two pages of a walk be shown twice or not at
// all. The server therefore keeps the order of each walk's first page (the
// controls' ids: a policy has hundreds) and serves the later pages in that
// order, each control with its figures as they are when its page is read.
// A walk whose order is gone (the server restarted, or it is older than
// walkTTL) goes on in the order of the moment after the last control shown.

const (
	maxWalkIDs = 1 << 20   // ids kept in all walks (8 MB); past it, the oldest walks are dropped
	walkTTL    = time.Hour // a walk's order is kept this long after its first page
)

type controlWalk struct {
	list string  // the policy and filter the walk is of
	ids  []int64 // its controls, worst first as of its first page
	made time.Time
}

// controlWalks are the walks in progress, oldest first in fifo.
type controlWalks struct {
	mu    sync.Mutex
	walks map[uint64]*controlWalk
	fifo  []uint64
	ids   int // in all walks
}

func (c *controlWalks) get(id uint64, list string, now time.Time) (*controlWalk, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	w, ok := c.walks[id]
	if !ok || now.Sub(w.made) > walkTTL {
		return nil, false
	}
	return w, w.list == list
}

func (c *controlWalks) add(w *controlWalk) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.walks == nil {
		c.walks = map[uint64]*controlWalk{}
	}
	for len(c.fifo) > 0 && c.ids+len(w.ids) > maxWalkIDs {
		c.ids -= len(c.walks[c.fifo[0]].ids)
		delete(c.walks, c.fifo[0])
		c.fifo = c.fifo[1:]
	}
	id := rand.Uint64() | 1 // random, so that a cursor of an earlier server never names a walk of this one
	for c.walks[id] != nil {
		id = rand.Uint64() | 1
	}
	c.walks[id] = w
	c.fifo = append(c.fifo, id)
	c.ids += len(w.ids)
	return id
}

// walkCursor is the position of a walk: the walk, how far into its order
// it is, and the figures and id of the last control shown (for a walk
// whose order is gone).
type walkCursor struct {
	walk                   uint64
	offset                 int
	failed, errors, lastID int64
}

func (c walkCursor) String() string {
	return fmt.Sprintf("%x.%d.%d.%d.%d", c.walk, c.offset, c.failed, c.errors, c.lastID)
}

func parseWalkCursor(s string) (walkCursor, error) {
	var c walkCursor
	parts := strings.Split(s, ".")
	if len(parts) != 5 {
		return c, store.ErrBadCursor
	}
	var err error
	c.walk, err = strconv.ParseUint(parts[0], 16, 64)
	var n [4]int64
	for i := 0; err == nil && i < 4; i++ {
		n[i], err = strconv.ParseInt(parts[i+1], 10, 64)
		if err == nil && n[i] < 0 {
			err = store.ErrBadCursor
		}
	}
	if err != nil || c.walk == 0 {
		return c, store.ErrBadCursor
	}
	c.offset, c.failed, c.errors, c.lastID = int(n[0]), n[1], n[2], n[3]
	return c, nil
}

// worseThan orders controls worst first, as the store lists them: most
// failed, then most in error, then by id.
func worseThan(a *store.ControlFigures, failed, errors, id int64) bool {
	if a.Failed != failed {
		return a.Failed > failed
	}
	if a.Errors != errors {
		return a.Errors > errors
	}
	return a.ControlID < id
}

// listPolicyControls is a page of a policy's controls, worst first, in a
// walk that neither repeats nor misses a control while a sync changes
// their figures (above). A page of every row (page.Limit 0: the CSV and
// NDJSON streams) is the store's list as it is.
func (s *Server) listPolicyControls(ctx context.Context, policy int64, f store.ControlFilter, page store.Page,
	fn func(*store.ControlFigures) error) (string, error) {
	if page.Limit <= 0 {
		return s.rd.ListPolicyControls(ctx, policy, f, page, fn)
	}
	var at walkCursor
	if page.After != "" {
		var err error
		if at, err = parseWalkCursor(page.After); err != nil {
			return "", err
		}
	}
	var rows []store.ControlFigures
	if _, err := s.rd.ListPolicyControls(ctx, policy, f, store.Page{}, func(v *store.ControlFigures) error {
		rows = append(rows, *v)
		return nil
	}); err != nil {
		return "", err
	}
	list := fmt.Sprintf("%d %+v", policy, f)
	now := s.opts.Now()
	var order []int64 // the walk's controls from this page on
	walk, offset := at.walk, at.offset
	if w, ok := s.walks.get(at.walk, list, now); w != nil {
		if !ok || offset > len(w.ids) {
			return "", store.ErrBadCursor // a cursor of another list
		}
		order = w.ids[offset:]
	} else {
		walk, offset = 0, 0 // a first page, or a walk whose order is gone
		for i := range rows {
			if page.After == "" || !worseThan(&rows[i], at.failed, at.errors, at.lastID) && rows[i].ControlID != at.lastID {
				order = append(order, rows[i].ControlID)
			}
		}
	}
	byID := make(map[int64]*store.ControlFigures, len(rows))
	for i := range rows {
		byID[rows[i].ControlID] = &rows[i]
	}
	next := walkCursor{walk: walk, offset: offset}
	shown := 0
	for _, id := range order {
		if shown == page.Limit {
			break
		}
		next.offset++
		v, ok := byID[id]
		if !ok { // no longer in the list (its figures left the filter)
			continue
		}
		shown++
		next.failed, next.errors, next.lastID = v.Failed, v.Errors, v.ControlID
		if err := fn(v); err != nil {
			return "", err
		}
	}
	if next.offset-offset == len(order) {
		return "", nil
	}
	if next.walk == 0 {
		next.walk = s.walks.add(&controlWalk{list: list, ids: order, made: now})
	}
	return next.String(), nil
}
