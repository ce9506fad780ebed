package qualys

import "time"

var zeroTime time.Time
