package sqlite

import (
	"encoding/base64"
	"encoding/json"
	"fmt"

	"pcsync/internal/store"
)

// A cursor is the keyset position after the last row of a page: the
// values of the list's order columns, as base64url JSON, with the list's
// name so that one list's cursor is not taken for another's.

type cursor struct {
	List string   `json:"l"`
	Ints []int64  `json:"i,omitempty"`
	Strs []string `json:"s,omitempty"`
}

func encodeCursor(list string, ints []int64, strs ...string) string {
	b, _ := json.Marshal(cursor{List: list, Ints: ints, Strs: strs})
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor reads after, a cursor of list with ints int values and strs
// string values; "" is the start of the list (ok false).
func decodeCursor(list, after string, ints, strs int) (c cursor, ok bool, err error) {
	if after == "" {
		return c, false, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(after)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil || c.List != list || len(c.Ints) != ints || len(c.Strs) != strs {
		return c, false, fmt.Errorf("%w: %.40q", store.ErrBadCursor, after)
	}
	return c, true, nil
}

// limit is the SQL LIMIT of a page: one row more than asked, to know
// whether there is a next page; -1 (no limit) for a whole list.
func limit(p store.Page) int {
	if p.Limit <= 0 {
		return -1
	}
	return p.Limit + 1
}

// errPageFull stops a list query at the row after a full page.
var errPageFull = fmt.Errorf("page full")

// pager counts the rows of a page: full reports, at the start of each row,
// whether the page already has its rows (the query then stops, and the
// cursor of the last row is the next page's).
type pager struct {
	page store.Page
	rows int
	list string   // the last row's cursor, kept as values: encoded only
	ints []int64  // when a next page is asked for
	strs []string //
	next string
}

func (pg *pager) full() bool {
	pg.rows++
	if pg.page.Limit > 0 && pg.rows > pg.page.Limit {
		pg.next = encodeCursor(pg.list, pg.ints, pg.strs...)
		return true
	}
	return false
}

// mark records the keyset position of the row just read.
func (pg *pager) mark(list string, ints []int64, strs ...string) {
	pg.list = list
	pg.ints = append(pg.ints[:0], ints...)
	pg.strs = append(pg.strs[:0], strs...)
}

// done turns the query's end into the list's result.
func (pg *pager) done(err error) (string, error) {
	if err == errPageFull {
		return pg.next, nil
	}
	return "", err
}
