package app

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// GCConfig sets the Go garbage collector's targets: how far the heap may
// grow past what is live before a collection (GOGC), and a soft memory
// limit taken from the container's cgroup (GOMEMLIMIT). Its keys sit in the
// `server:` section. The GOGC and GOMEMLIMIT environment variables, when
// set, win over it, as in Prometheus.
type GCConfig struct {
	GCPercent        int     `yaml:"gc_percent"`
	MemoryLimitRatio float64 `yaml:"memory_limit_ratio"`
}

// defaultGCPercent is the heap growth allowed past the live heap before a
// collection: 100, Go's own default (and Cortex's and Mimir's). An
// ingester's live heap is its heads, so between collections the heap (and
// the resident memory, which the runtime keeps up to the heap goal) grows
// to 2× the heads; Prometheus's 75 makes that 1.75×. BENCHMARKS.md
// scenario 3 ("RSS at 1M series against VictoriaMetrics") measured 100, 50
// and 25 on the all-in-one (50 cost ~5% CPU per sample while the heads
// grow), and scenario 2's loopback cluster, whose gRPC hop between
// distributor and ingesters allocates far more, used 17% (RF=1) and 31%
// (RF=3) more CPU per sample at 75 than at 100 in one run each: the
// default keeps the CPU, an operator short of memory lowers it.
const defaultGCPercent = 100

// RegisterFlags registers -server.gc-percent and -server.memory-limit-ratio.
func (c *GCConfig) RegisterFlags(f *flag.FlagSet) {
	f.IntVar(&c.GCPercent, "server.gc-percent", defaultGCPercent, "Heap growth, in percent of the live heap, that starts the next garbage collection (Go's GOGC, whose own default is 100; Prometheus's runtime.gogc defaults to 75). Lower keeps the resident memory nearer the live heap (an ingester's heads) for more CPU spent collecting. The GOGC environment variable, when set, wins. See also -server.memory-limit-ratio.")
	// 0.9: Prometheus's --auto-gomemlimit.ratio, leaving a tenth of the
	// limit for memory the Go runtime does not count (mmapped files,
	// fragmentation) before the kernel's OOM killer acts.
	f.Float64Var(&c.MemoryLimitRatio, "server.memory-limit-ratio", 0.9, "Sets Go's soft memory limit (GOMEMLIMIT) to this fraction of the container's cgroup memory limit, read at start (cgroup v2 or v1); near it the garbage collector runs more often, whatever -server.gc-percent, instead of the process being killed. No effect without a cgroup limit, or when the GOMEMLIMIT environment variable is set. 0 turns it off.")
}

// Validate reports every invalid setting.
func (c *GCConfig) Validate() error {
	var errs []error
	if c.GCPercent < 1 {
		errs = append(errs, fmt.Errorf("server.gc_percent %d: must be at least 1", c.GCPercent))
	}
	if c.MemoryLimitRatio < 0 || c.MemoryLimitRatio > 1 || math.IsNaN(c.MemoryLimitRatio) {
		errs = append(errs, fmt.Errorf("server.memory_limit_ratio %v: must be in [0, 1]", c.MemoryLimitRatio))
	}
	return errors.Join(errs...)
}

// gcSettings is what applyGC decided, for the log line and for tests.
type gcSettings struct {
	// GCPercent is the GOGC in effect; GCPercentFrom is "flag" or "GOGC".
	GCPercent     int
	GCPercentFrom string
	// MemoryLimit is the soft limit set from the cgroup, 0 when none was
	// (no limit found, the ratio is 0, or GOMEMLIMIT is set).
	MemoryLimit   int64
	CgroupLimit   int64
	MemoryLimitOf string
}

// planGC works out the settings from the configuration, the environment
// (getenv) and the cgroup limit (0 when there is none).
func planGC(cfg GCConfig, getenv func(string) string, cgroupLimit int64) gcSettings {
	s := gcSettings{GCPercent: cfg.GCPercent, GCPercentFrom: "flag", CgroupLimit: cgroupLimit}
	if getenv("GOGC") != "" {
		s.GCPercent, s.GCPercentFrom = 0, "GOGC"
	}
	switch {
	case getenv("GOMEMLIMIT") != "":
		s.MemoryLimitOf = "GOMEMLIMIT"
	case cfg.MemoryLimitRatio == 0:
		s.MemoryLimitOf = "off"
	case cgroupLimit <= 0:
		s.MemoryLimitOf = "no cgroup limit"
	default:
		s.MemoryLimit = int64(float64(cgroupLimit) * cfg.MemoryLimitRatio)
		s.MemoryLimitOf = "cgroup"
	}
	return s
}

// applyGC sets the process's GC percent and memory limit from cfg, unless
// the GOGC and GOMEMLIMIT environment variables set them, and logs what is
// in effect. It changes process-wide settings: only Main calls it.
func applyGC(cfg GCConfig, logger *slog.Logger) {
	limit, err := cgroupMemoryLimit(os.DirFS("/"))
	if err != nil {
		logger.Warn("Reading the cgroup memory limit failed: GOMEMLIMIT is left unset (see -server.memory-limit-ratio)", "err", err)
	}
	s := planGC(cfg, os.Getenv, limit)
	if s.GCPercentFrom == "flag" {
		debug.SetGCPercent(s.GCPercent)
		// Written back, as Prometheus does, for the GOGC that
		// /api/v1/status/runtimeinfo reports.
		if err := os.Setenv("GOGC", strconv.Itoa(s.GCPercent)); err != nil {
			logger.Warn("Setting GOGC in the environment failed", "err", err)
		}
	} else {
		s.GCPercent = debug.SetGCPercent(-1)
		debug.SetGCPercent(s.GCPercent)
	}
	if s.MemoryLimit > 0 {
		debug.SetMemoryLimit(s.MemoryLimit)
	}
	logger.Info("Garbage collector", "gc_percent", s.GCPercent, "gc_percent_from", s.GCPercentFrom,
		"memory_limit_bytes", debug.SetMemoryLimit(-1), "memory_limit_from", s.MemoryLimitOf, "cgroup_limit_bytes", s.CgroupLimit)
}

// cgroupMemoryLimit returns the memory limit of the process's cgroup in
// bytes, 0 when it has none, read from root (the file system at /): cgroup
// v2's memory.max, or cgroup v1's memory.limit_in_bytes, of the cgroup named
// in /proc/self/cgroup, else of the hierarchy's root (what a container with
// its own cgroup namespace sees).
func cgroupMemoryLimit(root fs.FS) (int64, error) {
	v2Path, v1Path := "", ""
	if b, err := fs.ReadFile(root, "proc/self/cgroup"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			// hierarchy-ID:controller-list:cgroup-path
			parts := strings.SplitN(sc.Text(), ":", 3)
			if len(parts) != 3 {
				continue
			}
			p := strings.Trim(parts[2], "/")
			switch {
			case parts[0] == "0" && parts[1] == "":
				v2Path = p
			case hasController(parts[1], "memory"):
				v1Path = p
			}
		}
	}
	candidates := []string{
		joinCgroup("sys/fs/cgroup", v2Path, "memory.max"),
		"sys/fs/cgroup/memory.max",
		joinCgroup("sys/fs/cgroup/memory", v1Path, "memory.limit_in_bytes"),
		"sys/fs/cgroup/memory/memory.limit_in_bytes",
	}
	for _, name := range candidates {
		b, err := fs.ReadFile(root, name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("reading /%s: %w", name, err)
		}
		v := strings.TrimSpace(string(b))
		if v == "max" {
			return 0, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parsing /%s %q: %w", name, v, err)
		}
		// cgroup v1 says "no limit" with the largest page-aligned int64.
		if n <= 0 || n >= math.MaxInt64&^(1<<12-1) {
			return 0, nil
		}
		return n, nil
	}
	return 0, nil
}

func hasController(list, name string) bool {
	for c := range strings.SplitSeq(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

func joinCgroup(base, path, file string) string {
	if path == "" {
		return base + "/" + file
	}
	return base + "/" + path + "/" + file
}
