package app

import (
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
)

func TestCgroupMemoryLimit(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	for name, tc := range map[string]struct {
		files fstest.MapFS
		want  int64
		err   bool
	}{
		"no cgroup files: no limit": {files: fstest.MapFS{}},
		"cgroup v2, own cgroup namespace": {
			files: fstest.MapFS{"proc/self/cgroup": file("0::/\n"), "sys/fs/cgroup/memory.max": file("1073741824\n")},
			want:  1 << 30,
		},
		"cgroup v2, the process's cgroup named in /proc/self/cgroup": {
			files: fstest.MapFS{
				"proc/self/cgroup": file("0::/kubepods/pod1/hearth\n"),
				"sys/fs/cgroup/kubepods/pod1/hearth/memory.max": file("536870912\n"),
				"sys/fs/cgroup/memory.max":                      file("max\n"),
			},
			want: 512 << 20,
		},
		"cgroup v2 without a limit": {
			files: fstest.MapFS{"proc/self/cgroup": file("0::/\n"), "sys/fs/cgroup/memory.max": file("max\n")},
		},
		"cgroup v1 with a limit": {
			files: fstest.MapFS{
				"proc/self/cgroup": file("12:cpu,cpuacct:/docker/abc\n11:memory:/docker/abc\n"),
				"sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes": file("2147483648\n"),
			},
			want: 2 << 30,
		},
		"cgroup v1 without a limit (the largest page-aligned int64)": {
			files: fstest.MapFS{"sys/fs/cgroup/memory/memory.limit_in_bytes": file("9223372036854771712\n")},
		},
		"garbage in the limit file": {
			files: fstest.MapFS{"sys/fs/cgroup/memory.max": file("lots\n")},
			err:   true,
		},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := cgroupMemoryLimit(tc.files)
			if tc.err {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestPlanGC(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	for name, tc := range map[string]struct {
		cfg    GCConfig
		getenv func(string) string
		cgroup int64
		want   gcSettings
	}{
		"the flags, a cgroup limit": {
			cfg: GCConfig{GCPercent: 50, MemoryLimitRatio: 0.9}, getenv: env(), cgroup: 1000,
			want: gcSettings{GCPercent: 50, GCPercentFrom: "flag", MemoryLimit: 900, CgroupLimit: 1000, MemoryLimitOf: "cgroup"},
		},
		"no cgroup limit: no memory limit": {
			cfg: GCConfig{GCPercent: 50, MemoryLimitRatio: 0.9}, getenv: env(),
			want: gcSettings{GCPercent: 50, GCPercentFrom: "flag", MemoryLimitOf: "no cgroup limit"},
		},
		"ratio 0 turns the memory limit off": {
			cfg: GCConfig{GCPercent: 50}, getenv: env(), cgroup: 1000,
			want: gcSettings{GCPercent: 50, GCPercentFrom: "flag", CgroupLimit: 1000, MemoryLimitOf: "off"},
		},
		"the environment wins": {
			cfg: GCConfig{GCPercent: 50, MemoryLimitRatio: 0.9}, getenv: env("GOGC", "200", "GOMEMLIMIT", "1GiB"), cgroup: 1000,
			want: gcSettings{GCPercentFrom: "GOGC", CgroupLimit: 1000, MemoryLimitOf: "GOMEMLIMIT"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, tc.want, planGC(tc.cfg, tc.getenv, tc.cgroup))
		})
	}
}

func TestGCConfigValidate(t *testing.T) {
	for name, tc := range map[string]struct {
		cfg GCConfig
		err string
	}{
		"defaults":           {cfg: GCConfig{GCPercent: defaultGCPercent, MemoryLimitRatio: 0.9}},
		"gc percent 0":       {cfg: GCConfig{GCPercent: 0}, err: "server.gc_percent 0: must be at least 1"},
		"ratio above 1":      {cfg: GCConfig{GCPercent: 50, MemoryLimitRatio: 1.5}, err: "server.memory_limit_ratio 1.5: must be in [0, 1]"},
		"negative ratio":     {cfg: GCConfig{GCPercent: 50, MemoryLimitRatio: -0.1}, err: "server.memory_limit_ratio -0.1: must be in [0, 1]"},
		"both wrong at once": {cfg: GCConfig{GCPercent: -1, MemoryLimitRatio: 2}, err: "server.gc_percent -1: must be at least 1\nserver.memory_limit_ratio 2: must be in [0, 1]"},
	} {
		t.Run(name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.err == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, tc.err)
		})
	}
}
