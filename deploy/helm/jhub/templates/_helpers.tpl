{{- /*
Names, labels and small shared pieces of the jhub chart.

Object names and label values are z2jh's on purpose: a release installed with
the z2jh chart can be upgraded in place to this chart (Deployment, DaemonSet
and StatefulSet selectors are immutable, and the hub's PVC keeps its name), and
jhub-podspec computes the same names for what the hub creates at run time
(user-scheduler name, priority class, proxy-api and hub Services).
*/}}

{{- /* The prefix of every object name: fullnameOverride when it is a string
(default ""), else <release>-<nameOverride or "jupyterhub">, shortened to the
release name when that already contains it. "jupyterhub" rather than the chart
name keeps names identical to a z2jh release. */}}
{{- define "jhub.fullname" -}}
{{- if kindIs "string" .Values.fullnameOverride -}}
{{- .Values.fullnameOverride -}}
{{- else -}}
{{- $name := .Values.nameOverride | default "jupyterhub" -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "jhub.prefix" -}}
{{- with include "jhub.fullname" . -}}{{ . }}-{{- end -}}
{{- end -}}

{{- /* jhub.name: the name of one object, (list $ "suffix"), e.g. (list $ "hub"). */}}
{{- define "jhub.name" -}}
{{- $root := index . 0 -}}
{{- printf "%s%s" (include "jhub.prefix" $root) (index . 1) -}}
{{- end -}}

{{- /* Cluster-wide names must be unique in the cluster: without a prefix the
release name is used instead. */}}
{{- define "jhub.clusterName" -}}
{{- $root := index . 0 -}}
{{- $withPrefix := index . 1 -}}
{{- $withoutPrefix := index . 2 -}}
{{- if include "jhub.fullname" $root -}}
{{- $withPrefix -}}
{{- else -}}
{{- printf "%s-%s" $root.Release.Name $withoutPrefix -}}
{{- end -}}
{{- end -}}

{{- /* The scheduler name user pods carry (KubeSpawner.scheduler_name). */}}
{{- define "jhub.userSchedulerName" -}}
{{- include "jhub.clusterName" (list . (include "jhub.name" (list . "user-scheduler")) "user-scheduler") -}}
{{- end -}}

{{- /* The kube-scheduler tag for the user scheduler: (list configuredTag
clusterVersion). A scheduler must not be newer than its API server, so on a
cluster whose minor version is older than the configured tag's, the cluster's
own major.minor.patch is used (registry.k8s.io publishes every upstream
patch release; suffixes such as -eks-... are dropped). Tags that are not
versions are used as given. */}}
{{- define "jhub.userSchedulerTag" -}}
{{- $tag := index . 0 -}}
{{- $cluster := regexFind "^v?[0-9]+\\.[0-9]+\\.[0-9]+" (index . 1) -}}
{{- $tagMinor := regexFind "^v?[0-9]+\\.[0-9]+" $tag -}}
{{- if and $cluster $tagMinor (semverCompare (printf "< %s.0" $tagMinor) $cluster) -}}
{{- printf "v%s" (trimPrefix "v" $cluster) -}}
{{- else -}}
{{- $tag -}}
{{- end -}}
{{- end -}}

{{- define "jhub.priorityName" -}}
{{- include "jhub.clusterName" (list . (include "jhub.fullname" .) "default-priority") -}}
{{- end -}}

{{- define "jhub.userPlaceholderPriorityName" -}}
{{- include "jhub.clusterName" (list . (include "jhub.name" (list . "user-placeholder")) "user-placeholder-priority") -}}
{{- end -}}

{{- define "jhub.imagePullerPriorityName" -}}
{{- include "jhub.clusterName" (list . (include "jhub.name" (list . "image-puller")) "image-puller-priority") -}}
{{- end -}}

{{- /* Name of a ServiceAccount: (list $ serviceAccountValues defaultName). */}}
{{- define "jhub.serviceAccountName" -}}
{{- $sa := index . 1 -}}
{{- if $sa.create -}}
{{- $sa.name | default (index . 2) -}}
{{- else -}}
{{- $sa.name | default "default" -}}
{{- end -}}
{{- end -}}

{{- define "jhub.hubServiceAccountName" -}}
{{- include "jhub.serviceAccountName" (list . .Values.hub.serviceAccount (include "jhub.name" (list . "hub"))) -}}
{{- end -}}

{{- define "jhub.userSchedulerServiceAccountName" -}}
{{- include "jhub.serviceAccountName" (list . .Values.scheduling.userScheduler.serviceAccount (include "jhub.name" (list . "user-scheduler"))) -}}
{{- end -}}

{{- /* The ingress and HTTPRoute objects are named after the release prefix,
or "jupyterhub" without one. */}}
{{- define "jhub.routeName" -}}
{{- include "jhub.fullname" . | default "jupyterhub" -}}
{{- end -}}

{{- /* Resource names the hub can look up, one file each in
/usr/local/etc/jupyterhub/config/ (the hub ConfigMap). The keys are the ones
the z2jh chart publishes, so jhub reads the same layout under either chart. */}}
{{- define "jhub.nameTable" -}}
{{- $hub := include "jhub.name" (list . "hub") -}}
{{- $existing := .Values.hub.existingSecret | default "" -}}
fullname: {{ include "jhub.fullname" . | quote }}
fullname-dash: {{ include "jhub.prefix" . | quote }}
hub: {{ $hub | quote }}
hub-serviceaccount: {{ include "jhub.hubServiceAccountName" . | quote }}
hub-existing-secret: {{ $existing | quote }}
hub-existing-secret-or-default: {{ $existing | default $hub | quote }}
hub-pvc: {{ printf "%s-db-dir" $hub | quote }}
proxy: {{ include "jhub.name" (list . "proxy") | quote }}
proxy-api: {{ include "jhub.name" (list . "proxy-api") | quote }}
proxy-http: {{ include "jhub.name" (list . "proxy-http") | quote }}
proxy-public: {{ include "jhub.name" (list . "proxy-public") | quote }}
proxy-public-tls: {{ include "jhub.name" (list . "proxy-public-tls-acme") | quote }}
proxy-public-manual-tls: {{ include "jhub.name" (list . "proxy-public-manual-tls") | quote }}
autohttps: {{ include "jhub.name" (list . "autohttps") | quote }}
autohttps-serviceaccount: {{ include "jhub.serviceAccountName" (list . .Values.proxy.traefik.serviceAccount (include "jhub.name" (list . "autohttps"))) | quote }}
user-scheduler-deploy: {{ include "jhub.name" (list . "user-scheduler") | quote }}
user-scheduler-serviceaccount: {{ include "jhub.userSchedulerServiceAccountName" . | quote }}
user-scheduler-lock: {{ include "jhub.name" (list . "user-scheduler-lock") | quote }}
user-placeholder: {{ include "jhub.name" (list . "user-placeholder") | quote }}
image-puller-priority: {{ include "jhub.imagePullerPriorityName" . | quote }}
hook-image-awaiter: {{ include "jhub.name" (list . "hook-image-awaiter") | quote }}
hook-image-awaiter-serviceaccount: {{ include "jhub.serviceAccountName" (list . .Values.prePuller.hook.serviceAccount (include "jhub.name" (list . "hook-image-awaiter"))) | quote }}
hook-image-puller: {{ include "jhub.name" (list . "hook-image-puller") | quote }}
hook-image-puller-serviceaccount: {{ .Values.prePuller.hook.serviceAccountImagePuller.name | default (include "jhub.name" (list . "hook-image-puller")) | quote }}
continuous-image-puller: {{ include "jhub.name" (list . "continuous-image-puller") | quote }}
continuous-image-puller-serviceaccount: {{ .Values.prePuller.continuous.serviceAccount.name | default (include "jhub.name" (list . "continuous-image-puller")) | quote }}
singleuser: {{ include "jhub.name" (list . "singleuser") | quote }}
image-pull-secret: {{ include "jhub.name" (list . "image-pull-secret") | quote }}
ingress: {{ include "jhub.routeName" . | quote }}
priority: {{ include "jhub.priorityName" . | quote }}
user-placeholder-priority: {{ include "jhub.userPlaceholderPriorityName" . | quote }}
user-scheduler: {{ include "jhub.userSchedulerName" . | quote }}
{{- end -}}

{{- /* Label values. "app" is z2jh's ("jupyterhub" unless nameOverride) so that
selectors match those of an existing z2jh release. */}}
{{- define "jhub.appLabel" -}}
{{- .Values.nameOverride | default "jupyterhub" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- /* Selector labels of a component: (list $ "component"). */}}
{{- define "jhub.selectorLabels" -}}
{{- $root := index . 0 -}}
component: {{ index . 1 | quote }}
app: {{ include "jhub.appLabel" $root | quote }}
release: {{ $root.Release.Name | quote }}
{{- end -}}

{{- /* Labels of a pod template: the selector plus the app.kubernetes.io set. */}}
{{- define "jhub.podLabels" -}}
{{- $root := index . 0 -}}
{{ include "jhub.selectorLabels" . }}
app.kubernetes.io/component: {{ index . 1 | quote }}
app.kubernetes.io/name: {{ include "jhub.appLabel" $root | quote }}
app.kubernetes.io/instance: {{ $root.Release.Name | quote }}
{{- end -}}

{{- /* Labels of an object: (list $ "component"). */}}
{{- define "jhub.labels" -}}
{{- $root := index . 0 -}}
{{ include "jhub.podLabels" . }}
chart: {{ printf "%s-%s" $root.Chart.Name ($root.Chart.Version | replace "+" "_") | quote }}
heritage: {{ $root.Release.Service | quote }}
helm.sh/chart: {{ printf "%s-%s" $root.Chart.Name ($root.Chart.Version | replace "+" "_") | quote }}
app.kubernetes.io/managed-by: {{ $root.Release.Service | quote }}
{{- end -}}

{{- /* User pods are selected by component and release only: their "app" label
comes from the chart name the hub was deployed with (KubeSpawner's
common_labels), which differs between this chart and z2jh's. */}}
{{- define "jhub.userPodSelector" -}}
component: singleuser-server
release: {{ .Release.Name | quote }}
{{- end -}}

{{- /* image reference: name:tag, or name alone when the tag is empty. */}}
{{- define "jhub.image" -}}
{{- if .tag -}}{{ .name }}:{{ .tag }}{{- else -}}{{ .name }}{{- end -}}
{{- end -}}

{{- /* imagePullSecrets of a pod as a JSON list (empty output when none):
(list $ imageValues). Order: the image's own, the chart-wide list, then the
chart-made Secret when it is injected automatically. */}}
{{- define "jhub.imagePullSecrets" -}}
{{- $root := index . 0 -}}
{{- $image := index . 1 -}}
{{- $names := concat ($image.pullSecrets | default list) ($root.Values.imagePullSecrets | default list) -}}
{{- if and $root.Values.imagePullSecret.create $root.Values.imagePullSecret.automaticReferenceInjection -}}
{{- $names = append $names (include "jhub.name" (list $root "image-pull-secret")) -}}
{{- end -}}
{{- $out := list -}}
{{- range $names | uniq -}}
{{- if kindIs "string" . -}}
{{- $out = append $out (dict "name" .) -}}
{{- else -}}
{{- $out = append $out . -}}
{{- end -}}
{{- end -}}
{{- if $out -}}{{ toJson $out }}{{- end -}}
{{- end -}}

{{- /* Container env entries from an extraEnv value: a list is used as is; in
a map, a string value becomes {name: key, value}, a map value an EnvVar named
after its key unless it names itself. */}}
{{- define "jhub.extraEnv" -}}
{{- if kindIs "slice" . -}}
{{ toYaml . }}
{{- else if kindIs "map" . -}}
{{- $out := list -}}
{{- range $key, $value := . -}}
{{- if kindIs "map" $value -}}
{{- $out = append $out (merge (dict) $value (dict "name" $key)) -}}
{{- else if kindIs "string" $value -}}
{{- $out = append $out (dict "name" $key "value" $value) -}}
{{- else -}}
{{- fail (printf "extraEnv.%s must be a string or an EnvVar map, not %s" $key (kindOf $value)) -}}
{{- end -}}
{{- end -}}
{{- if $out -}}{{ toYaml $out }}{{- end -}}
{{- end -}}
{{- end -}}

{{- /* Node affinity of hub, proxy and other core pods from
scheduling.corePods.nodeAffinity.matchNodePurpose (prefer/require/ignore). */}}
{{- define "jhub.coreAffinity" -}}
{{- $term := dict "matchExpressions" (list (dict "key" "hub.jupyter.org/node-purpose" "operator" "In" "values" (list "core"))) -}}
{{- $purpose := .Values.scheduling.corePods.nodeAffinity.matchNodePurpose -}}
{{- if eq $purpose "require" -}}
affinity:
  nodeAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      nodeSelectorTerms:
        {{- toYaml (list $term) | nindent 8 }}
{{- else if eq $purpose "prefer" -}}
affinity:
  nodeAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      {{- toYaml (list (dict "weight" 100 "preference" $term)) | nindent 6 }}
{{- end -}}
{{- end -}}

{{- /* The node affinity terms user pods get, as JSON {"required": [...],
"preferred": [...]}: the node-purpose term from
scheduling.userPods.nodeAffinity.matchNodePurpose, then singleuser.extraNodeAffinity. */}}
{{- define "jhub.userNodeAffinity" -}}
{{- $term := dict "matchExpressions" (list (dict "key" "hub.jupyter.org/node-purpose" "operator" "In" "values" (list "user"))) -}}
{{- $purpose := .Values.scheduling.userPods.nodeAffinity.matchNodePurpose -}}
{{- $required := list -}}
{{- $preferred := list -}}
{{- if eq $purpose "require" -}}
{{- $required = append $required $term -}}
{{- else if eq $purpose "prefer" -}}
{{- $preferred = append $preferred (dict "weight" 100 "preference" $term) -}}
{{- end -}}
{{- $required = concat $required (.Values.singleuser.extraNodeAffinity.required | default list) -}}
{{- $preferred = concat $preferred (.Values.singleuser.extraNodeAffinity.preferred | default list) -}}
{{- toJson (dict "required" $required "preferred" $preferred) -}}
{{- end -}}

{{- /* The full affinity user pods get (used by the placeholders, which must
land where user pods would). Empty output when there is none. */}}
{{- define "jhub.userAffinity" -}}
{{- $node := include "jhub.userNodeAffinity" . | fromJson -}}
{{- $affinity := dict -}}
{{- $na := dict -}}
{{- with $node.required -}}{{- $_ := set $na "requiredDuringSchedulingIgnoredDuringExecution" (dict "nodeSelectorTerms" .) -}}{{- end -}}
{{- with $node.preferred -}}{{- $_ := set $na "preferredDuringSchedulingIgnoredDuringExecution" . -}}{{- end -}}
{{- with $na -}}{{- $_ := set $affinity "nodeAffinity" . -}}{{- end -}}
{{- range $field, $values := dict "podAffinity" .Values.singleuser.extraPodAffinity "podAntiAffinity" .Values.singleuser.extraPodAntiAffinity -}}
{{- $pa := dict -}}
{{- with $values.required -}}{{- $_ := set $pa "requiredDuringSchedulingIgnoredDuringExecution" . -}}{{- end -}}
{{- with $values.preferred -}}{{- $_ := set $pa "preferredDuringSchedulingIgnoredDuringExecution" . -}}{{- end -}}
{{- with $pa -}}{{- $_ := set $affinity $field . -}}{{- end -}}
{{- end -}}
{{- with $affinity -}}{{ toYaml . }}{{- end -}}
{{- end -}}

{{- /* Tolerations of user pods (and of the pods that stand in for them). */}}
{{- define "jhub.userTolerations" -}}
{{- with concat (.Values.scheduling.userPods.tolerations | default list) (.Values.singleuser.extraTolerations | default list) -}}
{{ toYaml . }}
{{- end -}}
{{- end -}}

{{- /* Resources of a user pod from singleuser.cpu/memory/extraResource, for
the placeholders. Memory sizes are JupyterHub's (K/M/G/T are powers of 1024),
so they are converted to Kubernetes' binary suffixes. */}}
{{- define "jhub.memoryQuantity" -}}
{{- $v := toString . -}}
{{- if regexMatch "^[0-9.]+[KMGT]$" $v -}}
{{- printf "%si" $v -}}
{{- else -}}
{{- $v -}}
{{- end -}}
{{- end -}}

{{- define "jhub.userResources" -}}
{{- $requests := dict -}}
{{- $limits := dict -}}
{{- with .Values.singleuser.cpu.guarantee }}{{ $_ := set $requests "cpu" (toString .) }}{{ end -}}
{{- with .Values.singleuser.memory.guarantee }}{{ $_ := set $requests "memory" (include "jhub.memoryQuantity" .) }}{{ end -}}
{{- range $k, $v := .Values.singleuser.extraResource.guarantees }}{{ $_ := set $requests $k (toString $v) }}{{ end -}}
{{- with .Values.singleuser.cpu.limit }}{{ $_ := set $limits "cpu" (toString .) }}{{ end -}}
{{- with .Values.singleuser.memory.limit }}{{ $_ := set $limits "memory" (include "jhub.memoryQuantity" .) }}{{ end -}}
{{- range $k, $v := .Values.singleuser.extraResource.limits }}{{ $_ := set $limits $k (toString $v) }}{{ end -}}
{{- $out := dict -}}
{{- with $requests }}{{ $_ := set $out "requests" . }}{{ end -}}
{{- with $limits }}{{ $_ := set $out "limits" . }}{{ end -}}
{{- with $out }}{{ toYaml . }}{{ end -}}
{{- end -}}

{{- /* One lookup of a live object, as JSON ("{}" when absent or when
rendering offline): (list $ apiVersion kind namespace name). Every lookup of
the chart goes through here (the tests replace this one helper to simulate a
cluster). */}}
{{- define "jhub.lookup" -}}
{{- toJson ((lookup (index . 1) (index . 2) (index . 3) (index . 4)) | default dict) -}}
{{- end -}}

{{- /* The data of the hub Secret as it is in the cluster now (base64 values),
so generated secrets survive upgrades. */}}
{{- define "jhub.hubSecretState" -}}
{{- $live := include "jhub.lookup" (list . "v1" "Secret" .Release.Namespace (include "jhub.name" (list . "hub"))) | fromJson -}}
{{- toJson ($live.data | default dict) -}}
{{- end -}}

{{- /* A new 64-hex-character secret (256 bits from the CSPRNG). */}}
{{- define "jhub.newSecret" -}}
{{- randBytes 32 | sha256sum -}}
{{- end -}}

{{- /* (list $ "explicit value or empty" "hub Secret key"): the explicit value,
else the value already stored in the hub Secret, else a new one. */}}
{{- define "jhub.secretValue" -}}
{{- $root := index . 0 -}}
{{- $explicit := index . 1 -}}
{{- $key := index . 2 -}}
{{- if $explicit -}}
{{- $explicit -}}
{{- else -}}
{{- $state := include "jhub.hubSecretState" $root | fromJson -}}
{{- if hasKey $state $key -}}
{{- index $state $key | b64dec -}}
{{- else -}}
{{- include "jhub.newSecret" $root -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "jhub.proxyToken" -}}
{{- $explicit := dig "ConfigurableHTTPProxy" "auth_token" "" .Values.hub.config | default .Values.proxy.secretToken -}}
{{- include "jhub.secretValue" (list . $explicit "hub.config.ConfigurableHTTPProxy.auth_token") -}}
{{- end -}}

{{- define "jhub.cookieSecret" -}}
{{- $explicit := dig "JupyterHub" "cookie_secret" "" .Values.hub.config | default .Values.hub.cookieSecret -}}
{{- include "jhub.secretValue" (list . $explicit "hub.config.JupyterHub.cookie_secret") -}}
{{- end -}}

{{- define "jhub.cryptKeys" -}}
{{- $keys := dig "CryptKeeper" "keys" "" .Values.hub.config -}}
{{- $explicit := "" -}}
{{- if kindIs "slice" $keys -}}
{{- $explicit = join ";" $keys -}}
{{- else if $keys -}}
{{- $explicit = toString $keys -}}
{{- end -}}
{{- include "jhub.secretValue" (list . $explicit "hub.config.CryptKeeper.keys") -}}
{{- end -}}

{{- define "jhub.serviceApiToken" -}}
{{- $root := index . 0 -}}
{{- $name := index . 1 -}}
{{- $service := index $root.Values.hub.services $name | default dict -}}
{{- $explicit := $service.apiToken | default $service.api_token | default "" -}}
{{- include "jhub.secretValue" (list $root $explicit (printf "hub.services.%s.apiToken" $name)) -}}
{{- end -}}

{{- /* extraFiles → Secret data (binaryData entries) and stringData (data and
stringData entries). Each entry needs mountPath and exactly one content field;
structured data is serialised by the mount path's extension. */}}
{{- define "jhub.extraFiles.check" -}}
{{- $key := index . 0 -}}
{{- $file := index . 1 -}}
{{- if not $file.mountPath -}}
{{- fail (printf "extraFiles.%s: mountPath is required" $key) -}}
{{- end -}}
{{- $n := 0 -}}
{{- range $field := list "data" "stringData" "binaryData" -}}
{{- if index $file $field }}{{ $n = add1 $n }}{{ end -}}
{{- end -}}
{{- if ne (int $n) 1 -}}
{{- fail (printf "extraFiles.%s: set exactly one of data, stringData and binaryData" $key) -}}
{{- end -}}
{{- end -}}

{{- define "jhub.extraFiles.data" -}}
{{- $out := dict -}}
{{- range $key, $file := . -}}
{{- include "jhub.extraFiles.check" (list $key $file) -}}
{{- with $file.binaryData }}{{ $_ := set $out $key (nospace .) }}{{ end -}}
{{- end -}}
{{- with $out }}{{ toYaml . }}{{ end -}}
{{- end -}}

{{- define "jhub.extraFiles.stringData" -}}
{{- $out := dict -}}
{{- range $key, $file := . -}}
{{- include "jhub.extraFiles.check" (list $key $file) -}}
{{- if $file.stringData -}}
{{- $_ := set $out $key $file.stringData -}}
{{- else if $file.data -}}
{{- $ext := ext (base $file.mountPath) -}}
{{- if or (eq $ext ".yaml") (eq $ext ".yml") -}}
{{- $_ := set $out $key (toYaml $file.data) -}}
{{- else if eq $ext ".json" -}}
{{- $_ := set $out $key (toJson $file.data) -}}
{{- else if eq $ext ".toml" -}}
{{- $_ := set $out $key (toToml $file.data) -}}
{{- else -}}
{{- fail (printf "extraFiles.%s: data needs a mountPath ending in .yaml, .yml, .json or .toml (got %s)" $key $file.mountPath) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- with $out }}{{ toYaml . }}{{ end -}}
{{- end -}}

{{- /* HTTPS mode of the proxy: "" (plain HTTP), manual, secret, offload or
letsencrypt. */}}
{{- define "jhub.httpsMode" -}}
{{- $https := .Values.proxy.https -}}
{{- if $https.enabled -}}
{{- if and (eq $https.type "letsencrypt") $https.hosts -}}letsencrypt
{{- else if has $https.type (list "manual" "secret" "offload") -}}{{ $https.type }}
{{- end -}}
{{- end -}}
{{- end -}}
