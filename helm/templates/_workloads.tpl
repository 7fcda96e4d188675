{{/*
The objects every service is made of. Each folder under templates/ renders its service
with these, passing (dict "service" "<values key>" "context" $) and, for a process,
"process" (web, consumer, worker or beat).
*/}}

{{/* ---------- Configuration ---------- */}}

{{- define "ticketing.configmap" -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "ticketing.service.host" . }}
  namespace: {{ .context.Release.Namespace }}
  labels: {{- include "ticketing.labels" (dict "component" (include "ticketing.service.name" .service) "context" .context) | nindent 4 }}
  {{- with include "ticketing.annotations" .context }}{{ . | nindent 2 }}{{ end }}
data:
  {{- include "ticketing.configmap.data" . | nindent 2 }}
{{- end -}}

{{/* Everything a service reads from its environment that is not a secret. */}}
{{- define "ticketing.configmap.data" -}}
{{- $values := .context.Values -}}
{{- $svc := index $values .service -}}
{{- $origins := compact (concat (list (include "ticketing.publicOrigin" .context)) $values.config.extraCsrfTrustedOrigins) -}}
DJANGO_DEBUG: "0"
DJANGO_SECURE_COOKIES: {{ include "ticketing.secureCookies" .context | quote }}
DJANGO_CSRF_TRUSTED_ORIGINS: {{ join "," $origins | quote }}
LOG_LEVEL: {{ $values.config.logLevel | quote }}
SERVICE_LOG_FORMAT: {{ $values.config.logFormat | quote }}
TRUSTED_PROXIES: {{ join "," $values.config.trustedProxies | quote }}
{{- range $other := list "auth" "tickets" "orders" "payments" "expiration" }}
{{ upper $other }}_SERVICE_URL: {{ include "ticketing.service.url" (dict "service" $other "context" $.context) | quote }}
{{- end }}
{{- if include "ticketing.service.hasDatabase" . }}
KAFKA_BOOTSTRAP_SERVERS: {{ include "ticketing.kafka.bootstrapServers" .context | quote }}
KAFKA_TOPIC_PARTITIONS: {{ $values.kafka.topicPartitions | quote }}
HEARTBEAT_DIR: {{ $values.background.heartbeatDir | quote }}
{{- if $values.kafka.enabled }}
KAFKA_SECURITY_PROTOCOL: SASL_PLAINTEXT
KAFKA_SASL_MECHANISM: {{ $values.kafka.sasl.mechanism | quote }}
KAFKA_SASL_USERNAME: {{ include "ticketing.service.name" .service | quote }}
{{- else }}
{{- with $values.externalKafka.securityProtocol }}
KAFKA_SECURITY_PROTOCOL: {{ . | quote }}
{{- end }}
{{- if include "ticketing.kafka.saslEnabled" .context }}
KAFKA_SASL_MECHANISM: {{ $values.externalKafka.sasl.mechanism | quote }}
KAFKA_SASL_USERNAME: {{ required "externalKafka.sasl.username is required with SASL" $values.externalKafka.sasl.username | quote }}
{{- end }}
{{- if include "ticketing.kafka.caEnabled" .context }}
KAFKA_SSL_CA_LOCATION: /etc/ticketing/kafka/ca.crt
{{- end }}
{{- end }}
{{- if eq .service "auth" }}
JWT_PRIVATE_KEY_FILE: /etc/ticketing/jwt/private.pem
JWT_ACCESS_TOKEN_SECONDS: {{ $values.jwt.accessTokenSeconds | quote }}
JWT_REFRESH_TOKEN_SECONDS: {{ $values.jwt.refreshTokenSeconds | quote }}
{{- else if $values.jwt.publicKeyKey }}
JWT_PUBLIC_KEY_FILE: /etc/ticketing/jwt/public.pem
{{- else }}
JWT_JWKS_URL: {{ printf "%s/api/users/jwks.json" (include "ticketing.service.url" (dict "service" "auth" "context" .context)) | quote }}
{{- end }}
{{- end }}
{{- if eq .service "orders" }}
ORDER_EXPIRATION_SECONDS: {{ $svc.orderExpirationSeconds | quote }}
NOTIFICATIONS_RETRY_SECONDS: {{ $svc.notificationsRetrySeconds | quote }}
{{- end }}
{{- if eq .service "auth" }}
PASSWORD_RESET_TIMEOUT: {{ $svc.passwordResetTimeoutSeconds | quote }}
{{- end }}
{{- if include "ticketing.email.sends" . }}
{{- $email := $values.email }}
SITE_URL: {{ include "ticketing.siteUrl" .context | quote }}
DEFAULT_FROM_EMAIL: {{ $email.from | quote }}
{{- if $email.host }}
EMAIL_BACKEND: "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST: {{ $email.host | quote }}
EMAIL_PORT: {{ $email.port | quote }}
EMAIL_HOST_USER: {{ $email.user | quote }}
EMAIL_USE_TLS: {{ ternary "1" "0" $email.useTLS | quote }}
EMAIL_USE_SSL: {{ ternary "1" "0" $email.useSSL | quote }}
EMAIL_TIMEOUT: {{ $email.timeout | quote }}
{{- else }}
{{- /* A trial without an SMTP server: every email goes to the pod's log. */}}
EMAIL_BACKEND: "django.core.mail.backends.console.EmailBackend"
{{- end }}
{{- end }}
{{- $double := $values.stripeDouble.enabled }}
{{- if eq .service "payments" }}
{{- with $values.stripe.apiBase | default (ternary (include "ticketing.stripeDouble.url" .context) "" $double) }}
STRIPE_API_BASE: {{ . | quote }}
{{- end }}
{{- end }}
{{- if eq .service "webClient" }}
{{- with $values.stripe.jsUrl | default (ternary "/js.stripe.com/v3/" "" $double) }}
STRIPE_JS_URL: {{ . | quote }}
{{- end }}
STRIPE_TEST_MODE: {{ ternary "1" "0" $double | quote }}
{{- end }}
{{- end -}}

{{/*
The secret half of the environment, as references, plus the values built from them
(Kubernetes substitutes $(NAME) from variables defined earlier in the list).
*/}}
{{- define "ticketing.env" -}}
{{- $values := .context.Values -}}
{{- $svc := index $values .service -}}
{{- $name := include "ticketing.service.name" .service -}}
- name: POD_IP
  valueFrom:
    fieldRef:
      fieldPath: status.podIP
- name: DJANGO_ALLOWED_HOSTS
  value: {{ include "ticketing.allowedHosts" . | quote }}
- name: DJANGO_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "ticketing.django.secretName" .context }}
      key: {{ $name }}-secret-key
{{- if include "ticketing.service.hasDatabase" . }}
- name: DATABASE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "ticketing.database.secretName" .context }}
      key: {{ $name }}-password
- name: DATABASE_URL
  value: {{ include "ticketing.database.url" . | quote }}
{{- end }}
{{- if include "ticketing.redis.hasPassword" .context }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "ticketing.redis.secretName" .context }}
      key: redis-password
{{- end }}
- name: REDIS_URL
  value: {{ include "ticketing.redis.url" . | quote }}
{{- if and (include "ticketing.service.hasDatabase" .) $values.kafka.enabled }}
- name: KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "ticketing.kafka.usersSecretName" .context }}
      key: {{ $name }}-password
{{- else if and (include "ticketing.service.hasDatabase" .) (include "ticketing.kafka.saslEnabled" .context) }}
- name: KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $values.externalKafka.sasl.existingSecret | default (include "ticketing.kafka.secretName" .context) }}
      key: sasl-password
{{- end }}
{{- if eq .service "payments" }}
- name: STRIPE_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "ticketing.stripe.secretName" .context }}
      key: secret-key
- name: STRIPE_WEBHOOK_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "ticketing.stripe.secretName" .context }}
      key: webhook-secret
{{- end }}
{{- if eq .service "webClient" }}
- name: STRIPE_PUBLISHABLE_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "ticketing.stripe.secretName" .context }}
      key: publishable-key
{{- end }}
{{- if and (include "ticketing.email.sends" .) (include "ticketing.email.hasPassword" .context) }}
- name: EMAIL_HOST_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "ticketing.email.secretName" .context }}
      key: {{ $values.email.passwordKey }}
{{- end }}
{{- if eq (.process | default "") "web" }}
- name: PROMETHEUS_MULTIPROC_DIR
  value: /var/run/prometheus
- name: METRICS_PORT
  value: {{ $values.metrics.port | quote }}
{{- end }}
{{- $process := dict -}}
{{- if .process }}{{ $process = index $svc .process }}{{ end -}}
{{- range $extra := list $values.config.extraEnvVars $svc.extraEnvVars ($process.extraEnvVars | default list) }}
{{- with $extra }}
{{ tpl (toYaml .) $.context }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "ticketing.envFrom" -}}
- configMapRef:
    name: {{ include "ticketing.service.host" . }}
{{- end -}}

{{/* Files: the JWT key (private for auth, public for the others when given), the Kafka CA. */}}
{{- define "ticketing.volumes" -}}
{{- $values := .context.Values -}}
- name: tmp
  emptyDir: {}
{{- if eq (.process | default "") "web" }}
- name: prometheus
  emptyDir: {}
{{- end }}
{{- if eq .service "auth" }}
- name: jwt
  secret:
    secretName: {{ include "ticketing.jwt.secretName" .context }}
    defaultMode: 0440
    items:
      - key: {{ $values.jwt.privateKeyKey }}
        path: private.pem
{{- else if and (include "ticketing.service.hasDatabase" .) $values.jwt.publicKeyKey }}
- name: jwt
  secret:
    secretName: {{ include "ticketing.jwt.secretName" .context }}
    defaultMode: 0440
    items:
      - key: {{ $values.jwt.publicKeyKey }}
        path: public.pem
{{- end }}
{{- if and (include "ticketing.service.hasDatabase" .) (include "ticketing.kafka.caEnabled" .context) }}
- name: kafka-ca
  secret:
    secretName: {{ $values.externalKafka.tls.existingSecret | default (include "ticketing.kafka.secretName" .context) }}
    defaultMode: 0440
    items:
      - key: ca.crt
        path: ca.crt
{{- end }}
{{- with $values.config.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "ticketing.volumeMounts" -}}
{{- $values := .context.Values -}}
- name: tmp
  mountPath: /tmp
{{- if eq (.process | default "") "web" }}
- name: prometheus
  mountPath: /var/run/prometheus
{{- end }}
{{- if or (eq .service "auth") (and (include "ticketing.service.hasDatabase" .) $values.jwt.publicKeyKey) }}
- name: jwt
  mountPath: /etc/ticketing/jwt
  readOnly: true
{{- end }}
{{- if and (include "ticketing.service.hasDatabase" .) (include "ticketing.kafka.caEnabled" .context) }}
- name: kafka-ca
  mountPath: /etc/ticketing/kafka
  readOnly: true
{{- end }}
{{- with $values.config.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* ---------- Pods ---------- */}}

{{/*
What a service's pods may reach, as labels the NetworkPolicies select: Redis, and for the
backends their database and Kafka (auth's readiness asks the broker too; its Kafka user
has no ACL).
*/}}
{{- define "ticketing.accessLabels" -}}
ticketing.io/redis-client: "true"
{{- if include "ticketing.service.hasDatabase" . }}
ticketing.io/database-client: "true"
ticketing.io/kafka-client: "true"
{{- end }}
{{- end -}}

{{/* What every container of a service shares: image, environment, files, security. */}}
{{- define "ticketing.container.common" -}}
{{- $values := .context.Values -}}
image: {{ include "ticketing.service.image" . }}
imagePullPolicy: {{ $values.image.pullPolicy }}
envFrom: {{- include "ticketing.envFrom" . | nindent 2 }}
env: {{- include "ticketing.env" . | nindent 2 }}
volumeMounts: {{- include "ticketing.volumeMounts" . | nindent 2 }}
{{- with include "ticketing.securityContext" $values.containerSecurityContext }}
securityContext: {{- . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
The init container that holds a pod until this revision's migrations are applied:
`migrate --check` fails while any is missing (or the database is unreachable).
*/}}
{{- define "ticketing.initContainer.waitForMigrations" -}}
{{- $values := .context.Values -}}
- name: wait-for-migrations
  {{- include "ticketing.container.common" (omit . "process") | nindent 2 }}
  command: ["/bin/sh", "-c"]
  args:
    - |
      until out=$(python manage.py migrate --check 2>&1); do
        echo "Waiting for the migrations of {{ include "ticketing.service.name" .service }} (Jobs {{ include "ticketing.migrations.jobBase" . }}-migrate-*):"
        echo "$out" | tail -n 3
        sleep {{ $values.migrations.waitIntervalSeconds }}
      done
  resources: {{- toYaml $values.migrations.waitResources | nindent 4 }}
{{- end -}}

{{/* The pod-level settings of every service pod. */}}
{{- define "ticketing.podSpec.common" -}}
{{- $values := .context.Values -}}
serviceAccountName: {{ include "ticketing.serviceAccountName" .context }}
automountServiceAccountToken: {{ $values.serviceAccount.automountServiceAccountToken }}
enableServiceLinks: false
{{- with include "ticketing.imagePullSecrets" .context }}
{{ . }}
{{- end }}
{{- with include "ticketing.securityContext" $values.podSecurityContext }}
securityContext: {{- . | nindent 2 }}
{{- end }}
volumes: {{- include "ticketing.volumes" . | nindent 2 }}
{{- end -}}

{{/* Where a pod may run, from a values block: nodeSelector, tolerations, affinity, spread. */}}
{{- define "ticketing.scheduling" -}}
{{- $fields := dict -}}
{{- range $field := list "nodeSelector" "tolerations" "affinity" "topologySpreadConstraints" -}}
{{- with index $ $field -}}
{{- $_ := set $fields $field . -}}
{{- end -}}
{{- end -}}
{{- with $fields -}}
{{ toYaml . }}
{{- end -}}
{{- end -}}

{{/* The command of each process; all of them run from the service's one image. */}}
{{- define "ticketing.command" -}}
{{- $values := .context.Values -}}
{{- $proc := index (index $values .service) .process -}}
{{- if eq .process "web" -}}
{{- $g := $values.web.gunicorn -}}
command: ["gunicorn"]
args:
  - config.wsgi:application
  ## Hooks that keep /metrics right across workers (PROMETHEUS_MULTIPROC_DIR, on the
  ## pod's own emptyDir, is emptied at start and dead workers are marked).
  - --config=python:ticketing_shared.gunicorn_conf
  - --bind=0.0.0.0:{{ $values.web.containerPort }}
  - --bind=0.0.0.0:{{ $values.metrics.port }}
  - --workers={{ $g.workers }}
  - --threads={{ $g.threads }}
  - --timeout={{ $g.timeout }}
  - --graceful-timeout={{ $g.gracefulTimeout }}
  - --access-logfile=-
  - --worker-tmp-dir=/dev/shm
  - --forwarded-allow-ips=*
  - --no-control-socket
{{- else if eq .process "consumer" -}}
command: ["python", "manage.py", "consume_events"]
{{- else if eq .process "worker" -}}
command: ["celery", "-A", "config", "worker"]
args:
  - --loglevel={{ $values.config.logLevel }}
  - --pool={{ $proc.pool }}
  - --concurrency={{ $proc.concurrency }}
  - --without-gossip
  - --without-mingle
  - --without-heartbeat
{{- else if eq .process "beat" -}}
command: ["celery", "-A", "config", "beat"]
args:
  - --loglevel={{ $values.config.logLevel }}
  - --pidfile=
{{- else -}}
{{- fail (printf "unknown process %q" .process) -}}
{{- end -}}
{{- end -}}

{{- define "ticketing.probe" -}}
{{- if .probe.enabled -}}
{{ .name }}:
  httpGet:
    path: {{ .probe.path }}
    port: http
  {{- toYaml (omit .probe "enabled" "path") | nindent 2 }}
{{- end -}}
{{- end -}}

{{/* A probe of a consumer, worker or beat: the age of the heartbeat its loop touches. */}}
{{- define "ticketing.heartbeatProbe" -}}
{{- if .probe.enabled -}}
{{ .name }}:
  exec:
    command: ["python", "manage.py", "healthcheck", {{ .process | quote }}, {{ printf "--max-age=%v" .maxAge | quote }}]
  {{- toYaml (omit .probe "enabled") | nindent 2 }}
{{- end -}}
{{- end -}}

{{/*
A Deployment of one process of a service.
Usage: include "ticketing.deployment" (dict "service" "tickets" "process" "worker" "context" $)
*/}}
{{- define "ticketing.deployment" -}}
{{- $values := .context.Values -}}
{{- $svc := index $values .service -}}
{{- $proc := index $svc .process -}}
{{- $component := include "ticketing.component" . -}}
{{- $web := eq .process "web" -}}
{{- if eq (int $values.metrics.port) (int $values.web.containerPort) -}}
{{- fail "metrics.port must differ from web.containerPort: the public port must not serve /metrics" -}}
{{- end -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "ticketing.component.fullname" . }}
  namespace: {{ .context.Release.Namespace }}
  labels: {{- include "ticketing.labels" (dict "component" $component "context" .context) | nindent 4 }}
  {{- with include "ticketing.annotations" .context }}{{ . | nindent 2 }}{{ end }}
spec:
  {{- if eq .process "beat" }}
  ## One scheduler at a time, also during an upgrade.
  replicas: 1
  strategy:
    type: Recreate
  {{- else }}
  {{- if not (and $web $proc.autoscaling.enabled) }}
  replicas: {{ $proc.replicaCount }}
  {{- end }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 25%
      maxUnavailable: {{ ternary 0 "25%" $web }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels: {{- include "ticketing.selectorLabels" (dict "component" $component "context" .context) | nindent 6 }}
  template:
    metadata:
      labels: {{- include "ticketing.labels" (dict "component" $component "context" .context) | nindent 8 }}
        {{- include "ticketing.accessLabels" . | nindent 8 }}
        {{- with $proc.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        checksum/config: {{ include "ticketing.configmap.data" . | sha256sum }}
        {{- if and $web $values.metrics.enabled }}
        prometheus.io/scrape: "true"
        prometheus.io/path: {{ $values.metrics.path | quote }}
        prometheus.io/port: {{ $values.metrics.port | quote }}
        {{- end }}
        {{- with $proc.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      {{- include "ticketing.podSpec.common" . | nindent 6 }}
      terminationGracePeriodSeconds: {{ ternary (add $values.web.gunicorn.gracefulTimeout $values.web.preStopSeconds 10) 60 $web }}
      {{- if include "ticketing.service.hasDatabase" . }}
      initContainers:
        {{- include "ticketing.initContainer.waitForMigrations" . | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ .process }}
          {{- include "ticketing.container.common" . | nindent 10 }}
          {{- include "ticketing.command" . | nindent 10 }}
          {{- if $web }}
          ports:
            - name: http
              containerPort: {{ $values.web.containerPort }}
              protocol: TCP
            ## /metrics, for Prometheus only: no Service exposes this port.
            - name: metrics
              containerPort: {{ $values.metrics.port }}
              protocol: TCP
          ## Keeps serving while the endpoints drop this pod, then gunicorn stops gracefully.
          lifecycle:
            preStop:
              exec:
                command: ["sleep", {{ $values.web.preStopSeconds | quote }}]
          {{- include "ticketing.probe" (dict "name" "startupProbe" "probe" ($proc.startupProbe | default $values.web.startupProbe)) | nindent 10 }}
          {{- include "ticketing.probe" (dict "name" "livenessProbe" "probe" ($proc.livenessProbe | default $values.web.livenessProbe)) | nindent 10 }}
          {{- include "ticketing.probe" (dict "name" "readinessProbe" "probe" ($proc.readinessProbe | default $values.web.readinessProbe)) | nindent 10 }}
          {{- else }}
          {{- $bg := $values.background }}
          {{- range $probe := list "startupProbe" "livenessProbe" }}
          {{- include "ticketing.heartbeatProbe" (dict "name" $probe "process" $.process "maxAge" $bg.maxHeartbeatAgeSeconds "probe" (index $proc $probe | default (index $bg $probe))) | nindent 10 }}
          {{- end }}
          {{- end }}
          resources: {{- toYaml $proc.resources | nindent 12 }}
      {{- with include "ticketing.scheduling" $proc }}{{ . | nindent 6 }}{{ end }}
{{- end -}}

{{/* ---------- Web tier: Service, PodDisruptionBudget, HorizontalPodAutoscaler ---------- */}}

{{- define "ticketing.service" -}}
{{- $component := include "ticketing.component" (merge (dict "process" "web") .) -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "ticketing.service.host" . }}
  namespace: {{ .context.Release.Namespace }}
  labels: {{- include "ticketing.labels" (dict "component" $component "context" .context) | nindent 4 }}
  {{- with include "ticketing.annotations" .context }}{{ . | nindent 2 }}{{ end }}
spec:
  type: ClusterIP
  ports:
    - name: http
      port: 80
      targetPort: http
      protocol: TCP
  selector: {{- include "ticketing.selectorLabels" (dict "component" $component "context" .context) | nindent 4 }}
{{- end -}}

{{/*
The PodDisruptionBudget of a process: web unless pdb.create is false; a consumer or
worker when it runs more than one replica (beat runs one).
Usage: include "ticketing.pdb" (dict "service" "orders" "process" "worker" "context" $)
*/}}
{{- define "ticketing.pdb" -}}
{{- $process := .process | default "web" -}}
{{- $proc := index (index .context.Values .service) $process -}}
{{- $wanted := false -}}
{{- if eq $process "web" -}}
{{- $wanted = $proc.pdb.create -}}
{{- else if and $proc.pdb $proc.enabled -}}
{{- $wanted = gt (int $proc.replicaCount) 1 -}}
{{- end -}}
{{- if $wanted -}}
{{- $web := $proc -}}
{{- $ctx := merge (dict "process" $process) . -}}
{{- $component := include "ticketing.component" $ctx -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "ticketing.component.fullname" $ctx }}
  namespace: {{ .context.Release.Namespace }}
  labels: {{- include "ticketing.labels" (dict "component" $component "context" .context) | nindent 4 }}
  {{- with include "ticketing.annotations" .context }}{{ . | nindent 2 }}{{ end }}
spec:
  {{- if toString ($web.pdb.minAvailable | default "") }}
  minAvailable: {{ $web.pdb.minAvailable }}
  {{- else }}
  maxUnavailable: {{ $web.pdb.maxUnavailable | default 1 }}
  {{- end }}
  selector:
    matchLabels: {{- include "ticketing.selectorLabels" (dict "component" $component "context" .context) | nindent 6 }}
{{- end -}}
{{- end -}}

{{- define "ticketing.hpa" -}}
{{- $web := (index .context.Values .service).web -}}
{{- if $web.autoscaling.enabled -}}
{{- $ctx := merge (dict "process" "web") . -}}
{{- $component := include "ticketing.component" $ctx -}}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "ticketing.component.fullname" $ctx }}
  namespace: {{ .context.Release.Namespace }}
  labels: {{- include "ticketing.labels" (dict "component" $component "context" .context) | nindent 4 }}
  {{- with include "ticketing.annotations" .context }}{{ . | nindent 2 }}{{ end }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "ticketing.component.fullname" $ctx }}
  minReplicas: {{ $web.autoscaling.minReplicas }}
  maxReplicas: {{ $web.autoscaling.maxReplicas }}
  metrics:
    {{- with $web.autoscaling.targetCPU }}
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ . }}
    {{- end }}
    {{- with $web.autoscaling.targetMemory }}
    - type: Resource
      resource:
        name: memory
        target:
          type: Utilization
          averageUtilization: {{ . }}
    {{- end }}
{{- end -}}
{{- end -}}

{{/* ---------- Migrations ---------- */}}

{{/* One Job per release revision, so every install and upgrade migrates once. */}}
{{- define "ticketing.migrations.jobBase" -}}
{{- printf "%s-%s" (include "ticketing.fullname" .context) (include "ticketing.service.name" .service) | trunc 45 | trimSuffix "-" -}}
{{- end -}}

{{/* The revision is in the Job's name only, never in a pod template of a Deployment. */}}
{{- define "ticketing.migrations.jobName" -}}
{{- printf "%s-migrate-%d" (include "ticketing.migrations.jobBase" .) (.context.Release.Revision | int) -}}
{{- end -}}

{{- define "ticketing.migrations.job" -}}
{{- $values := .context.Values -}}
{{- $component := printf "%s-migrations" (include "ticketing.service.name" .service) -}}
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ include "ticketing.migrations.jobName" . }}
  namespace: {{ .context.Release.Namespace }}
  labels: {{- include "ticketing.labels" (dict "component" $component "context" .context) | nindent 4 }}
  {{- with include "ticketing.annotations" .context }}{{ . | nindent 2 }}{{ end }}
spec:
  backoffLimit: {{ $values.migrations.backoffLimit }}
  activeDeadlineSeconds: {{ $values.migrations.activeDeadlineSeconds }}
  {{- with $values.migrations.ttlSecondsAfterFinished }}
  ttlSecondsAfterFinished: {{ . }}
  {{- end }}
  template:
    metadata:
      labels: {{- include "ticketing.labels" (dict "component" $component "context" .context) | nindent 8 }}
        {{- include "ticketing.accessLabels" . | nindent 8 }}
    spec:
      {{- include "ticketing.podSpec.common" . | nindent 6 }}
      restartPolicy: Never
      initContainers:
        ## An in-chart database may still be starting: wait for it rather than spend retries.
        - name: wait-for-database
          {{- include "ticketing.container.common" . | nindent 10 }}
          command: ["/bin/sh", "-c"]
          args:
            - |
              until out=$(python -c 'import django; django.setup(); from django.db import connection; connection.ensure_connection()' 2>&1); do
                echo "Waiting for the database {{ (index $values .service).database.name }} at {{ include "ticketing.database.host" .context }}:"
                echo "$out" | tail -n 3
                sleep {{ $values.migrations.waitIntervalSeconds }}
              done
          resources: {{- toYaml $values.migrations.waitResources | nindent 12 }}
      containers:
        - name: migrate
          {{- include "ticketing.container.common" . | nindent 10 }}
          command: ["python", "manage.py", "migrate", "--noinput"]
          resources: {{- toYaml $values.migrations.resources | nindent 12 }}
{{- end -}}
