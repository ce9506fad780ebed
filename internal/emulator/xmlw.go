package emulator

import (
	"bufio"
	"encoding/xml"
	"strconv"
	"strings"
	"time"

	"pcsync/internal/compliance"
)

// xw writes the classic API's XML by hand, element by element, so that an
// answer streams out as it is generated and looks as Qualys's do (DOCTYPE,
// CDATA for free text).
type xw struct {
	w *bufio.Writer
}

func (x *xw) header(root, dtd string) {
	x.w.WriteString(`<?xml version="1.0" encoding="UTF-8" ?>` + "\n")
	x.w.WriteString(`<!DOCTYPE ` + root + ` SYSTEM "` + dtd + `">` + "\n")
}

func (x *xw) open(tag string)  { x.w.WriteString("<" + tag + ">") }
func (x *xw) close(tag string) { x.w.WriteString("</" + tag + ">") }

// openAttr opens tag with attributes given as name, value pairs.
func (x *xw) openAttr(tag string, attrs ...string) {
	x.w.WriteString("<" + tag)
	for i := 0; i+1 < len(attrs); i += 2 {
		x.w.WriteString(" " + attrs[i] + `="`)
		xml.EscapeText(x.w, []byte(attrs[i+1]))
		x.w.WriteString(`"`)
	}
	x.w.WriteString(">")
}

func (x *xw) text(tag, s string) {
	x.open(tag)
	xml.EscapeText(x.w, []byte(s))
	x.close(tag)
}

// cdata writes s in a CDATA section (split where s itself contains "]]>").
func (x *xw) cdata(tag, s string) {
	x.open(tag)
	x.w.WriteString("<![CDATA[" + strings.ReplaceAll(s, "]]>", "]]]]><![CDATA[>") + "]]>")
	x.close(tag)
}

func (x *xw) int(tag string, n int64) { x.text(tag, strconv.FormatInt(n, 10)) }

func (x *xw) bool(tag string, b bool) {
	if b {
		x.text(tag, "1")
	} else {
		x.text(tag, "0")
	}
}

// by writes a DATETIME and BY pair under tag (CREATED, LAST_MODIFIED).
func (x *xw) by(tag string, t time.Time, who string) {
	x.open(tag)
	x.date("DATETIME", t)
	x.cdata("BY", who)
	x.close(tag)
}

// date writes t in Qualys's layout; a zero t is left out.
func (x *xw) date(tag string, t time.Time) {
	if !t.IsZero() {
		x.text(tag, compliance.FormatDate(t))
	}
}
