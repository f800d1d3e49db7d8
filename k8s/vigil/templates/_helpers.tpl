{{/* Chart name. */}}
{{- define "vigil.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name prefix of every resource. */}}
{{- define "vigil.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "vigil.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "vigil.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: vigil
{{- end }}

{{/* Selector labels of one component: (dict "root" $ "component" "ingest"). */}}
{{- define "vigil.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vigil.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "vigil.componentLabels" -}}
{{ include "vigil.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "vigil.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "vigil.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The fusion consumer group: the config's fusion.group_id (KEDA must watch the same group). */}}
{{- define "vigil.fusionGroupId" -}}
{{- dig "fusion" "group_id" "vigil-fusion" .Values.config }}
{{- end }}

{{/* The video topic fusion consumes (KEDA's lag source). */}}
{{- define "vigil.videoTopic" -}}
{{- dig "topics" "video" "vigil.video.v1" .Values.config }}
{{- end }}

{{/* Fail rendering when fusion could get more replicas than the topic has partitions. */}}
{{- define "vigil.checkPartitions" -}}
{{- $p := int .Values.kafka.partitions }}
{{- if gt (int .Values.fusion.replicas) $p }}
{{- fail (printf "fusion.replicas (%d) exceeds kafka.partitions (%d): extra consumers would idle" (int .Values.fusion.replicas) $p) }}
{{- end }}
{{- if and .Values.fusion.keda.enabled (gt (int .Values.fusion.keda.maxReplicas) $p) }}
{{- fail (printf "fusion.keda.maxReplicas (%d) exceeds kafka.partitions (%d): extra consumers would idle" (int .Values.fusion.keda.maxReplicas) $p) }}
{{- end }}
{{- if and (not .Values.fusion.keda.enabled) .Values.fusion.autoscaling.enabled (gt (int .Values.fusion.autoscaling.maxReplicas) $p) }}
{{- fail (printf "fusion.autoscaling.maxReplicas (%d) exceeds kafka.partitions (%d): extra consumers would idle" (int .Values.fusion.autoscaling.maxReplicas) $p) }}
{{- end }}
{{- end }}

{{/*
Environment shared by every Vigil container: the config file, and secrets as variables
(VIGIL_* overrides the YAML; see streaming/config.py).
*/}}
{{- define "vigil.env" -}}
- name: VIGIL_CONFIG
  value: /etc/vigil/config/vigil.yaml
{{- if .Values.kafka.sasl.existingSecret }}
- name: VIGIL_KAFKA__SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.kafka.sasl.existingSecret }}
      key: {{ .Values.kafka.sasl.passwordKey }}
{{- end }}
{{- if .Values.kafka.sasl.username }}
- name: VIGIL_KAFKA__SASL_USERNAME
  value: {{ .Values.kafka.sasl.username | quote }}
{{- end }}
{{- if .Values.redis.existingSecret }}
- name: VIGIL_REDIS__PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.existingSecret }}
      key: {{ .Values.redis.passwordKey }}
{{- end }}
{{- end }}

{{/* Volumes shared by every Vigil pod. */}}
{{- define "vigil.volumes" -}}
- name: config
  configMap:
    name: {{ include "vigil.fullname" . }}-config
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- if .Values.kafka.tls.existingSecret }}
- name: kafka-tls
  secret:
    secretName: {{ .Values.kafka.tls.existingSecret }}
{{- end }}
{{- end }}

{{- define "vigil.volumeMounts" -}}
- name: config
  mountPath: /etc/vigil/config
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- if .Values.kafka.tls.existingSecret }}
- name: kafka-tls
  mountPath: /etc/vigil/kafka-tls
  readOnly: true
{{- end }}
{{- end }}

{{/* HTTP probes of one component: (dict "root" $ "c" .Values.ingest). */}}
{{- define "vigil.probes" -}}
startupProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: {{ .c.startupProbe.periodSeconds }}
  failureThreshold: {{ .c.startupProbe.failureThreshold }}
  timeoutSeconds: 3
livenessProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: {{ .c.livenessProbe.periodSeconds }}
  failureThreshold: {{ .c.livenessProbe.failureThreshold }}
  timeoutSeconds: {{ .c.livenessProbe.timeoutSeconds }}
readinessProbe:
  httpGet: {path: /readyz, port: http}
  periodSeconds: {{ .c.readinessProbe.periodSeconds }}
  failureThreshold: {{ .c.readinessProbe.failureThreshold }}
  timeoutSeconds: {{ .c.readinessProbe.timeoutSeconds }}
{{- end }}
