package ring

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

// Config configures one ring: how it is read ([Ring]) and how this process
// registers in it ([Lifecycler]). Its flags take a prefix naming the ring,
// e.g. "ingester.ring." gives -ingester.ring.replication-factor and the YAML
// keys `ingester: ring: replication_factor`.
type Config struct {
	KVKey                string        `yaml:"kv_key"`
	ReplicationFactor    int           `yaml:"replication_factor"`
	HeartbeatTimeout     time.Duration `yaml:"heartbeat_timeout"`
	ZoneAwarenessEnabled bool          `yaml:"zone_awareness_enabled"`

	NumTokens       int           `yaml:"num_tokens"`
	HeartbeatPeriod time.Duration `yaml:"heartbeat_period"`
	InstanceID      string        `yaml:"instance_id"`
	InstanceAddr    string        `yaml:"instance_addr"`
	InstancePort    int           `yaml:"instance_port"`
	InstanceZone    string        `yaml:"instance_zone"`
	TokensFilePath  string        `yaml:"tokens_file_path"`

	prefix string // for error messages
}

// RegisterFlagsWithPrefix registers the ring's flags as -<prefix><name>;
// prefix ends with a dot ("ingester.ring."). The KV key defaults to the
// prefix without its trailing dot.
func (c *Config) RegisterFlagsWithPrefix(prefix string, f *flag.FlagSet) {
	c.prefix = prefix
	key := strings.TrimSuffix(prefix, ".")
	if key == "" {
		key = "ring"
	}
	host, _ := os.Hostname() // empty on error; Validate then asks for the flag
	f.StringVar(&c.KVKey, prefix+"kv-key", key, "Key of the ring in the KV store (-memberlist.*). Rings sharing a key are one ring.")
	// 3 keeps a quorum of 2 with one replica down.
	f.IntVar(&c.ReplicationFactor, prefix+"replication-factor", 3, "Number of instances each series (or key) is written to; a write needs replication-factor/2+1 of them. Never lowered to fit fewer instances.")
	// 12 missed heartbeats at the default 5s period.
	f.DurationVar(&c.HeartbeatTimeout, prefix+"heartbeat-timeout", time.Minute, "An instance whose last heartbeat is older than this is unhealthy and counts as a failed replica. See also -"+prefix+"heartbeat-period.")
	f.BoolVar(&c.ZoneAwarenessEnabled, prefix+"zone-awareness-enabled", false, "Put the replicas of a key in distinct zones (-"+prefix+"instance-zone), so a whole zone may fail.")
	// 128 random tokens spread ownership within a few percent of even.
	f.IntVar(&c.NumTokens, prefix+"num-tokens", 128, "Number of tokens this instance takes in the ring.")
	f.DurationVar(&c.HeartbeatPeriod, prefix+"heartbeat-period", 5*time.Second, "How often this instance refreshes its heartbeat in the ring. See also -"+prefix+"heartbeat-timeout.")
	f.StringVar(&c.InstanceID, prefix+"instance-id", host, "ID of this instance in the ring; must be unique and stable across restarts. Default: the hostname.")
	f.StringVar(&c.InstanceAddr, prefix+"instance-addr", "", "IP address other components reach this instance's gRPC server at. Empty means the first private address of this host.")
	f.IntVar(&c.InstancePort, prefix+"instance-port", 9095, "Port other components reach this instance's gRPC server at; must match its gRPC listen port.")
	f.StringVar(&c.InstanceZone, prefix+"instance-zone", "", "Zone (failure domain) of this instance. See also -"+prefix+"zone-awareness-enabled.")
	f.StringVar(&c.TokensFilePath, prefix+"tokens-file-path", "", "File in which this instance keeps its tokens, to take the same ones back after a restart. Empty keeps them only in the ring.")
}

// Validate reports every invalid setting.
func (c *Config) Validate() error {
	p := "-" + c.prefix
	var errs []error
	if c.KVKey == "" {
		errs = append(errs, errors.New(p+"kv-key: empty"))
	}
	if c.ReplicationFactor < 1 {
		errs = append(errs, fmt.Errorf(p+"replication-factor: %d, must be at least 1", c.ReplicationFactor))
	}
	if c.HeartbeatTimeout <= 0 {
		errs = append(errs, errors.New(p+"heartbeat-timeout: must be positive"))
	}
	if c.NumTokens < 1 {
		errs = append(errs, fmt.Errorf(p+"num-tokens: %d, must be at least 1", c.NumTokens))
	}
	if c.HeartbeatPeriod <= 0 {
		errs = append(errs, errors.New(p+"heartbeat-period: must be positive"))
	} else if c.HeartbeatTimeout > 0 && c.HeartbeatPeriod >= c.HeartbeatTimeout {
		errs = append(errs, fmt.Errorf(p+"heartbeat-period: %s must be shorter than heartbeat-timeout %s", c.HeartbeatPeriod, c.HeartbeatTimeout))
	}
	if c.InstancePort < 0 || c.InstancePort > 65535 {
		errs = append(errs, fmt.Errorf(p+"instance-port: %d is not a port", c.InstancePort))
	}
	return errors.Join(errs...)
}

// validateLifecycler reports what a lifecycler needs beyond Validate.
func (c *Config) validateLifecycler() error {
	if c.InstanceID == "" {
		return errors.New("-" + c.prefix + "instance-id: empty (the hostname could not be read)")
	}
	return nil
}
