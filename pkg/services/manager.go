package services

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Manager runs services in dependency order.
type Manager struct {
	logger   *slog.Logger
	services []*Service
}

// NewManager returns a manager for services, listed so that each comes after
// the services it depends on.
func NewManager(logger *slog.Logger, services ...*Service) *Manager {
	return &Manager{logger: logger, services: services}
}

// Services returns the managed services in start order.
func (m *Manager) Services() []*Service { return m.services }

// Ready reports whether every service is Running, and if not, the first that
// is not.
func (m *Manager) Ready() (bool, string) {
	for _, s := range m.services {
		if st := s.State(); st != Running {
			return false, fmt.Sprintf("%s is %s", s.Name(), st)
		}
	}
	return true, ""
}

// Run starts the services one by one, runs them until ctx is cancelled or
// one of them fails, then stops them in reverse order, giving each up to
// stopTimeout. It returns the failures.
func (m *Manager) Run(ctx context.Context, stopTimeout time.Duration) error {
	// The services get a context of their own: they stop when Run stops
	// them, in order, not all at once when ctx is cancelled.
	svcCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()

	var started []*Service
	var runErr error
	for _, s := range m.services {
		if err := s.StartAsync(svcCtx); err != nil {
			runErr = err
			break
		}
		started = append(started, s)
		m.logger.Info("Starting service", "service", s.Name())
		if err := s.AwaitRunning(ctx); err != nil {
			runErr = fmt.Errorf("starting %s: %w", s.Name(), err)
			break
		}
	}

	if runErr == nil {
		m.logger.Info("All services running")
		runErr = m.waitFailure(ctx, started)
	}

	var errs []error
	if runErr != nil {
		errs = append(errs, runErr)
	}
	for i := len(started) - 1; i >= 0; i-- {
		s := started[i]
		m.logger.Info("Stopping service", "service", s.Name())
		s.StopAsync()
		stopCtx, stopCancel := context.WithTimeout(context.Background(), stopTimeout)
		err := s.AwaitTerminated(stopCtx)
		stopCancel()
		if err != nil && !errors.Is(err, runErr) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// waitFailure returns nil when ctx ends, or the error of the first service
// that ends on its own.
func (m *Manager) waitFailure(ctx context.Context, started []*Service) error {
	anyDone := make(chan *Service, len(started))
	for _, s := range started {
		go func() {
			select {
			case <-s.Done():
				anyDone <- s
			case <-ctx.Done():
			}
		}()
	}
	select {
	case <-ctx.Done():
		return nil
	case s := <-anyDone:
		if err := s.Err(); err != nil {
			return err
		}
		return fmt.Errorf("service %s stopped unexpectedly", s.Name())
	}
}
