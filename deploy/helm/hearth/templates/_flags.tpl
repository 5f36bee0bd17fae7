{{/*
Every flag the chart passes to Hearth, in one place. The chart test
(deploy/chart_test.go) checks each exists in the built `hearth -help`.
Settings shared by every process that need no templating live in the
hearth.yaml ConfigMap (values: config) instead.
*/}}

{{- define "hearth.flags.common" -}}
- -config.file=/etc/hearth/config/hearth.yaml
- -runtime-config.file=/etc/hearth/runtime/overrides.yaml
- -storage.dir=/data
- -server.http-listen-address=:{{ .Values.ports.http }}
- -server.internal-listen-address=:{{ .Values.ports.internal }}
- -server.grpc-listen-address=:{{ .Values.ports.grpc }}
- -memberlist.bind-port={{ .Values.ports.gossip }}
- -memberlist.join={{ include "hearth.fullname" . }}-gossip-ring.{{ .Release.Namespace }}.svc:{{ .Values.ports.gossip }}
- -auth.cluster-secret-file=/etc/hearth/secrets/cluster/cluster-secret
- -auth.operator-token-file=/etc/hearth/secrets/operator/operator-token
- -store.backend=bigtable
- -store.bigtable.project=$(BIGTABLE_PROJECT)
- -store.bigtable.instance=$(BIGTABLE_INSTANCE)
- -store.bigtable.table={{ .Values.bigtable.table }}
{{- if .Values.ingester.zoneAwareReplication.enabled }}
- -ingester.ring.zone-awareness-enabled=true
{{- end }}
{{- end -}}

{{- define "hearth.flags.distributor" -}}
- -target=distributor
{{ include "hearth.flags.common" . }}
{{- end -}}

{{/* (dict "ctx" $ "zone" "zone-a"); zone empty without zone-aware replication. */}}
{{- define "hearth.flags.ingester" -}}
- -target=ingester
{{ include "hearth.flags.common" .ctx }}
{{- if .zone }}
- -ingester.ring.instance-zone={{ .zone }}
{{- end }}
{{- end -}}

{{- define "hearth.flags.querier" -}}
- -target=querier
{{ include "hearth.flags.common" . }}
- -querier.frontend-address={{ include "hearth.fullname" . }}-query-frontend-headless.{{ .Release.Namespace }}.svc:{{ .Values.ports.grpc }}
{{- end -}}

{{- define "hearth.flags.queryFrontend" -}}
- -target=query-frontend
{{ include "hearth.flags.common" . }}
{{- end -}}

{{- define "hearth.flags.ruler" -}}
- -target=ruler
{{ include "hearth.flags.common" . }}
{{- if .Values.alertmanager.enabled }}
{{- /* dns+: every Alertmanager replica (A records of the headless Service), as HA Alertmanagers need. */}}
- -ruler.alertmanager-url=dns+http://{{ include "hearth.fullname" . }}-alertmanager-headless.{{ .Release.Namespace }}.svc:9093
{{- end }}
{{- end -}}
