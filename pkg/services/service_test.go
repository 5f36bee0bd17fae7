package services

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestServiceLifecycle(t *testing.T) {
	tests := map[string]struct {
		start     StartFunc
		run       RunFunc
		wantState State
		wantErr   string
	}{
		"clean stop": {wantState: Terminated},
		"start fails": {
			start:     func(context.Context) error { return errors.New("no ring") },
			wantState: Failed, wantErr: "no ring",
		},
		"run fails": {
			run:       func(context.Context) error { return errors.New("disk gone") },
			wantState: Failed, wantErr: "disk gone",
		},
		"run returns early without error": {
			run:       func(context.Context) error { return nil },
			wantState: Failed, wantErr: "before a stop was requested",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var stopped error
			s := New("x", tc.start, tc.run, func(err error) error { stopped = err; return nil })
			require.NoError(t, s.StartAsync(context.Background()))
			_ = s.AwaitRunning(context.Background())
			s.StopAsync()
			err := s.AwaitTerminated(context.Background())
			require.Equal(t, tc.wantState, s.State())
			if tc.wantErr == "" {
				require.NoError(t, err)
				require.NoError(t, stopped)
				return
			}
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}

func TestManagerStopsInReverseOrder(t *testing.T) {
	var mu sync.Mutex
	var order []string
	mk := func(name string) *Service {
		return New(name, func(context.Context) error {
			mu.Lock()
			order = append(order, "start "+name)
			mu.Unlock()
			return nil
		}, nil, func(error) error {
			mu.Lock()
			order = append(order, "stop "+name)
			mu.Unlock()
			return nil
		})
	}
	a, b, c := mk("a"), mk("b"), mk("c")
	m := NewManager(slog.New(slog.DiscardHandler), a, b, c)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- m.Run(ctx, time.Second) }()
	require.Eventually(t, func() bool { ok, _ := m.Ready(); return ok }, 5*time.Second, time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	require.Equal(t, []string{"start a", "start b", "start c", "stop c", "stop b", "stop a"}, order)
}

func TestManagerStopsAllWhenOneFails(t *testing.T) {
	fail := make(chan struct{})
	a := New("a", nil, nil, nil)
	b := New("b", nil, func(ctx context.Context) error {
		select {
		case <-fail:
			return errors.New("boom")
		case <-ctx.Done():
			return nil
		}
	}, nil)
	m := NewManager(slog.New(slog.DiscardHandler), a, b)
	done := make(chan error)
	go func() { done <- m.Run(context.Background(), time.Second) }()
	require.Eventually(t, func() bool { ok, _ := m.Ready(); return ok }, 5*time.Second, time.Millisecond)
	close(fail)
	err := <-done
	require.ErrorContains(t, err, "boom")
	require.Equal(t, Terminated, a.State())
}
