package compliance

import "time"

// DateLayout is how Qualys writes dates and how pcsync stores and exports
// them: RFC 3339 in UTC, to the second.
const DateLayout = "2006-01-02T15:04:05Z"

// AppendDate appends t in DateLayout (converted to UTC) to b. It is the hot
// path of every store and export, so it avoids time.Format's generality.
func AppendDate(b []byte, t time.Time) []byte {
	secs := t.Unix()
	days := secs / 86400
	rem := secs % 86400
	if rem < 0 {
		rem += 86400
		days--
	}
	y, m, d := civil(days)
	if y < 0 || y > 9999 {
		return t.UTC().AppendFormat(b, DateLayout)
	}
	b = append(b,
		byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+m/10), byte('0'+m%10), '-', byte('0'+d/10), byte('0'+d%10), 'T',
		byte('0'+rem/36000), byte('0'+rem/3600%10), ':',
		byte('0'+rem%3600/600), byte('0'+rem%3600/60%10), ':',
		byte('0'+rem%60/10), byte('0'+rem%10), 'Z')
	return b
}

// FormatDate returns t in DateLayout, or "" for the zero time.
func FormatDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return string(AppendDate(make([]byte, 0, 20), t))
}

// civil converts days since 1970-01-01 to a proleptic Gregorian date
// (Howard Hinnant's days_from_civil, inverted).
func civil(days int64) (y, m, d int64) {
	z := days + 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	m = mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}

// ParseDate reads b in DateLayout ("2006-01-02T15:04:05Z") without
// time.Parse's generality; ok is false for any other form (let time.Parse
// have it).
func ParseDate(b []byte) (t time.Time, ok bool) {
	if len(b) != 20 || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' || b[19] != 'Z' {
		return time.Time{}, false
	}
	y, ok1 := digits(b[0:4])
	mo, ok2 := digits(b[5:7])
	d, ok3 := digits(b[8:10])
	h, ok4 := digits(b[11:13])
	mi, ok5 := digits(b[14:16])
	sec, ok6 := digits(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59 {
		return time.Time{}, false
	}
	return time.Date(y, time.Month(mo), d, h, mi, sec, 0, time.UTC), true
}

// ParseStoredDate reads a date as a store keeps it in text: DateLayout
// (what pcsync writes), else RFC 3339 with any offset, in UTC; the zero
// time for neither.
func ParseStoredDate(b []byte) time.Time {
	if t, ok := ParseDate(b); ok {
		return t
	}
	t, _ := time.Parse(time.RFC3339Nano, string(b))
	return t.UTC()
}

func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
