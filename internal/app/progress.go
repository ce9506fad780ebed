package app

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"pcsync/internal/engine"
)

// startProgress shows a run's progress until the returned stop is called:
// a bar on a terminal, a log line every 10 s otherwise.
func startProgress(io IOStreams, p *engine.Progress, log *slog.Logger) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	start := time.Now()
	if io.console != nil && io.console.json { // every line JSON: no bar
		io.TTY = false
	}
	wg.Go(func() {
		interval := 10 * time.Second
		if io.TTY {
			interval = 200 * time.Millisecond
		}
		tick := time.NewTicker(interval)
		defer tick.Stop()
		var bar *progressbar.ProgressBar
		for {
			select {
			case <-done:
				if bar != nil {
					_ = bar.Finish()
					fmt.Fprintln(io.ErrOut)
				}
				return
			case <-tick.C:
			}
			total := p.BatchesTotal.Load()
			desc := progressLine(p, time.Since(start))
			if !io.TTY {
				log.Info("progress", "records", p.Records.Load(), "stored", p.Stored.Load(), "batches_done", p.BatchesDone.Load(),
					"batches", total, "received_bytes", p.WireBytes.Load(), "json_bytes", p.DataBytes.Load(), "rejects", p.Rejects.Load())
				continue
			}
			if bar == nil && total > 0 {
				bar = progressbar.NewOptions64(total, progressbar.OptionSetWriter(io.ErrOut),
					progressbar.OptionSetWidth(24), progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(false),
					progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionSetItsString("batches"))
			}
			if bar != nil {
				bar.Describe(desc)
				_ = bar.Set64(p.BatchesDone.Load())
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

func progressLine(p *engine.Progress, elapsed time.Duration) string {
	recs := p.Records.Load()
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(recs) / s
	}
	return fmt.Sprintf("%d records, %.0f/s, %s JSON, %s received", recs, rate, bytesHuman(p.DataBytes.Load()), bytesHuman(p.WireBytes.Load()))
}
