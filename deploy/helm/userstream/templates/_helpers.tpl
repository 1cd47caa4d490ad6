{{/* Names, labels and the settings every app container shares. */}}

{{- define "userstream.name" -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "userstream.labels" -}}
app.kubernetes.io/name: userstream
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The labels that select one part's pods: include with (list $ "stream"). */}}
{{- define "userstream.selector" -}}
app.kubernetes.io/name: userstream
app.kubernetes.io/instance: {{ (index . 0).Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "userstream.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "userstream.kafkaCluster" -}}
{{ include "userstream.name" . }}-kafka
{{- end -}}

{{- define "userstream.bootstrapServers" -}}
{{- if .Values.kafka.enabled -}}
{{ include "userstream.kafkaCluster" . }}-kafka-bootstrap:9094
{{- else -}}
{{ required "kafka.bootstrapServers is required when kafka.enabled is false" .Values.kafka.bootstrapServers }}
{{- end -}}
{{- end -}}

{{/* A Kafka role's login: (list $ "stream" "secret"|"username"). Strimzi's KafkaUser of that
role (its Secret, key `password`, has the KafkaUser's name), or the user of yours. */}}
{{- define "userstream.kafkaLogin" -}}
{{- $ctx := index . 0 -}}{{- $role := index . 1 -}}{{- $what := index . 2 -}}
{{- if $ctx.Values.kafka.enabled -}}
{{ include "userstream.name" $ctx }}-{{ $role }}
{{- else -}}
{{ required (printf "kafka.existingUsers.%s.%s is required when kafka.enabled is false" $role $what) (index (index $ctx.Values.kafka.existingUsers $role) $what) }}
{{- end -}}
{{- end -}}

{{- define "userstream.cassandraSecret" -}}
{{- .Values.cassandra.superuserSecret | default (printf "%s-cassandra-superuser" (include "userstream.name" .)) -}}
{{- end -}}

{{/* The port of the JMX exporter's agent in the Cassandra pods: the local node's
(cassandra.metrics_port, 7072, as in Compose). */}}
{{- define "userstream.cassandraMetricsPort" -}}
7072
{{- end -}}

{{- define "userstream.cassandraHosts" -}}
{{- if .Values.cassandra.enabled -}}
{{ list (printf "%s-%s-service" .Values.cassandra.clusterName .Values.cassandra.datacenter) | toJson }}
{{- else -}}
{{ required "cassandra.hosts is required when cassandra.enabled is false" .Values.cassandra.hosts | toJson }}
{{- end -}}
{{- end -}}

{{- define "userstream.registryUrl" -}}
{{- if .Values.registry.enabled -}}
http://{{ include "userstream.name" . }}-registry:8081
{{- else -}}
{{ .Values.registry.url }}
{{- end -}}
{{- end -}}

{{/* The Secret (key `password`) of the login clients give the registry: yours
(registry.existingSecret) or the chart's; empty when a registry of yours asks for none. */}}
{{- define "userstream.registrySecret" -}}
{{- if .Values.registry.existingSecret -}}
{{ .Values.registry.existingSecret }}
{{- else if .Values.registry.enabled -}}
{{ include "userstream.name" . }}-registry-login
{{- end -}}
{{- end -}}

{{/*
The environment of an app container logged in to Kafka as `role`: every setting of
config.py by its USERSTREAM_ variable, the passwords through their _FILE variants from the
Secrets mounted by "userstream.secretVolumes" (never a value in the pod's spec).
*/}}
{{- define "userstream.env" -}}
{{- $ctx := index . 0 -}}{{- $role := index . 1 -}}
- name: USERSTREAM_STATE_DIR
  value: /var/lib/userstream/state
- name: USERSTREAM_KAFKA__BOOTSTRAP_SERVERS
  value: {{ include "userstream.bootstrapServers" $ctx | quote }}
- name: USERSTREAM_KAFKA__TOPIC
  value: {{ $ctx.Values.kafka.topic | quote }}
- name: USERSTREAM_KAFKA__PARTITIONS
  value: {{ $ctx.Values.kafka.partitions | quote }}
- name: USERSTREAM_KAFKA__REPLICATION_FACTOR
  value: {{ $ctx.Values.kafka.replicationFactor | quote }}
- name: USERSTREAM_KAFKA__CLIENT_CONFIG
  value: {{ dict "security.protocol" "SASL_PLAINTEXT" "sasl.mechanism" "SCRAM-SHA-512" "sasl.username" (include "userstream.kafkaLogin" (list $ctx $role "username")) | toJson | quote }}
- name: USERSTREAM_KAFKA__CLIENT_CONFIG__SASL.PASSWORD_FILE
  value: /var/run/secrets/userstream/kafka/password
- name: USERSTREAM_CASSANDRA__HOSTS
  value: {{ include "userstream.cassandraHosts" $ctx | quote }}
- name: USERSTREAM_CASSANDRA__LOCAL_DC
  value: {{ $ctx.Values.cassandra.datacenter | quote }}
- name: USERSTREAM_CASSANDRA__KEYSPACE
  value: {{ $ctx.Values.cassandra.keyspace | quote }}
- name: USERSTREAM_CASSANDRA__REPLICATION
  value: {{ dict "class" "NetworkTopologyStrategy" $ctx.Values.cassandra.datacenter $ctx.Values.cassandra.replicationFactor | toJson | quote }}
- name: USERSTREAM_CASSANDRA__USERNAME_FILE
  value: /var/run/secrets/userstream/cassandra/username
- name: USERSTREAM_CASSANDRA__PASSWORD_FILE
  value: /var/run/secrets/userstream/cassandra/password
- name: USERSTREAM_REGISTRY__URL
  value: {{ include "userstream.registryUrl" $ctx | quote }}
{{- if include "userstream.registrySecret" $ctx }}
- name: USERSTREAM_REGISTRY__USERNAME
  value: {{ $ctx.Values.registry.username | quote }}
- name: USERSTREAM_REGISTRY__PASSWORD_FILE
  value: /var/run/secrets/userstream/registry/password
{{- end }}
{{- end -}}

{{- define "userstream.secretMounts" -}}
- name: kafka-login
  mountPath: /var/run/secrets/userstream/kafka
  readOnly: true
- name: cassandra-login
  mountPath: /var/run/secrets/userstream/cassandra
  readOnly: true
{{- if include "userstream.registrySecret" . }}
- name: registry-login
  mountPath: /var/run/secrets/userstream/registry
  readOnly: true
{{- end }}
{{- end -}}

{{- define "userstream.secretVolumes" -}}
{{- $ctx := index . 0 -}}{{- $role := index . 1 -}}
- name: kafka-login
  secret:
    secretName: {{ include "userstream.kafkaLogin" (list $ctx $role "secret") }}
    items: [{key: password, path: password}]
    defaultMode: 0400
- name: cassandra-login
  secret:
    secretName: {{ include "userstream.cassandraSecret" $ctx }}
    items: [{key: username, path: username}, {key: password, path: password}]
    defaultMode: 0400
{{- with include "userstream.registrySecret" $ctx }}
- name: registry-login
  secret:
    secretName: {{ . }}
    items: [{key: password, path: password}]
    defaultMode: 0400
{{- end }}
{{- end -}}

{{/* Non-root, no privilege escalation, nothing added: every app container. */}}
{{- define "userstream.podSecurity" -}}
runAsNonRoot: true
runAsUser: 50000
runAsGroup: 0
fsGroup: 0
seccompProfile: {type: RuntimeDefault}
{{- end -}}

{{- define "userstream.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities: {drop: [ALL]}
{{- end -}}

{{/* The pipeline's own pods: this release's (executors included) and the Airflow release's. */}}
{{- define "userstream.pipelinePeers" -}}
- podSelector:
    matchLabels: {app.kubernetes.io/name: userstream, app.kubernetes.io/instance: {{ .Release.Name }}}
- podSelector:
    matchLabels: {release: {{ .Values.monitoring.airflowRelease }}}
{{- end -}}

{{/*
The command of an app container: its state folder made on the mounted volume (a folder of
its own under the mount, so that it may make it private), the image's jars linked into it
(`userstream fetch-jars` put them in the image's state folder at build time), then `run`.
*/}}
{{- define "userstream.command" -}}
- bash
- -c
- mkdir -p "$USERSTREAM_STATE_DIR" && ln -sfn /opt/userstream/state/lib "$USERSTREAM_STATE_DIR/lib" && exec {{ . }}
{{- end -}}
