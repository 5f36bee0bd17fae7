package services

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// State is a service's place in its lifecycle.
type State int

// The states, in order.
const (
	Created State = iota
	Starting
	Running
	Stopping
	Terminated
	Failed
)

func (s State) String() string {
	switch s {
	case Created:
		return "Created"
	case Starting:
		return "Starting"
	case Running:
		return "Running"
	case Stopping:
		return "Stopping"
	case Terminated:
		return "Terminated"
	case Failed:
		return "Failed"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// StartFunc prepares a service. It should return promptly when ctx is
// cancelled.
type StartFunc func(ctx context.Context) error

// RunFunc does the service's work until ctx is cancelled (a stop was
// requested), returning nil then, or an error when the service fails.
type RunFunc func(ctx context.Context) error

// StopFunc releases the service's resources. runErr is what start or run
// returned (nil on a requested stop).
type StopFunc func(runErr error) error

// Service is one component with a lifecycle. Its methods are safe for
// concurrent use.
type Service struct {
	name  string
	start StartFunc
	run   RunFunc
	stop  StopFunc

	mu      sync.Mutex
	state   State
	err     error
	cancel  context.CancelFunc
	running chan struct{} // closed on leaving Starting
	done    chan struct{} // closed on Terminated or Failed
}

// New builds a service. Any of the functions may be nil; a nil run waits
// for the stop request.
func New(name string, start StartFunc, run RunFunc, stop StopFunc) *Service {
	return &Service{
		name: name, start: start, run: run, stop: stop,
		running: make(chan struct{}),
		done:    make(chan struct{}),
	}
}

// Name returns the service's name.
func (s *Service) Name() string { return s.name }

// State returns the current state.
func (s *Service) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// Err returns why the service failed, or nil.
func (s *Service) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// StartAsync starts the service in the background. ctx bounds the service's
// whole life: cancelling it is the same as StopAsync.
func (s *Service) StartAsync(ctx context.Context) error {
	s.mu.Lock()
	if s.state != Created {
		s.mu.Unlock()
		return fmt.Errorf("starting service %s: state is %s, not Created", s.name, s.state)
	}
	s.state = Starting
	ctx, s.cancel = context.WithCancel(ctx)
	s.mu.Unlock()
	go s.main(ctx)
	return nil
}

func (s *Service) main(ctx context.Context) {
	var err error
	if s.start != nil {
		err = s.start(ctx)
	}
	s.mu.Lock()
	if err == nil && ctx.Err() == nil {
		s.state = Running
	}
	s.mu.Unlock()
	close(s.running)

	if err == nil && ctx.Err() == nil {
		if s.run != nil {
			err = s.run(ctx)
		} else {
			<-ctx.Done()
		}
	}
	if err == nil && ctx.Err() == nil {
		err = errors.New("run returned before a stop was requested")
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		err = nil
	}

	s.mu.Lock()
	s.state = Stopping
	s.mu.Unlock()
	var stopErr error
	if s.stop != nil {
		stopErr = s.stop(err)
	}
	s.mu.Lock()
	if err = errors.Join(err, stopErr); err != nil {
		s.state, s.err = Failed, fmt.Errorf("service %s: %w", s.name, err)
	} else {
		s.state = Terminated
	}
	s.mu.Unlock()
	s.cancel()
	close(s.done)
}

// AwaitRunning waits until the service is Running. It fails when the
// service stopped or failed before getting there, or when ctx ends.
func (s *Service) AwaitRunning(ctx context.Context) error {
	select {
	case <-s.running:
	case <-ctx.Done():
		return ctx.Err()
	}
	if st := s.State(); st != Running {
		select {
		case <-s.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if err := s.Err(); err != nil {
			return err
		}
		return fmt.Errorf("service %s: %s before running", s.name, st)
	}
	return nil
}

// StopAsync asks the service to stop. It is a no-op when it is not started.
func (s *Service) StopAsync() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == Created {
		s.state = Terminated
		close(s.running)
		close(s.done)
		return
	}
	if s.cancel != nil {
		s.cancel()
	}
}

// Done is closed when the service is Terminated or Failed.
func (s *Service) Done() <-chan struct{} { return s.done }

// AwaitTerminated waits for the service to end and returns its failure.
func (s *Service) AwaitTerminated(ctx context.Context) error {
	select {
	case <-s.done:
		return s.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
}
