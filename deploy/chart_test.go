package deploy

import (
	"bufio"
	"bytes"
	"io"

	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/app"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// namespace is the namespace the plain manifests are rendered for (the
// Services' DNS names in flags and the gateway contain it).
const namespace = "hearth"

// internalPort is the operator listener's port (values: ports.internal).
const internalPort = 9010

// notYetInHearth are flags and -target values the chart passes that this
// tree's hearth does not have yet (none today). The test fails when an
// entry exists in hearth -help, so the list cannot go stale.
var notYetInHearth = map[string]bool{}

// rendered is the chart rendered with one set of values, decoded strictly
// into the Kubernetes API types.
type rendered struct {
	raw          string
	deployments  []*appsv1.Deployment
	statefulSets []*appsv1.StatefulSet
	services     []*corev1.Service
	configMaps   []*corev1.ConfigMap
	pdbs         []*policyv1.PodDisruptionBudget
	hpas         []*autoscalingv2.HorizontalPodAutoscaler
	policies     []*networkingv1.NetworkPolicy
}

// helmTemplate runs `helm template` (the helm of tools/go.mod) from the
// repository root with extra arguments.
func helmTemplate(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"tool", "-modfile=tools/go.mod", "helm", "template", "hearth", "deploy/helm/hearth", "--namespace", namespace}, args...)...)
	cmd.Dir = ".."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoErrorf(t, err, "helm template: %s", stderr.String())
	return string(out)
}

// render renders the chart and decodes every object: an unknown field, a
// duplicate key or an unexpected kind fails.
func render(t *testing.T, args ...string) *rendered {
	t.Helper()
	r := &rendered{raw: helmTemplate(t, args...)}
	for _, doc := range strings.Split(r.raw, "\n---\n") {
		doc = strings.TrimSpace(strings.TrimPrefix(doc, "---"))
		if strings.Trim(doc, "\n ") == "" || !strings.Contains(doc, "kind:") {
			continue
		}
		var tm metav1.TypeMeta
		require.NoError(t, yaml.Unmarshal([]byte(doc), &tm))
		var into any
		switch tm.Kind {
		case "Deployment":
			o := &appsv1.Deployment{}
			r.deployments, into = append(r.deployments, o), o
		case "StatefulSet":
			o := &appsv1.StatefulSet{}
			r.statefulSets, into = append(r.statefulSets, o), o
		case "Service":
			o := &corev1.Service{}
			r.services, into = append(r.services, o), o
		case "ConfigMap":
			o := &corev1.ConfigMap{}
			r.configMaps, into = append(r.configMaps, o), o
		case "PodDisruptionBudget":
			o := &policyv1.PodDisruptionBudget{}
			r.pdbs, into = append(r.pdbs, o), o
		case "HorizontalPodAutoscaler":
			o := &autoscalingv2.HorizontalPodAutoscaler{}
			r.hpas, into = append(r.hpas, o), o
		case "NetworkPolicy":
			o := &networkingv1.NetworkPolicy{}
			r.policies, into = append(r.policies, o), o
		case "ServiceAccount":
			into = &corev1.ServiceAccount{}
		default:
			t.Fatalf("the chart renders a %s the test does not know:\n%s", tm.Kind, doc)
		}
		require.NoErrorf(t, yaml.UnmarshalStrict([]byte(doc), into), "decoding %s:\n%s", tm.Kind, doc)
	}
	return r
}

// podSpecs returns every workload's pod spec by workload name.
func (r *rendered) podSpecs() map[string]corev1.PodSpec {
	out := map[string]corev1.PodSpec{}
	for _, d := range r.deployments {
		out[d.Name] = d.Spec.Template.Spec
	}
	for _, s := range r.statefulSets {
		out[s.Name] = s.Spec.Template.Spec
	}
	return out
}

// hearthFlags lists the flags of the hearth binary built from this tree,
// read from its -help.
func hearthFlags(t *testing.T) map[string]bool {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "hearth")
	build := exec.Command("go", "build", "-o", bin, "../cmd/hearth")
	out, err := build.CombinedOutput()
	require.NoErrorf(t, err, "building cmd/hearth: %s", out)
	help, _ := exec.Command(bin, "-help").CombinedOutput() // -help exits 0 or 2 by flag package version
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z0-9.-]+)`).FindAllStringSubmatch(string(help), -1) {
		flags[m[1]] = true
	}
	require.Greater(t, len(flags), 50, "no flags in hearth -help:\n%s", help)
	// The targets, from -target's help: "Comma-separated components to
	// run: all, distributor, ...".
	targets := regexp.MustCompile(`components to run: ([a-z, -]+)\.`).FindStringSubmatch(string(help))
	require.NotNil(t, targets, "no list of targets in hearth -help")
	for _, target := range strings.Split(targets[1], ", ") {
		flags["target="+target] = true
	}
	for f := range notYetInHearth {
		require.Falsef(t, flags[f], "hearth -help has %s now: remove it from notYetInHearth", f)
	}
	return flags
}

func TestChart(t *testing.T) {
	flags := hearthFlags(t)
	for name, args := range map[string][]string{
		"default values":          nil,
		"zone-aware replication":  {"--set", "ingester.zoneAwareReplication.enabled=true"},
		"without the autoscaler":  {"--set", "distributor.autoscaling.enabled=false"},
		"with Bigtable key files": {"--set", "bigtable.credentialsKey=key.json"},
	} {
		t.Run(name, func(t *testing.T) {
			r := render(t, args...)
			checkContainers(t, r, flags)
			checkIngesters(t, r)
			checkServices(t, r)
			checkConfig(t, r, flags)
			checkParses(t, r)
			require.Len(t, r.hpas, map[bool]int{true: 0, false: 1}[name == "without the autoscaler"])
			require.NotEmpty(t, r.policies)
		})
	}
	t.Run("zone-aware ingesters", func(t *testing.T) {
		r := render(t, "--set", "ingester.zoneAwareReplication.enabled=true")
		zones := map[string]bool{}
		for _, s := range r.statefulSets {
			if s.Labels["app.kubernetes.io/component"] != "ingester" {
				continue
			}
			args := s.Spec.Template.Spec.Containers[0].Args
			require.Contains(t, args, "-ingester.ring.zone-awareness-enabled=true")
			for _, a := range args {
				if z, ok := strings.CutPrefix(a, "-ingester.ring.instance-zone="); ok {
					zones[z] = true
					require.Equal(t, z, s.Spec.Template.Labels["hearth.io/zone"])
					require.Equal(t, z, s.Spec.Selector.MatchLabels["hearth.io/zone"])
					require.NotEmpty(t, s.Spec.Template.Spec.NodeSelector)
				}
			}
		}
		require.Len(t, zones, 3)
		for _, d := range r.deployments {
			if strings.Contains(d.Spec.Template.Spec.Containers[0].Image, "hearth") {
				require.Contains(t, d.Spec.Template.Spec.Containers[0].Args, "-ingester.ring.zone-awareness-enabled=true", d.Name)
			}
		}
	})
}

// checkContainers: every container has both probes and resources; every
// flag a Hearth container gets exists in hearth -help.
func checkContainers(t *testing.T, r *rendered, flags map[string]bool) {
	t.Helper()
	specs := r.podSpecs()
	require.NotEmpty(t, specs)
	for workload, spec := range specs {
		require.NotNil(t, spec.SecurityContext, workload)
		require.True(t, *spec.SecurityContext.RunAsNonRoot, workload)
		for _, c := range spec.Containers {
			where := workload + "/" + c.Name
			require.NotNil(t, c.ReadinessProbe, "%s has no readiness probe", where)
			require.NotNil(t, c.LivenessProbe, "%s has no liveness probe", where)
			require.False(t, c.Resources.Requests.Cpu().IsZero(), "%s requests no CPU", where)
			require.False(t, c.Resources.Requests.Memory().IsZero(), "%s requests no memory", where)
			require.False(t, c.Resources.Limits.Memory().IsZero(), "%s has no memory limit", where)
			if !strings.Contains(c.Image, "/hearth:") {
				continue
			}
			require.Equal(t, "/ready", c.ReadinessProbe.HTTPGet.Path, where)
			require.Empty(t, c.Command, "%s: the image's entrypoint is hearth", where)
			for _, a := range c.Args {
				name, value, _ := strings.Cut(strings.TrimPrefix(a, "-"), "=")
				if name == "target" {
					name += "=" + value
				}
				require.Truef(t, strings.HasPrefix(a, "-") && (flags[name] || notYetInHearth[name]), "%s passes %q: no such flag in hearth -help", where, a)
			}
		}
	}
}

// checkIngesters: a PVC for the WAL, a PDB of one, a grace period for the
// WAL to close.
func checkIngesters(t *testing.T, r *rendered) {
	t.Helper()
	n := 0
	for _, s := range r.statefulSets {
		if s.Labels["app.kubernetes.io/component"] != "ingester" {
			continue
		}
		n++
		require.Len(t, s.Spec.VolumeClaimTemplates, 1, s.Name)
		pvc := s.Spec.VolumeClaimTemplates[0]
		require.False(t, pvc.Spec.Resources.Requests.Storage().IsZero(), s.Name)
		spec := s.Spec.Template.Spec
		require.GreaterOrEqual(t, *spec.TerminationGracePeriodSeconds, int64(300), s.Name)
		mounted := false
		for _, m := range spec.Containers[0].VolumeMounts {
			mounted = mounted || (m.Name == pvc.Name && m.MountPath == "/data")
		}
		require.True(t, mounted, "%s does not mount its PVC at -storage.dir", s.Name)
		for _, v := range spec.Volumes {
			require.NotEqual(t, pvc.Name, v.Name, "%s shadows its PVC with a volume", s.Name)
		}
		require.Contains(t, spec.Containers[0].Args, "-storage.dir=/data")
		pdbCovers := false
		for _, p := range r.pdbs {
			sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
			require.NoError(t, err)
			if sel.Matches(labelSet(s.Spec.Template.Labels)) {
				require.Equal(t, 1, p.Spec.MaxUnavailable.IntValue())
				pdbCovers = true
			}
		}
		require.True(t, pdbCovers, "no PodDisruptionBudget covers %s", s.Name)
	}
	require.Positive(t, n, "no ingester StatefulSet")
}

type labelSet map[string]string

func (l labelSet) Has(k string) bool   { _, ok := l[k]; return ok }
func (l labelSet) Get(k string) string { return l[k] }
func (l labelSet) Lookup(k string) (string, bool) {
	v, ok := l[k]
	return v, ok
}

// checkServices: no Service reaches the operator listener.
func checkServices(t *testing.T, r *rendered) {
	t.Helper()
	for _, s := range r.services {
		for _, p := range s.Spec.Ports {
			require.NotEqual(t, int32(internalPort), p.Port, "Service %s exposes the operator port", s.Name)
			require.NotEqual(t, internalPort, p.TargetPort.IntValue(), "Service %s targets the operator port", s.Name)
			require.NotEqual(t, "internal", p.TargetPort.String(), "Service %s targets the operator port", s.Name)
		}
	}
}

// checkParses: each Hearth container's arguments, with the ConfigMaps'
// files, parse and validate as the process would at start.
func checkParses(t *testing.T, r *rendered) {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{}
	for _, cm := range r.configMaps {
		for key, content := range cm.Data {
			path := filepath.Join(dir, key)
			require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
			files[key] = path
		}
	}
	env := strings.NewReplacer("$(BIGTABLE_PROJECT)", "my-project", "$(BIGTABLE_INSTANCE)", "hearth")
	parsed := 0
	for workload, spec := range r.podSpecs() {
		c := spec.Containers[0]
		if !strings.Contains(c.Image, "/hearth:") {
			continue
		}
		var args []string
		skip := false
		for _, a := range c.Args {
			name, value, _ := strings.Cut(strings.TrimPrefix(a, "-"), "=")
			switch {
			case notYetInHearth[name+"="+value]:
				skip = true
			case notYetInHearth[name]:
			case name == "config.file" || name == "runtime-config.file":
				args = append(args, "-"+name+"="+files[filepath.Base(value)])
			default:
				args = append(args, env.Replace(a))
			}
		}
		if skip {
			continue
		}
		cfg, _, err := app.ParseArgs(args, app.TargetAll, io.Discard)
		require.NoErrorf(t, err, "%s: hearth %s", workload, strings.Join(args, " "))
		require.Equal(t, 3, cfg.Ingester.Ring.ReplicationFactor, workload)
		require.Equal(t, app.StoreBackendBigtable, cfg.Store.Backend, workload)
		parsed++
	}
	require.GreaterOrEqual(t, parsed, 3, "distributor, ingester, querier")
}

// checkConfig: every key of the hearth.yaml ConfigMap is a flag's YAML key.
func checkConfig(t *testing.T, r *rendered, flags map[string]bool) {
	t.Helper()
	for _, cm := range r.configMaps {
		data, ok := cm.Data["hearth.yaml"]
		if !ok {
			continue
		}
		var cfg map[string]any
		require.NoError(t, yaml.Unmarshal([]byte(data), &cfg))
		for _, path := range leafPaths(cfg, "") {
			if rest, ok := strings.CutPrefix(path, "limits."); ok {
				suffix := "." + strings.ReplaceAll(rest, "_", "-")
				found := false
				for f := range flags {
					found = found || strings.HasSuffix(f, suffix)
				}
				require.Truef(t, found, "hearth.yaml key %s is no per-tenant limit", path)
				continue
			}
			require.Truef(t, flags[strings.ReplaceAll(path, "_", "-")], "hearth.yaml key %s is no flag's", path)
		}
		return
	}
	t.Fatal("no hearth.yaml ConfigMap")
}

func leafPaths(m map[string]any, prefix string) []string {
	var out []string
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			out = append(out, leafPaths(sub, prefix+k+".")...)
			continue
		}
		out = append(out, prefix+k)
	}
	return out
}

// TestGatewayRoutes checks the gateway sends each public path to the
// component that owns it, with nginx's location rules (exact, then the
// longest ^~ prefix, then /).
func TestGatewayRoutes(t *testing.T) {
	r := render(t)
	var conf string
	for _, cm := range r.configMaps {
		if c, ok := cm.Data["default.conf"]; ok {
			conf = c
		}
	}
	require.NotEmpty(t, conf)
	type location struct{ modifier, path, upstream string }
	var locs []location
	re := regexp.MustCompile(`location (=|\^~)? ?(\S+)\s+\{\s*(?:proxy_pass http://hearth-([a-z-]+)\.)?`)
	sc := bufio.NewScanner(strings.NewReader(conf))
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			locs = append(locs, location{m[1], m[2], m[3]})
		}
	}
	route := func(path string) string {
		best := location{}
		for _, l := range locs {
			switch {
			case l.modifier == "=" && l.path == path:
				return l.upstream
			case strings.HasPrefix(path, l.path) && len(l.path) > len(best.path):
				best = l
			}
		}
		return best.upstream
	}
	for path, want := range map[string]string{
		"/api/v1/push":                                "distributor",
		"/otlp/v1/metrics":                            "distributor",
		"/prometheus/api/v1/query":                    "query-frontend",
		"/prometheus/api/v1/query_range":              "query-frontend",
		"/prometheus/api/v1/query_exemplars":          "query-frontend",
		"/prometheus/api/v1/series":                   "query-frontend",
		"/prometheus/api/v1/labels":                   "query-frontend",
		"/prometheus/api/v1/label/job/values":         "query-frontend",
		"/prometheus/api/v1/metadata":                 "query-frontend",
		"/prometheus/api/v1/read":                     "query-frontend",
		"/prometheus/federate":                        "query-frontend",
		"/prometheus/api/v1/cardinality/label_names":  "query-frontend",
		"/prometheus/api/v1/status/buildinfo":         "query-frontend",
		"/prometheus/config/v1/rules":                 "ruler",
		"/prometheus/config/v1/rules/ns/group":        "ruler",
		"/prometheus/api/v1/rules":                    "ruler",
		"/prometheus/api/v1/alerts":                   "ruler",
		"/prometheus/api/v1/admin/tsdb/delete_series": "querier",
		"/ready":   "",
		"/metrics": "",
	} {
		require.Equalf(t, want, route(path), "gateway route of %s", path)
	}
}

// manifestsDir holds the chart rendered for the default values.
const manifestsDir = "kubernetes"

// TestManifestsUpToDate fails when deploy/kubernetes/ is not the chart
// rendered with its default values; `make manifests`
// (HEARTH_UPDATE_MANIFESTS=1) rewrites it.
func TestManifestsUpToDate(t *testing.T) {
	want := splitBySource(t, helmTemplate(t))
	if os.Getenv("HEARTH_UPDATE_MANIFESTS") != "" {
		require.NoError(t, os.RemoveAll(manifestsDir))
		require.NoError(t, os.MkdirAll(manifestsDir, 0o755))
		for name, content := range want {
			require.NoError(t, os.WriteFile(filepath.Join(manifestsDir, name), []byte(content), 0o644))
		}
	}
	entries, err := os.ReadDir(manifestsDir)
	require.NoError(t, err)
	var have []string
	for _, e := range entries {
		have = append(have, e.Name())
	}
	var names []string
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	require.Equal(t, names, have, "deploy/kubernetes/ is stale: run `make manifests`")
	for _, n := range names {
		got, err := os.ReadFile(filepath.Join(manifestsDir, n))
		require.NoError(t, err)
		require.Equalf(t, want[n], string(got), "deploy/kubernetes/%s is stale: run `make manifests`", n)
	}
}

// splitBySource splits helm's output into one file per template.
func splitBySource(t *testing.T, out string) map[string]string {
	t.Helper()
	files := map[string]string{}
	header := "# Rendered from deploy/helm/hearth with its default values for namespace " + namespace + " by `make manifests`; do not edit.\n"
	for _, doc := range strings.Split(out, "---\n") {
		src := regexp.MustCompile(`(?m)^# Source: hearth/templates/(\S+)$`).FindStringSubmatch(doc)
		if src == nil {
			continue
		}
		name := src[1]
		if files[name] == "" {
			files[name] = header
		}
		files[name] += "---\n" + doc
	}
	require.NotEmpty(t, files)
	for n := range files {
		require.False(t, slices.Contains([]string{"_helpers.tpl", "_flags.tpl"}, n))
	}
	return files
}
