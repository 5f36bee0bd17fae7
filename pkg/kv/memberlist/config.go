package memberlist

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"strings"
	"time"
)

// Config configures the gossip KV. Its flags are -memberlist.*; the YAML
// section is `memberlist:`.
type Config struct {
	NodeName             string        `yaml:"node_name"`
	Join                 StringList    `yaml:"join"`
	BindAddr             string        `yaml:"bind_addr"`
	BindPort             int           `yaml:"bind_port"`
	AdvertiseAddr        string        `yaml:"advertise_addr"`
	AdvertisePort        int           `yaml:"advertise_port"`
	GossipInterval       time.Duration `yaml:"gossip_interval"`
	GossipNodes          int           `yaml:"gossip_nodes"`
	RetransmitFactor     int           `yaml:"retransmit_factor"`
	PushPullInterval     time.Duration `yaml:"push_pull_interval"`
	RejoinInterval       time.Duration `yaml:"rejoin_interval"`
	LeftInstancesTimeout time.Duration `yaml:"left_instances_timeout"`
	LeaveTimeout         time.Duration `yaml:"leave_timeout"`
	SecretKey            string        `yaml:"secret_key"`
}

// RegisterFlags registers the -memberlist.* flags with their defaults.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&c.NodeName, "memberlist.node-name", "", "Name of this process in the gossip cluster; must be unique. Empty means the hostname plus a random suffix.")
	f.Var(&c.Join, "memberlist.join", "Comma-separated host:port list of members to join (port defaults to -memberlist.bind-port). Names are resolved to all their addresses, and resolved again every -memberlist.rejoin-interval.")
	f.StringVar(&c.BindAddr, "memberlist.bind-addr", "0.0.0.0", "IP address to listen on for gossip (TCP and UDP). The all-in-one (-target=all) listens on 127.0.0.1 unless this is set, or it joins others (-memberlist.join) or advertises a non-loopback address.")
	f.IntVar(&c.BindPort, "memberlist.bind-port", 7946, "Port to listen on for gossip (TCP and UDP); 0 picks a free port.")
	f.StringVar(&c.AdvertiseAddr, "memberlist.advertise-addr", "", "IP address other members reach this one at. Empty means -memberlist.bind-addr, or a private address of this host when that is 0.0.0.0.")
	f.IntVar(&c.AdvertisePort, "memberlist.advertise-port", 0, "Port other members reach this one at; 0 means the bound port (see -memberlist.bind-port).")
	// 200ms and 3 nodes are memberlist's LAN defaults: a change reaches a
	// 100-member cluster in about a second.
	f.DurationVar(&c.GossipInterval, "memberlist.gossip-interval", 200*time.Millisecond, "How often changes are gossiped to -memberlist.gossip-nodes random members.")
	f.IntVar(&c.GossipNodes, "memberlist.gossip-nodes", 3, "How many random members each gossip round sends changes to.")
	f.IntVar(&c.RetransmitFactor, "memberlist.retransmit-factor", 4, "Each change is sent retransmit-factor × log(members+1) times.")
	// Full-state exchange repairs lost broadcasts; 30s is memberlist's LAN
	// default and costs one TCP round trip per member per interval.
	f.DurationVar(&c.PushPullInterval, "memberlist.push-pull-interval", 30*time.Second, "How often the full state is exchanged with a random member; 0 disables.")
	f.DurationVar(&c.RejoinInterval, "memberlist.rejoin-interval", 30*time.Second, "How often the -memberlist.join names are resolved again and new addresses joined; 0 disables.")
	// 5m is far longer than a change takes to reach every member, so a
	// tombstone is gone only once everyone has seen it.
	f.DurationVar(&c.LeftInstancesTimeout, "memberlist.left-instances-timeout", 5*time.Minute, "How long tombstones of instances that left a ring are kept before they are removed.")
	f.DurationVar(&c.LeaveTimeout, "memberlist.leave-timeout", 5*time.Second, "On shutdown, how long to wait for pending changes to be gossiped and for the leave message to spread.")
	f.StringVar(&c.SecretKey, "memberlist.secret-key", "", "Shared secret that encrypts and authenticates gossip (AES-256-GCM with a key derived from it by SHA-256); a member without it can neither join nor gossip state. Every member needs the same one. Empty means a key derived from the cluster secret (-auth.cluster-secret-file); a process that authenticates internal gRPC with -auth.grpc-tls-* alone must set it.")
}

// Validate reports every invalid setting.
func (c *Config) Validate() error {
	var errs []error
	if c.BindAddr != "" && net.ParseIP(c.BindAddr) == nil {
		errs = append(errs, fmt.Errorf("memberlist.bind-addr: %q is not an IP address", c.BindAddr))
	}
	if c.AdvertiseAddr != "" && net.ParseIP(c.AdvertiseAddr) == nil {
		errs = append(errs, fmt.Errorf("memberlist.advertise-addr: %q is not an IP address", c.AdvertiseAddr))
	}
	for name, p := range map[string]int{"memberlist.bind-port": c.BindPort, "memberlist.advertise-port": c.AdvertisePort} {
		if p < 0 || p > 65535 {
			errs = append(errs, fmt.Errorf("%s: %d is not a port", name, p))
		}
	}
	if c.GossipInterval <= 0 {
		errs = append(errs, errors.New("memberlist.gossip-interval: must be positive"))
	}
	if c.GossipNodes < 1 {
		errs = append(errs, errors.New("memberlist.gossip-nodes: must be at least 1"))
	}
	if c.RetransmitFactor < 1 {
		errs = append(errs, errors.New("memberlist.retransmit-factor: must be at least 1"))
	}
	for name, d := range map[string]time.Duration{"memberlist.push-pull-interval": c.PushPullInterval, "memberlist.rejoin-interval": c.RejoinInterval, "memberlist.leave-timeout": c.LeaveTimeout} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s: must not be negative", name))
		}
	}
	if c.LeftInstancesTimeout <= 0 {
		errs = append(errs, errors.New("memberlist.left-instances-timeout: must be positive"))
	}
	for _, j := range c.Join {
		if strings.TrimSpace(j) == "" {
			errs = append(errs, errors.New("memberlist.join: empty entry"))
		}
	}
	return errors.Join(errs...)
}

// StringList is a flag holding a comma-separated list; in YAML it is a list.
type StringList []string

// String implements [flag.Value].
func (l *StringList) String() string { return strings.Join(*l, ",") }

// Set implements [flag.Value].
func (l *StringList) Set(s string) error {
	*l = nil
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}
