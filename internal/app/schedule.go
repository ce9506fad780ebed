package app

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"pcsync/internal/config"
	"pcsync/internal/engine"
	"pcsync/internal/qualys"
	"pcsync/internal/server"
	"pcsync/internal/store"
)

// scheduler runs the configured sync inside pcsync serve: at start, then
// every interval, never two at once (in this process by its own flag,
// across processes by the database's sync lock).
type scheduler struct {
	log    *slog.Logger
	cfg    *config.Config
	every  time.Duration
	client *qualys.Client
	eo     engine.Options

	mu      sync.Mutex
	next    time.Time
	running bool
	lastErr string
	wg      sync.WaitGroup
}

func newScheduler(ctx context.Context, io IOStreams, log *slog.Logger, cfg *config.Config, every time.Duration) (*scheduler, error) {
	if every < time.Minute {
		return nil, usageErr("--sync-every %s is too often: use a minute or more (Qualys limits calls per hour)", every)
	}
	if err := cfg.Validate(); err != nil {
		return nil, withCode(ExitUsage, err)
	}
	copts := clientOptions(cfg)
	copts.Logger = log
	client, err := qualys.NewClient(copts)
	if err != nil {
		return nil, withCode(ExitUsage, err)
	}
	if err := checkOutput(cfg.DB, "sync.rejects", rejectsPath(cfg)); err != nil {
		return nil, err
	}
	if err := ensureDatabase(ctx, cfg.DB); err != nil {
		return nil, err
	}
	return &scheduler{log: log.With("scheduled", true), cfg: cfg, every: every, client: client, eo: engineOptions(cfg)}, nil
}

// state is what the dashboard shows of the schedule.
func (s *scheduler) state() server.ScheduleState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return server.ScheduleState{Every: s.every, Next: s.next, Running: s.running, LastErr: s.lastErr}
}

// loop runs a sync now and then at every tick, until ctx ends.
func (s *scheduler) loop(ctx context.Context) {
	tick := time.NewTicker(s.every)
	defer tick.Stop()
	for {
		s.start(ctx)
		s.mu.Lock()
		s.next = time.Now().Add(s.every)
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// start begins a run unless one is under way.
func (s *scheduler) start(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		s.log.Warn("scheduled sync skipped: the previous one is still running")
		return
	}
	s.running = true
	s.wg.Go(func() {
		err := s.run(ctx)
		s.mu.Lock()
		s.running, s.lastErr = false, ""
		if err != nil {
			s.lastErr = err.Error()
		}
		s.mu.Unlock()
	})
}

// wait waits for a run under way (it stops with the context).
func (s *scheduler) wait() { s.wg.Wait() }

func (s *scheduler) run(ctx context.Context) error {
	st, err := openWriter(ctx, s.cfg.DB, dbOptions{})
	if err != nil {
		s.log.Error("scheduled sync: database", "err", err)
		return err
	}
	defer st.Close()
	eo := s.eo
	rejects := engine.NewRejectFile(rejectsPath(s.cfg))
	defer rejects.Close()
	eo.Rejects = rejects
	res, err := engine.New(s.client, st, s.log).Run(ctx, eo)
	var locked *store.LockedError
	switch {
	case errors.As(err, &locked):
		s.log.Warn("scheduled sync skipped: another sync is running", "holder", locked.Holder)
		return nil
	case res != nil:
		level := slog.LevelInfo
		if err != nil { // failed or incomplete: worth a look
			level = slog.LevelWarn
		}
		s.log.Log(ctx, level, "scheduled sync finished", "run_id", res.Run.ID, "status", res.Run.Status, "records", res.Run.Records,
			"took", res.Elapsed.Round(time.Millisecond).String(), "err", err)
	case err != nil:
		s.log.Error("scheduled sync failed", "err", err)
	}
	return err
}

// rejectsPath is where a sync puts records that do not decode.
func rejectsPath(cfg *config.Config) string {
	if cfg.Sync.Rejects != "" {
		return cfg.Sync.Rejects
	}
	return defaultRejects(cfg.DB)
}
