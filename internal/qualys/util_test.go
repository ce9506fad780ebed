package qualys

import "time"

var zeroTime time.Time

// complete fills the options a test leaves unset with the values a user
// gets from the config's defaults, as NewClient wants them complete.
func complete(o Options) Options {
	set := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	if o.PCRSVersion == "" {
		o.PCRSVersion = "1.0"
	}
	if o.ClassicVersion == "" {
		o.ClassicVersion = "2.0"
	}
	set(&o.ClassicConcurrency, 1)
	set(&o.MaxRetries, 5)
	set(&o.MaxRateWaits, 20)
	if o.TokenTTL == 0 {
		o.TokenTTL = 4 * time.Hour
	}
	if o.RateWindow == 0 {
		o.RateWindow = time.Minute
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = 5 * time.Minute
	}
	if o.CheckRetry == nil {
		o.CheckRetry = DefaultCheckRetry
	}
	if o.Backoff == nil {
		o.Backoff = DefaultBackoff
	}
	if o.UserAgent == "" {
		o.UserAgent = "pcsync-test"
	}
	return o
}
