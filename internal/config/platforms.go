package config

import (
	"sort"
	"strings"
)

// Platform is a Qualys shared platform (pod) and its two base URLs.
type Platform struct {
	Name    string
	API     string // classic API
	Gateway string // gateway: auth and PCRS
}

// Platforms are Qualys's shared platforms. Private cloud platforms have
// their own host names: give them with gateway_url and api_url.
var Platforms = map[string]Platform{
	"US1":  {"US1", "https://qualysapi.qualys.com", "https://gateway.qg1.apps.qualys.com"},
	"US2":  {"US2", "https://qualysapi.qg2.apps.qualys.com", "https://gateway.qg2.apps.qualys.com"},
	"US3":  {"US3", "https://qualysapi.qg3.apps.qualys.com", "https://gateway.qg3.apps.qualys.com"},
	"US4":  {"US4", "https://qualysapi.qg4.apps.qualys.com", "https://gateway.qg4.apps.qualys.com"},
	"EU1":  {"EU1", "https://qualysapi.qualys.eu", "https://gateway.qg1.apps.qualys.eu"},
	"EU2":  {"EU2", "https://qualysapi.qg2.apps.qualys.eu", "https://gateway.qg2.apps.qualys.eu"},
	"EU3":  {"EU3", "https://qualysapi.qg3.apps.qualys.it", "https://gateway.qg3.apps.qualys.it"},
	"IN1":  {"IN1", "https://qualysapi.qg1.apps.qualys.in", "https://gateway.qg1.apps.qualys.in"},
	"CA1":  {"CA1", "https://qualysapi.qg1.apps.qualys.ca", "https://gateway.qg1.apps.qualys.ca"},
	"AE1":  {"AE1", "https://qualysapi.qg1.apps.qualys.ae", "https://gateway.qg1.apps.qualys.ae"},
	"UK1":  {"UK1", "https://qualysapi.qg1.apps.qualys.co.uk", "https://gateway.qg1.apps.qualys.co.uk"},
	"AU1":  {"AU1", "https://qualysapi.qg1.apps.qualys.com.au", "https://gateway.qg1.apps.qualys.com.au"},
	"KSA1": {"KSA1", "https://qualysapi.qg1.apps.qualysksa.com", "https://gateway.qg1.apps.qualysksa.com"},
}

// PlatformNames lists the known platforms, sorted.
func PlatformNames() []string {
	names := make([]string, 0, len(Platforms))
	for n := range Platforms {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// LookupPlatform finds a platform by name, ignoring case.
func LookupPlatform(name string) (Platform, bool) {
	p, ok := Platforms[strings.ToUpper(strings.TrimSpace(name))]
	return p, ok
}
