{{/*
The in-chart Kafka's scripts (kafka/configmap.yaml): the broker's start, and the setup
Job's users and ACLs. The SASL mechanism, names and topics come from values and the
ACL table (ticketing.kafka.acls); passwords only from the environment.
*/}}

{{- define "ticketing.kafka.startScript" -}}
{{- $kafka := .Values.kafka -}}
#!/bin/bash
# One KRaft node. Clients (and the broker itself) use SASL/SCRAM on :9092; the controller
# listener is plain but bound to localhost, so only this pod reaches it. A client needs
# an ACL for everything; User:ANONYMOUS is the controller listener's principal.
set -euo pipefail
mkdir -p /tmp/kafka
props=/tmp/kafka/server.properties
cat > "$props" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@localhost:9093
controller.listener.names=CONTROLLER
listeners=CLIENT://:9092,CONTROLLER://localhost:9093
advertised.listeners=CLIENT://${KAFKA_ADVERTISED_HOST}:9092
listener.security.protocol.map=CLIENT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=CLIENT
sasl.enabled.mechanisms={{ $kafka.sasl.mechanism }}
sasl.mechanism.inter.broker.protocol={{ $kafka.sasl.mechanism }}
listener.name.client.{{ lower $kafka.sasl.mechanism }}.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="${KAFKA_ADMIN_PASSWORD}";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:admin;User:ANONYMOUS
allow.everyone.if.no.acl.found=false
log.dirs=/var/lib/kafka/data
num.partitions={{ $kafka.topicPartitions }}
auto.create.topics.enable=true
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
EOF
# The admin's credential goes in when the storage is first formatted; a formatted volume
# is kept as it is.
/opt/kafka/bin/kafka-storage.sh format --ignore-formatted --cluster-id "$CLUSTER_ID" --config "$props" \
  --add-scram "{{ $kafka.sasl.mechanism }}=[name=admin,password=${KAFKA_ADMIN_PASSWORD}]"
exec /opt/kafka/bin/kafka-server-start.sh "$props"
{{- end -}}

{{- define "ticketing.kafka.setupScript" -}}
{{- $kafka := .Values.kafka -}}
{{- $mechanism := $kafka.sasl.mechanism -}}
#!/bin/bash
# Each service's SCRAM user (its password from the release's Secret) and its ACLs.
# Every step is idempotent: a rerun sets the same passwords and the same ACLs.
set -euo pipefail
bootstrap={{ include "ticketing.kafka.bootstrapServers" . }}
cat > /tmp/admin.properties <<EOF
security.protocol=SASL_PLAINTEXT
sasl.mechanism={{ $mechanism }}
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="${ADMIN_PASSWORD}";
EOF
admin=(--bootstrap-server "$bootstrap" --command-config /tmp/admin.properties)
until /opt/kafka/bin/kafka-topics.sh "${admin[@]}" --list >/dev/null; do
  echo "Waiting for Kafka at $bootstrap"
  sleep 5
done
acl() { /opt/kafka/bin/kafka-acls.sh "${admin[@]}" --add --force "$@"; }
{{- range $user, $rights := include "ticketing.kafka.acls" . | fromYaml }}
echo "User {{ $user }}"
/opt/kafka/bin/kafka-configs.sh "${admin[@]}" --alter --entity-type users --entity-name {{ $user }} \
  --add-config "{{ $mechanism }}=[password=${{ "{" }}{{ upper $user }}_PASSWORD}]"
{{- if $rights.writes }}
acl --allow-principal User:{{ $user }} --operation Write --operation Describe --operation Create{{ range $rights.writes }} --topic {{ . }}{{ end }} --topic {{ $user }}.dlq
{{- end }}
{{- if $rights.reads }}
acl --allow-principal User:{{ $user }} --operation Read --operation Describe --operation Create{{ range $rights.reads }} --topic {{ . }}{{ end }}
acl --allow-principal User:{{ $user }} --operation Read --operation Describe --group {{ $user }}
{{- end }}
{{- end }}
echo "Kafka users and ACLs are in place."
{{- end -}}
