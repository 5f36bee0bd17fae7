package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/hearthmetrics/hearth/pkg/services"
)

// ServerConfig configures the HTTP and gRPC listeners.
type ServerConfig struct {
	HTTPListenAddress     string        `yaml:"http_listen_address"`
	InternalListenAddress string        `yaml:"internal_listen_address"`
	GRPCListenAddress     string        `yaml:"grpc_listen_address"`
	GracefulTimeout       time.Duration `yaml:"graceful_shutdown_timeout"`

	HTTP HTTPServerConfig `yaml:",inline"`
	GC   GCConfig         `yaml:",inline"`
}

// RegisterFlags registers the server flags.
func (c *ServerConfig) RegisterFlags(f *flag.FlagSet) {
	// 9009 and 9095 are Cortex's defaults, so existing configs keep working.
	f.StringVar(&c.HTTPListenAddress, "server.http-listen-address", ":9009", "HTTP listen address (host:port) for the public API, /metrics and /ready.")
	// Loopback by default: nothing operators use is open to the network
	// until they say so.
	f.StringVar(&c.InternalListenAddress, "server.internal-listen-address", "127.0.0.1:9010", "HTTP listen address (host:port) for operator endpoints: /metrics, /config, /services, /ring, /debug/pprof, ingester and tenant administration. Never expose it to tenants. See also -server.http-listen-address.")
	f.StringVar(&c.GRPCListenAddress, "server.grpc-listen-address", ":9095", "gRPC listen address (host:port) for traffic between components. The all-in-one (-target=all) listens on 127.0.0.1 unless this is set, or it joins others (-memberlist.join) or advertises a non-loopback address (-memberlist.advertise-addr, -ingester.ring.instance-addr).")
	f.DurationVar(&c.GracefulTimeout, "server.graceful-shutdown-timeout", 30*time.Second, "How long in-flight requests may take to finish on shutdown.")
	c.HTTP.RegisterFlags(f)
	c.GC.RegisterFlags(f)
}

// Validate reports every invalid setting.
func (c *ServerConfig) Validate() error {
	var errs []error
	for name, addr := range map[string]string{"server.http_listen_address": c.HTTPListenAddress, "server.internal_listen_address": c.InternalListenAddress, "server.grpc_listen_address": c.GRPCListenAddress} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", name, addr, err))
		}
	}
	errs = append(errs, c.HTTP.Validate(), c.GC.Validate())
	return errors.Join(errs...)
}

// servers owns the process's listeners. They are bound when the servers are
// built, so the addresses are known (and port 0 resolved) before anything
// starts, and served by a service that starts last and stops first.
type servers struct {
	logger *slog.Logger
	cfg    ServerConfig
	// mux serves tenants (push, queries); internal serves operators.
	mux         *http.ServeMux
	internal    *http.ServeMux
	grpc        *grpc.Server
	httpLis     net.Listener
	internalLis net.Listener
	grpcLis     net.Listener
	httpSrv     *http.Server
	internalSrv *http.Server
}

// newServers binds the listeners. authOpts authenticate gRPC callers (see
// newGRPCServer).
func newServers(logger *slog.Logger, reg prometheus.Registerer, cfg ServerConfig, maxMsgSize int, authOpts []grpc.ServerOption) (*servers, error) {
	httpLis, err := net.Listen("tcp", cfg.HTTPListenAddress)
	if err != nil {
		return nil, fmt.Errorf("listening on -server.http-listen-address=%s: %w", cfg.HTTPListenAddress, err)
	}
	internalLis, err := net.Listen("tcp", cfg.InternalListenAddress)
	if err != nil {
		httpLis.Close()
		return nil, fmt.Errorf("listening on -server.internal-listen-address=%s: %w", cfg.InternalListenAddress, err)
	}
	grpcLis, err := net.Listen("tcp", cfg.GRPCListenAddress)
	if err != nil {
		httpLis.Close()
		internalLis.Close()
		return nil, fmt.Errorf("listening on -server.grpc-listen-address=%s: %w", cfg.GRPCListenAddress, err)
	}
	s := &servers{
		logger:      logger,
		cfg:         cfg,
		mux:         http.NewServeMux(),
		internal:    http.NewServeMux(),
		httpLis:     httpLis,
		internalLis: internalLis,
		grpcLis:     grpcLis,
	}
	s.grpc = newGRPCServer(logger, reg, maxMsgSize, authOpts)
	errLog := slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
	s.httpSrv = &http.Server{Handler: instrumentRoutes(reg, s.mux), ReadHeaderTimeout: 10 * time.Second, ErrorLog: errLog}
	s.internalSrv = &http.Server{Handler: s.internal, ReadHeaderTimeout: 10 * time.Second, ErrorLog: errLog}
	return s, nil
}

// HTTPAddr is the bound HTTP address.
func (s *servers) HTTPAddr() string { return s.httpLis.Addr().String() }

// InternalAddr is the bound operator HTTP address.
func (s *servers) InternalAddr() string { return s.internalLis.Addr().String() }

// GRPCAddr is the bound gRPC address.
func (s *servers) GRPCAddr() string { return s.grpcLis.Addr().String() }

func (s *servers) close() {
	s.httpLis.Close()
	s.internalLis.Close()
	s.grpcLis.Close()
}

// service serves both listeners until stopped, then drains them.
func (s *servers) service() *services.Service {
	errc := make(chan error, 3)
	return services.New("server", func(context.Context) error {
		go func() {
			if err := s.httpSrv.Serve(s.httpLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("serving HTTP: %w", err)
			}
		}()
		go func() {
			if err := s.internalSrv.Serve(s.internalLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("serving internal HTTP: %w", err)
			}
		}()
		go func() {
			if err := s.grpc.Serve(s.grpcLis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
				errc <- fmt.Errorf("serving gRPC: %w", err)
			}
		}()
		s.logger.Info("Listening", "http", s.HTTPAddr(), "internal", s.InternalAddr(), "grpc", s.GRPCAddr())
		return nil
	}, func(ctx context.Context) error {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			return err
		}
	}, func(error) error {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.GracefulTimeout)
		defer cancel()
		err := errors.Join(s.httpSrv.Shutdown(ctx), s.internalSrv.Shutdown(ctx))
		done := make(chan struct{})
		go func() { s.grpc.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			s.grpc.Stop()
			<-done
		}
		return err
	})
}
