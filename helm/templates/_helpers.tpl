{{/*
Names, labels, images and the connection details every service shares.
The workloads themselves are in _workloads.tpl; each folder under templates/
renders one component with them.
*/}}

{{- define "ticketing.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Bitnami's rule: the release name alone when it already contains the chart name. */}}
{{- define "ticketing.fullname" -}}
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

{{- define "ticketing.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Usage: include "ticketing.labels" (dict "component" "tickets-web" "context" $) */}}
{{- define "ticketing.labels" -}}
helm.sh/chart: {{ include "ticketing.chart" .context }}
{{ include "ticketing.selectorLabels" . }}
app.kubernetes.io/version: {{ .context.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .context.Release.Service }}
app.kubernetes.io/part-of: {{ include "ticketing.name" .context }}
{{- with .context.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The labels a selector matches: they never change between upgrades. */}}
{{- define "ticketing.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ticketing.name" .context }}
app.kubernetes.io/instance: {{ .context.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/*
metadata.annotations of every object, or nothing. Usage:
{{- with include "ticketing.annotations" $ }}{{ . | nindent 2 }}{{ end }}
*/}}
{{- define "ticketing.annotations" -}}
{{- with .Values.commonAnnotations -}}
annotations: {{- toYaml . | nindent 2 }}
{{- end -}}
{{- end -}}

{{/*
A service's name in object names and labels: auth, tickets, ..., web-client.
Usage: include "ticketing.service.name" "webClient"
*/}}
{{- define "ticketing.service.name" -}}
{{- kebabcase . -}}
{{- end -}}

{{/* The Kubernetes Service of a service (what other pods and the Ingress call). */}}
{{- define "ticketing.service.host" -}}
{{- printf "%s-%s" (include "ticketing.fullname" .context) (include "ticketing.service.name" .service) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ticketing.service.url" -}}
{{- printf "http://%s" (include "ticketing.service.host" .) -}}
{{- end -}}

{{/*
A process of a service: auth-web, tickets-consumer, ...; the web client's only
process is plain web-client.
*/}}
{{- define "ticketing.component" -}}
{{- $name := include "ticketing.service.name" .service -}}
{{- if eq .service "webClient" -}}
{{- $name -}}
{{- else -}}
{{- printf "%s-%s" $name .process -}}
{{- end -}}
{{- end -}}

{{- define "ticketing.component.fullname" -}}
{{- printf "%s-%s" (include "ticketing.fullname" .context) (include "ticketing.component" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The services that own a database and run migrations: all but the web client. */}}
{{- define "ticketing.service.hasDatabase" -}}
{{- if ne .service "webClient" }}true{{ end -}}
{{- end -}}

{{- define "ticketing.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "ticketing.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
A service's image: its own fields win over the chart-wide image block.
Usage: include "ticketing.service.image" (dict "service" "tickets" "context" $)
*/}}
{{- define "ticketing.service.image" -}}
{{- $values := .context.Values -}}
{{- $own := (index $values .service).image | default dict -}}
{{- $registry := include "ticketing.image.registry" (dict "own" $own "context" .context) -}}
{{- $repository := $own.repository | default (printf "%s/%s" $values.image.repository (include "ticketing.service.name" .service)) -}}
{{- $digest := $own.digest | default $values.image.digest -}}
{{- $tag := $own.tag | default $values.image.tag | default .context.Chart.AppVersion | toString -}}
{{- if $digest -}}
{{- printf "%s/%s@%s" $registry $repository $digest -}}
{{- else -}}
{{- printf "%s/%s:%s" $registry $repository $tag -}}
{{- end -}}
{{- end -}}

{{/*
Where the project's images are: there is no default, so an install never pulls from a
registry nobody pushed to. Usage: include "ticketing.image.registry" (dict "own" $image "context" $)
*/}}
{{- define "ticketing.image.registry" -}}
{{- $values := .context.Values -}}
{{- $registry := coalesce $values.global.imageRegistry .own.registry $values.image.registry -}}
{{- if not $registry -}}
{{- fail "image.registry is not set: say where the ticketing images are, e.g. --set image.registry=ghcr.io --set image.repository=<owner>/<repo> for released images, or --set image.registry=localhost after `make images` (see helm/README.md)" -}}
{{- end -}}
{{- $registry -}}
{{- end -}}

{{/* An infrastructure image (postgresql, kafka, redis). Usage: include "ticketing.infra.image" (dict "image" .Values.kafka.image "context" $) */}}
{{- define "ticketing.infra.image" -}}
{{- $registry := .context.Values.global.imageRegistry | default .image.registry -}}
{{- printf "%s/%s:%s" $registry .image.repository (.image.tag | toString) -}}
{{- end -}}

{{- define "ticketing.imagePullSecrets" -}}
{{- with .Values.global.imagePullSecrets -}}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end -}}
{{- end -}}

{{/* storageClassName of a claim, or nothing for the cluster's default ("-" means none). */}}
{{- define "ticketing.storageClass" -}}
{{- $class := .persistence.storageClass | default .context.Values.global.storageClass -}}
{{- if $class -}}
storageClassName: {{ if eq $class "-" }}""{{ else }}{{ $class | quote }}{{ end }}
{{- end -}}
{{- end -}}

{{/* A security context from values, without the chart's own `enabled` toggle. */}}
{{- define "ticketing.securityContext" -}}
{{- if .enabled -}}
{{- toYaml (omit . "enabled") -}}
{{- end -}}
{{- end -}}

{{/* ---------- Secrets: generated on first install, kept on upgrade ---------- */}}

{{/*
The base64 value of `key` in the release's Secret `name` as it is in the cluster, or a
new random one: a password never changes on `helm upgrade`.
Usage: include "ticketing.secrets.keep" (dict "name" $secretName "key" "x" "context" $)
*/}}
{{- define "ticketing.secrets.keep" -}}
{{- $current := lookup "v1" "Secret" .context.Release.Namespace .name -}}
{{- if and $current $current.data (hasKey $current.data .key) -}}
{{- index $current.data .key -}}
{{- else if eq (.kind | default "password") "rsa" -}}
{{- genPrivateKey "rsa" | b64enc -}}
{{- else -}}
{{- randAlphaNum (.length | default 32 | int) | b64enc -}}
{{- end -}}
{{- end -}}

{{- define "ticketing.jwt.secretName" -}}
{{- .Values.jwt.existingSecret | default (printf "%s-jwt" (include "ticketing.fullname" .)) -}}
{{- end -}}

{{- define "ticketing.django.secretName" -}}
{{- .Values.django.existingSecret | default (printf "%s-django" (include "ticketing.fullname" .)) -}}
{{- end -}}

{{/* The Stripe test double: its Service, and the base URL payments call. */}}
{{- define "ticketing.stripeDouble.fullname" -}}
{{- printf "%s-stripe-double" (include "ticketing.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ticketing.stripeDouble.url" -}}
{{- printf "http://%s:%v" (include "ticketing.stripeDouble.fullname" .) .Values.stripeDouble.port -}}
{{- end -}}

{{- define "ticketing.stripeDouble.image" -}}
{{- $values := .Values -}}
{{- $own := $values.stripeDouble.image -}}
{{- $registry := include "ticketing.image.registry" (dict "own" $own "context" .) -}}
{{- $repository := $own.repository | default (printf "%s/stripe-double" $values.image.repository) -}}
{{- $tag := $own.tag | default $values.image.tag | default .Chart.AppVersion | toString -}}
{{- $digest := $own.digest -}}
{{- if $digest -}}
{{- printf "%s/%s@%s" $registry $repository $digest -}}
{{- else -}}
{{- printf "%s/%s:%s" $registry $repository $tag -}}
{{- end -}}
{{- end -}}

{{- define "ticketing.stripe.secretName" -}}
{{- .Values.stripe.existingSecret | default (printf "%s-stripe" (include "ticketing.fullname" .)) -}}
{{- end -}}

{{/* ---------- PostgreSQL: in the chart or external ---------- */}}

{{- define "ticketing.postgresql.fullname" -}}
{{- printf "%s-postgresql" (include "ticketing.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ticketing.database.host" -}}
{{- if .Values.postgresql.enabled -}}
{{- include "ticketing.postgresql.fullname" . -}}
{{- else -}}
{{- required "externalDatabase.host is required when postgresql.enabled is false" .Values.externalDatabase.host -}}
{{- end -}}
{{- end -}}

{{- define "ticketing.database.port" -}}
{{- if .Values.postgresql.enabled }}5432{{ else }}{{ .Values.externalDatabase.port }}{{ end -}}
{{- end -}}

{{/* The Secret with every service's database password, under <service>-password. */}}
{{- define "ticketing.database.secretName" -}}
{{- if .Values.postgresql.enabled -}}
{{- .Values.postgresql.existingSecret | default (include "ticketing.postgresql.fullname" .) -}}
{{- else -}}
{{- .Values.externalDatabase.existingSecret | default (printf "%s-external-database" (include "ticketing.fullname" .)) -}}
{{- end -}}
{{- end -}}

{{/*
DATABASE_URL with the password left to Kubernetes to substitute from DATABASE_PASSWORD,
so it never appears in a ConfigMap or in the manifest.
*/}}
{{- define "ticketing.database.url" -}}
{{- $values := .context.Values -}}
{{- $db := (index $values .service).database -}}
{{- $url := printf "postgres://%s:$(DATABASE_PASSWORD)@%s:%v/%s" $db.user (include "ticketing.database.host" .context) (include "ticketing.database.port" .context) $db.name -}}
{{- if and (not $values.postgresql.enabled) $values.externalDatabase.sslmode -}}
{{- $url = printf "%s?sslmode=%s" $url $values.externalDatabase.sslmode -}}
{{- end -}}
{{- $url -}}
{{- end -}}

{{/* ---------- Redis: in the chart or external ---------- */}}

{{- define "ticketing.redis.fullname" -}}
{{- printf "%s-redis" (include "ticketing.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ticketing.redis.secretName" -}}
{{- if .Values.redis.enabled -}}
{{- .Values.redis.existingSecret | default (include "ticketing.redis.fullname" .) -}}
{{- else -}}
{{- .Values.externalRedis.existingSecret | default (printf "%s-external-redis" (include "ticketing.fullname" .)) -}}
{{- end -}}
{{- end -}}

{{- define "ticketing.redis.hasPassword" -}}
{{- if or .Values.redis.enabled .Values.externalRedis.existingSecret .Values.externalRedis.password }}true{{ end -}}
{{- end -}}

{{- define "ticketing.redis.url" -}}
{{- $values := .context.Values -}}
{{- $db := (index $values .service).redisDatabase -}}
{{- $auth := "" -}}
{{- if include "ticketing.redis.hasPassword" .context -}}
{{- $user := ternary "" $values.externalRedis.username $values.redis.enabled -}}
{{- $auth = printf "%s:$(REDIS_PASSWORD)@" $user -}}
{{- end -}}
{{- if $values.redis.enabled -}}
{{- printf "redis://%s%s:6379/%v" $auth (include "ticketing.redis.fullname" .context) $db -}}
{{- else -}}
{{- $host := required "externalRedis.host is required when redis.enabled is false" $values.externalRedis.host -}}
{{- printf "%s://%s%s:%v/%v" (ternary "rediss" "redis" $values.externalRedis.tls) $auth $host $values.externalRedis.port $db -}}
{{- end -}}
{{- end -}}

{{/* ---------- Kafka: in the chart or external ---------- */}}

{{- define "ticketing.kafka.fullname" -}}
{{- printf "%s-kafka" (include "ticketing.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ticketing.kafka.bootstrapServers" -}}
{{- if .Values.kafka.enabled -}}
{{- printf "%s:9092" (include "ticketing.kafka.fullname" .) -}}
{{- else -}}
{{- required "externalKafka.bootstrapServers is required when kafka.enabled is false" .Values.externalKafka.bootstrapServers -}}
{{- end -}}
{{- end -}}

{{- define "ticketing.kafka.saslEnabled" -}}
{{- if and (not .Values.kafka.enabled) .Values.externalKafka.sasl.mechanism (hasPrefix "SASL_" .Values.externalKafka.securityProtocol) }}true{{ end -}}
{{- end -}}

{{- define "ticketing.kafka.caEnabled" -}}
{{- if and (not .Values.kafka.enabled) (or .Values.externalKafka.tls.existingSecret .Values.externalKafka.tls.caCert) }}true{{ end -}}
{{- end -}}

{{/* The passwords of the in-chart Kafka's users: admin-password and <service>-password. */}}
{{- define "ticketing.kafka.usersSecretName" -}}
{{- .Values.kafka.sasl.existingSecret | default (printf "%s-kafka-users" (include "ticketing.fullname" .)) -}}
{{- end -}}

{{/*
Who may do what on the in-chart Kafka. A service writes the topics whose schemas name it
as their source (ticketing_shared/events/schemas.py) and its own dead-letter topic, reads
the topics it has handlers for, and commits offsets in its own consumer group. Creating a
topic is allowed where the service writes or reads it (the relay and the consumers create
missing topics). auth publishes and consumes nothing.
*/}}
{{- define "ticketing.kafka.acls" -}}
auth: {writes: [], reads: []}
tickets:
  writes: [ticket.created, ticket.updated, gift.created, gift.claimed, gift.revoked]
  reads: [order.created, order.updated, order.cancelled, order.completed]
orders:
  writes: [order.created, order.updated, order.completed, order.cancelled]
  reads: [ticket.created, ticket.updated, expiration.complete, payment.created, payment.refunded]
payments:
  writes: [payment.created, payment.refunded]
  reads: [order.created, order.updated, order.cancelled, order.completed]
expiration:
  writes: [expiration.complete]
  reads: [order.created, order.cancelled, order.completed]
{{- end -}}

{{/* The chart's own Secret for external Kafka credentials, when values carry them. */}}
{{- define "ticketing.kafka.secretName" -}}
{{- printf "%s-external-kafka" (include "ticketing.fullname" .) -}}
{{- end -}}

{{/* ---------- Names the services answer to ---------- */}}

{{/*
DJANGO_ALLOWED_HOSTS of a service: the public host, its own Service under every name
cluster DNS gives it, extra hosts from values and, substituted by Kubernetes, the pod
IP that kubelet probes and Prometheus scrapes use as Host.
*/}}
{{- define "ticketing.allowedHosts" -}}
{{- $values := .context.Values -}}
{{- $host := include "ticketing.service.host" . -}}
{{- $ns := .context.Release.Namespace -}}
{{- $hosts := list $host (printf "%s.%s" $host $ns) (printf "%s.%s.svc" $host $ns) (printf "%s.%s.svc.%s" $host $ns $values.clusterDomain) -}}
{{- if $values.ingress.enabled -}}
{{- $hosts = prepend $hosts $values.ingress.hostname -}}
{{- end -}}
{{- $hosts = concat $hosts $values.config.extraAllowedHosts (list "$(POD_IP)") -}}
{{- join "," $hosts -}}
{{- end -}}

{{- define "ticketing.publicOrigin" -}}
{{- if .Values.ingress.enabled -}}
{{- printf "%s://%s" (ternary "https" "http" .Values.ingress.tls) .Values.ingress.hostname -}}
{{- end -}}
{{- end -}}

{{/* The storefront's URL for links in emails: config.siteUrl, else the Ingress's origin. */}}
{{- define "ticketing.siteUrl" -}}
{{- .Values.config.siteUrl | default (include "ticketing.publicOrigin" .) | trimSuffix "/" -}}
{{- end -}}

{{/* ---------- Email ---------- */}}

{{/* The services that send email. */}}
{{- define "ticketing.email.sends" -}}
{{- if has .service (list "auth" "orders" "tickets") }}true{{ end -}}
{{- end -}}

{{- define "ticketing.email.secretName" -}}
{{- .Values.email.existingSecret | default (printf "%s-email" (include "ticketing.fullname" .)) -}}
{{- end -}}

{{/* Whether the services get an SMTP password (from values or an existing Secret). */}}
{{- define "ticketing.email.hasPassword" -}}
{{- if and .Values.email.host (or .Values.email.existingSecret .Values.email.password) }}true{{ end -}}
{{- end -}}

{{/* Cookies go plain only where this chart's Ingress is known to serve plain HTTP. */}}
{{- define "ticketing.secureCookies" -}}
{{- if kindIs "bool" .Values.config.secureCookies -}}
{{- ternary "1" "0" .Values.config.secureCookies -}}
{{- else -}}
{{- ternary "1" "0" (or (not .Values.ingress.enabled) .Values.ingress.tls) -}}
{{- end -}}
{{- end -}}
