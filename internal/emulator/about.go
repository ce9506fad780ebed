package emulator

import (
	"bufio"
	"crypto/subtle"
	"net/http"
)

// Versions the emulator reports in /msp/about.php, shaped as Qualys's are.
const (
	aboutWebVersion      = "10.34.1.0-1"
	aboutScannerVersion  = "13.8.24-1"
	aboutVulnsigsVersion = "2.6.184-2"
)

// handleAbout is GET (or POST) /msp/about.php, which many clients call first
// to learn the platform's versions: HTTP Basic auth, and an ABOUT document
// (API-VERSION with MAJOR and MINOR attributes, then the web, scanner and
// signature versions).
func (s *Server) handleAbout(w http.ResponseWriter, r *http.Request) {
	s.count("about")
	user, pass, ok := r.BasicAuth()
	if !ok || subtle.ConstantTimeCompare([]byte(user), []byte(s.opts.Username)) != 1 ||
		subtle.ConstantTimeCompare([]byte(pass), []byte(s.opts.Password)) != 1 {
		w.Header().Set("WWW-Authenticate", `Basic realm="MSP Portal"`)
		simpleReturn(w, r, http.StatusUnauthorized, 2000, "Bad Login/Password")
		return
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(http.StatusOK)
	x := &xw{w: bufio.NewWriter(w)}
	x.header("ABOUT", baseURL(r)+"/about.dtd")
	x.open("ABOUT")
	x.w.WriteString(`<API-VERSION MAJOR="1" MINOR="0" />`)
	x.text("WEB-VERSION", aboutWebVersion)
	x.text("SCANNER-VERSION", aboutScannerVersion)
	x.text("VULNSIGS-VERSION", aboutVulnsigsVersion)
	x.close("ABOUT")
	x.w.WriteString("\n")
	x.w.Flush()
}
