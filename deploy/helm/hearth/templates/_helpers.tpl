{{/* Names and labels. */}}
{{- define "hearth.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "hearth.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{ include "hearth.commonLabels" . }}
{{- end -}}

{{/* The labels besides name and instance (pod templates add the selector labels). */}}
{{- define "hearth.commonLabels" -}}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component: (dict "ctx" $ "component" "ingester"). */}}
{{- define "hearth.selectorLabels" -}}
app.kubernetes.io/name: {{ .ctx.Chart.Name }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "hearth.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "hearth.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}{{ include "hearth.fullname" . }}{{- else -}}default{{- end -}}
{{- end -}}

{{/*
The pod template of a Hearth component:
(dict "ctx" $ "component" "querier" "args" (include "hearth.flags.querier" $) "resources" .Values.querier.resources
      "terminationGracePeriodSeconds" 30 "nodeSelector" {} "dataVolume" false)
Every container gets probes on /ready, resources, the shared config, the
cluster secret and the operator token.
*/}}
{{- define "hearth.podTemplate" -}}
{{- $ctx := .ctx -}}
metadata:
  labels:
    {{- include "hearth.selectorLabels" . | nindent 4 }}
    {{- include "hearth.commonLabels" $ctx | nindent 4 }}
    # Members of the gossip ring (the headless Service for -memberlist.join).
    app.kubernetes.io/part-of: memberlist
    {{- with .extraLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    {{- toYaml $ctx.Values.podAnnotations | nindent 4 }}
    checksum/config: {{ include (print $ctx.Template.BasePath "/configmap.yaml") $ctx | sha256sum }}
spec:
  serviceAccountName: {{ include "hearth.serviceAccountName" $ctx }}
  # Hearth never calls the Kubernetes API (Workload Identity works without
  # the token).
  automountServiceAccountToken: false
  securityContext:
    {{- toYaml $ctx.Values.securityContext | nindent 4 }}
  terminationGracePeriodSeconds: {{ .terminationGracePeriodSeconds | default 60 }}
  {{- with .nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  containers:
    - name: {{ .component }}
      image: {{ include "hearth.image" $ctx }}
      imagePullPolicy: {{ $ctx.Values.image.pullPolicy }}
      args:
        {{- .args | nindent 8 }}
      env:
        - name: BIGTABLE_PROJECT
          valueFrom:
            secretKeyRef:
              name: {{ $ctx.Values.bigtable.secretName }}
              key: project
        - name: BIGTABLE_INSTANCE
          valueFrom:
            secretKeyRef:
              name: {{ $ctx.Values.bigtable.secretName }}
              key: instance
        {{- if $ctx.Values.bigtable.credentialsKey }}
        - name: GOOGLE_APPLICATION_CREDENTIALS
          value: /etc/hearth/secrets/bigtable/{{ $ctx.Values.bigtable.credentialsKey }}
        {{- end }}
      ports:
        - name: http
          containerPort: {{ $ctx.Values.ports.http }}
        - name: internal
          containerPort: {{ $ctx.Values.ports.internal }}
        - name: grpc
          containerPort: {{ $ctx.Values.ports.grpc }}
        - name: gossip
          containerPort: {{ $ctx.Values.ports.gossip }}
        - name: gossip-udp
          containerPort: {{ $ctx.Values.ports.gossip }}
          protocol: UDP
      # /ready answers 200 once every component of the process runs (an
      # ingester only after its WAL replay); liveness only asks that the
      # process still serves, so a long replay is never killed.
      readinessProbe:
        httpGet:
          path: /ready
          port: http
        periodSeconds: 5
        failureThreshold: 3
      livenessProbe:
        tcpSocket:
          port: internal
        initialDelaySeconds: 15
        periodSeconds: 10
        failureThreshold: 6
      resources:
        {{- toYaml .resources | nindent 8 }}
      securityContext:
        {{- toYaml $ctx.Values.containerSecurityContext | nindent 8 }}
      volumeMounts:
        - name: config
          mountPath: /etc/hearth/config
          readOnly: true
        - name: runtime
          mountPath: /etc/hearth/runtime
          readOnly: true
        - name: cluster-secret
          mountPath: /etc/hearth/secrets/cluster
          readOnly: true
        - name: operator-token
          mountPath: /etc/hearth/secrets/operator
          readOnly: true
        {{- if $ctx.Values.bigtable.credentialsKey }}
        - name: bigtable
          mountPath: /etc/hearth/secrets/bigtable
          readOnly: true
        {{- end }}
        - name: data
          mountPath: /data
        # The root file system is read-only.
        - name: tmp
          mountPath: /tmp
  volumes:
    - name: tmp
      emptyDir: {}
    - name: config
      configMap:
        name: {{ include "hearth.fullname" $ctx }}-config
    - name: runtime
      configMap:
        name: {{ include "hearth.fullname" $ctx }}-runtime
    - name: cluster-secret
      secret:
        secretName: {{ $ctx.Values.secrets.clusterSecretName }}
        defaultMode: 0440
    - name: operator-token
      secret:
        secretName: {{ $ctx.Values.secrets.operatorTokenName }}
        defaultMode: 0440
    {{- if $ctx.Values.bigtable.credentialsKey }}
    - name: bigtable
      secret:
        secretName: {{ $ctx.Values.bigtable.secretName }}
        defaultMode: 0440
    {{- end }}
    {{- if not .dataVolume }}
    # Components without a PVC still need a writable storage.dir.
    - name: data
      emptyDir: {}
    {{- end }}
{{- end -}}
