package qualys

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
)

// About is what GET /msp/about.php reports of the platform.
type About struct {
	APIVersion      string // MAJOR.MINOR
	WebVersion      string
	ScannerVersion  string
	VulnsigsVersion string
}

// About asks the classic API host for the platform's versions
// (/msp/about.php, HTTP Basic auth), which many clients call first.
func (c *Client) About(ctx context.Context) (*About, error) {
	if c.api == nil {
		return nil, errors.New("no classic API URL configured")
	}
	const name = "GET /msp/about.php"
	u := c.api.JoinPath("msp", "about.php").String()
	resp, err := c.do(ctx, &call{name: name, admit: c.gate.acquire, pause: c.gate.pause,
		send: func(ctx context.Context) (*http.Response, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			if err != nil {
				return nil, err
			}
			return c.sendClassic(req, name)
		}})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var doc struct {
		API struct {
			Major string `xml:"MAJOR,attr"`
			Minor string `xml:"MINOR,attr"`
		} `xml:"API-VERSION"`
		Web      string `xml:"WEB-VERSION"`
		Scanner  string `xml:"SCANNER-VERSION"`
		Vulnsigs string `xml:"VULNSIGS-VERSION"`
	}
	body, err := readLimited(resp.Body, 1<<20)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := xml.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w: %w", name, ErrMalformedXML, err)
	}
	a := &About{WebVersion: xmlText(doc.Web), ScannerVersion: xmlText(doc.Scanner), VulnsigsVersion: xmlText(doc.Vulnsigs)}
	if doc.API.Major != "" {
		a.APIVersion = doc.API.Major + "." + doc.API.Minor
	}
	return a, nil
}

// Login logs in to the gateway now (rather than at the first call), so
// that a caller can tell whether the credentials work.
func (c *Client) Login(ctx context.Context) error {
	if c.gateway == nil {
		return errors.New("no gateway URL configured")
	}
	_, err := c.tokens.Token(ctx)
	return err
}
