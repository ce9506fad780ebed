package store

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// A cursor is the keyset position after the last row of a page: the
// values of the list's order columns, as base64url JSON, with the list's
// name so that one list's cursor is not taken for another's. The
// implementations make and read them with these functions, so a cursor
// means the same on every store.

type cursor struct {
	List string   `json:"l"`
	Ints []int64  `json:"i,omitempty"`
	Strs []string `json:"s,omitempty"`
}

// EncodeCursor makes the cursor of list after a row with these order values.
func EncodeCursor(list string, ints []int64, strs ...string) string {
	b, _ := json.Marshal(cursor{List: list, Ints: ints, Strs: strs})
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor reads after, a cursor of list with ints int values and
// strs string values; "" is the start of the list (ok false). A cursor
// of another list or shape is ErrBadCursor.
func DecodeCursor(list, after string, ints, strs int) (vals []int64, texts []string, ok bool, err error) {
	if after == "" {
		return nil, nil, false, nil
	}
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(after)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil || c.List != list || len(c.Ints) != ints || len(c.Strs) != strs {
		return nil, nil, false, fmt.Errorf("%w: %.40q", ErrBadCursor, after)
	}
	return c.Ints, c.Strs, true, nil
}
