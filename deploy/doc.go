// Package deploy holds what runs Hearth outside `make run`: the Helm chart
// (helm/hearth), the plain Kubernetes manifests it renders for the default
// values (kubernetes/, `make manifests`), the Docker Compose-free local
// cluster (`make run-cluster`, scripts/run-cluster.sh) and the monitoring
// mixin (mixin/). It has no Go code of its own; its tests render the chart
// and check it (chart_test.go) and keep kubernetes/ in step with it.
package deploy
