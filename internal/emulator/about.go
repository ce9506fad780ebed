package emulator

import (
	"bufio"
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
	if !s.basicAuth(w, r) {
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
