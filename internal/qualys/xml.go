package qualys

import (
	"bytes"
	"encoding/xml"
	"strconv"
	"strings"
)

// simpleReturn parses a classic API SIMPLE_RETURN error document.
func simpleReturn(body []byte) (code int, text string, ok bool) {
	if !bytes.Contains(body, []byte("SIMPLE_RETURN")) {
		return 0, "", false
	}
	var doc struct {
		Response struct {
			Code string `xml:"CODE"`
			Text string `xml:"TEXT"`
		} `xml:"RESPONSE"`
	}
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = false
	if err := d.Decode(&doc); err != nil {
		return 0, "", false
	}
	code, _ = strconv.Atoi(strings.TrimSpace(doc.Response.Code))
	return code, strings.TrimSpace(doc.Response.Text), true
}
