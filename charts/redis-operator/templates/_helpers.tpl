{{/* Name of the chart, or nameOverride. */}}
{{- define "redis-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Prefix of every object name: fullnameOverride, or the release name with the chart name. */}}
{{- define "redis-operator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Labels selecting the operator pods; never changed after install. */}}
{{- define "redis-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "redis-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{/* Labels of every object of the chart. */}}
{{- define "redis-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "redis-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: redis-operator
{{- end -}}

{{- define "redis-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "redis-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Name of the leader election Lease (--leader-election-id). */}}
{{- define "redis-operator.leaseName" -}}
{{- printf "%s-leader" (include "redis-operator.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Name of cluster-scoped objects: unique per release and namespace. */}}
{{- define "redis-operator.clusterObjectName" -}}
{{- printf "%s-%s" .Release.Namespace (include "redis-operator.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The Secret holding the webhook token, and the key in it. */}}
{{- define "redis-operator.webhookSecretName" -}}
{{- default (printf "%s-webhook" (include "redis-operator.fullname" .)) .Values.redisOperator.webhook.existingSecret -}}
{{- end -}}
{{- define "redis-operator.webhookSecretKey" -}}
{{- if .Values.redisOperator.webhook.existingSecret -}}
{{- .Values.redisOperator.webhook.existingSecretKey -}}
{{- else -}}
token
{{- end -}}
{{- end -}}

{{/*
The generated webhook token, base64-encoded: the one in the live Secret when there is one, so an
upgrade keeps it, else a new random one. It is computed once per render and remembered, so the
Secret and the Deployment's checksum annotation agree.
*/}}
{{- define "redis-operator.webhookToken" -}}
{{- if not (hasKey .Values "_webhookToken") -}}
{{- $token := "" -}}
{{- $live := lookup "v1" "Secret" .Release.Namespace (include "redis-operator.webhookSecretName" .) -}}
{{- if and $live $live.data -}}
{{- $token = index $live.data "token" | default "" -}}
{{- end -}}
{{- if not $token -}}
{{- $token = randAlphaNum 48 | b64enc -}}
{{- end -}}
{{- $_ := set .Values "_webhookToken" $token -}}
{{- end -}}
{{- index .Values "_webhookToken" -}}
{{- end -}}

{{/* The operator's Service address inside the cluster. */}}
{{- define "redis-operator.serviceHost" -}}
{{- printf "%s.%s.svc" (include "redis-operator.fullname" .) .Release.Namespace -}}
{{- end -}}

{{/* Fails the render when values contradict each other in ways the schema cannot express. */}}
{{- define "redis-operator.validate" -}}
{{- if and (gt (int .Values.redisOperator.replicaCount) 1) (not .Values.redisOperator.leaderElection.enabled) -}}
{{- fail (printf "redisOperator.replicaCount is %d but redisOperator.leaderElection.enabled is false: several replicas must elect a leader, or they reconcile the same clusters at once" (int .Values.redisOperator.replicaCount)) -}}
{{- end -}}
{{- end -}}
