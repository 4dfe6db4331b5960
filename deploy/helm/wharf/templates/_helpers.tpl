{{/* The release's name for its objects: the release name, with the chart's name unless it holds it. */}}
{{- define "wharf.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "wharf.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "wharf.labels" -}}
{{ include "wharf.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Refuses settings that cannot work, before anything is applied. */}}
{{- define "wharf.validate" -}}
{{- $mode := .Values.storage.mode -}}
{{- if not (has $mode (list "embedded" "shared")) -}}
{{- fail (printf "storage.mode %q: want embedded (SQLite and files on a volume) or shared (PostgreSQL and S3)" $mode) -}}
{{- end -}}
{{- if and (eq $mode "embedded") (gt (int .Values.replicaCount) 1) -}}
{{- fail "replicaCount > 1 needs storage.mode=shared: embedded storage (SQLite and files on one volume) serves one replica" -}}
{{- end -}}
{{- if eq $mode "shared" -}}
{{- if not .Values.storage.postgres.existingSecret -}}
{{- fail "storage.mode=shared: set storage.postgres.existingSecret, a Secret holding the PostgreSQL URL" -}}
{{- end -}}
{{- if not .Values.storage.s3.bucket -}}
{{- fail "storage.mode=shared: set storage.s3.bucket" -}}
{{- end -}}
{{- end -}}
{{- if and .Values.ingress.enabled (not .Values.ingress.hosts) -}}
{{- fail "ingress.enabled: set ingress.hosts" -}}
{{- end -}}
{{- end -}}

{{/* The Secret and key of the server secret, or nothing when Wharf keeps it in server.key. */}}
{{- define "wharf.serverSecretName" -}}
{{- if .Values.serverSecret.existingSecret -}}
{{- .Values.serverSecret.existingSecret -}}
{{- else if or .Values.serverSecret.value (eq .Values.storage.mode "shared") -}}
{{- printf "%s-server-secret" (include "wharf.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "wharf.publicUrl" -}}
{{- if .Values.publicUrl -}}
{{- .Values.publicUrl -}}
{{- else if and .Values.ingress.enabled .Values.ingress.hosts -}}
{{- printf "%s://%s" (ternary "https" "http" (not (empty .Values.ingress.tls.secretName))) (first .Values.ingress.hosts) -}}
{{- end -}}
{{- end -}}
