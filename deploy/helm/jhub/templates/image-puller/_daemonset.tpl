{{- /*
Image pullers: DaemonSets on the nodes user pods can land on, whose init
containers use every image a user pod may need (so the kubelet pulls them)
and then exit; a pause container keeps the pod around.

Images: network-tools (when the cloud metadata block is on), the singleuser
image, images of singleuser.initContainers/extraContainers, with
prePuller.pullProfileListImages every kubespawner_override.image of the
profiles and of their profile_options choices, and prePuller.extraImages.
*/ -}}

{{- /* The images to pull, as JSON [{"name": container name, "image", "pullPolicy"}]. */}}
{{- define "jhub.puller.images" -}}
{{- $su := .Values.singleuser -}}
{{- $out := list -}}
{{- if $su.cloudMetadata.blockWithIptables -}}
{{- $out = append $out (dict "name" "image-pull-metadata-block" "image" (include "jhub.image" $su.networkTools.image) "pullPolicy" $su.networkTools.image.pullPolicy) -}}
{{- end -}}
{{- $out = append $out (dict "name" "image-pull-singleuser" "image" (include "jhub.image" $su.image)) -}}
{{- range $i, $c := concat ($su.initContainers | default list) ($su.extraContainers | default list) -}}
{{- if $c.image -}}
{{- $out = append $out (dict "name" (printf "image-pull-singleuser-init-and-extra-containers-%d" $i) "image" $c.image) -}}
{{- end -}}
{{- end -}}
{{- if .Values.prePuller.pullProfileListImages -}}
{{- range $i, $profile := $su.profileList | default list -}}
{{- with $profile.kubespawner_override -}}
{{- if .image -}}
{{- $out = append $out (dict "name" (printf "image-pull-singleuser-profilelist-%d" $i) "image" .image) -}}
{{- end -}}
{{- end -}}
{{- range $optionKey, $option := $profile.profile_options | default dict -}}
{{- range $choiceKey, $choice := $option.choices | default dict -}}
{{- with $choice.kubespawner_override -}}
{{- if .image -}}
{{- $out = append $out (dict "name" (printf "image-pull-profile-%d-option-%s-%s" $i $optionKey $choiceKey | lower | trunc 63 | trimSuffix "-") "image" .image) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- range $key, $image := .Values.prePuller.extraImages -}}
{{- $out = append $out (dict "name" (printf "image-pull-%s" $key) "image" (include "jhub.image" $image) "pullPolicy" $image.pullPolicy) -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{- /* (list $ "hook"|"continuous"): one puller DaemonSet. */}}
{{- define "jhub.puller.daemonset" -}}
{{- $root := index . 0 -}}
{{- $kind := index . 1 -}}
{{- $hook := eq $kind "hook" -}}
{{- $component := printf "%s-image-puller" $kind -}}
{{- $pp := $root.Values.prePuller -}}
{{- $values := $root.Values -}}
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: {{ include "jhub.name" (list $root $component) }}
  labels:
    {{- include "jhub.labels" (list $root $component) | nindent 4 }}
    {{- if $hook }}
    hub.jupyter.org/deletable: "true"
    {{- end }}
  {{- if $hook }}
  annotations:
    # Created before install/upgrade, deleted once the awaiter Job succeeded.
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
    helm.sh/hook-weight: "-10"
    {{- with $pp.hook.daemonsetAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- else }}
  {{- with $pp.continuous.daemonsetAnnotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- end }}
spec:
  selector:
    matchLabels:
      {{- include "jhub.selectorLabels" (list $root $component) | nindent 6 }}
  updateStrategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 100%
  {{- if not (kindIs "invalid" $pp.revisionHistoryLimit) }}
  revisionHistoryLimit: {{ $pp.revisionHistoryLimit }}
  {{- end }}
  template:
    metadata:
      labels:
        {{- include "jhub.podLabels" (list $root $component) | nindent 8 }}
        {{- with $pp.labels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with $pp.annotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    spec:
      {{- if $values.scheduling.podPriority.enabled }}
      priorityClassName: {{ include "jhub.imagePullerPriorityName" $root }}
      {{- end }}
      {{- with $values.singleuser.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with concat ($values.scheduling.userPods.tolerations | default list) ($values.singleuser.extraTolerations | default list) ($pp.extraTolerations | default list) }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- /* Only the required terms: a preference cannot keep a puller off
      a node, and every node user pods may use needs the images. */}}
      {{- with (include "jhub.userNodeAffinity" $root | fromJson).required }}
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
              {{- toYaml . | nindent 14 }}
      {{- end }}
      terminationGracePeriodSeconds: 0
      {{- if $hook }}
      serviceAccountName: {{ $pp.hook.serviceAccountImagePuller.name | default (include "jhub.name" (list $root "hook-image-puller")) }}
      {{- else }}
      serviceAccountName: {{ $pp.continuous.serviceAccount.name | default (include "jhub.name" (list $root "continuous-image-puller")) }}
      {{- end }}
      automountServiceAccountToken: false
      {{- with include "jhub.imagePullSecrets" (list $root $values.singleuser.image) }}
      imagePullSecrets: {{ . }}
      {{- end }}
      initContainers:
        {{- range include "jhub.puller.images" $root | fromJsonArray }}
        - name: {{ .name }}
          image: {{ .image }}
          {{- with .pullPolicy }}
          imagePullPolicy: {{ . }}
          {{- end }}
          command: ["/bin/sh", "-c", "echo Pulling complete"]
          {{- with $pp.resources }}
          resources:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with $pp.containerSecurityContext }}
          securityContext:
            {{- toYaml . | nindent 12 }}
          {{- end }}
        {{- end }}
      containers:
        - name: pause
          image: {{ include "jhub.image" $pp.pause.image }}
          {{- with $pp.pause.image.pullPolicy }}
          imagePullPolicy: {{ . }}
          {{- end }}
          {{- with $pp.resources }}
          resources:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with $pp.pause.containerSecurityContext }}
          securityContext:
            {{- toYaml . | nindent 12 }}
          {{- end }}
{{- end -}}

{{- /* Checksum of what the hook would pull and how; the hub ConfigMap keeps
it so that with pullOnlyOnChanges the hook runs only when it changed. Chart
version and labels are left out: they change without changing any image. */}}
{{- define "jhub.hookPuller.checksum" -}}
{{- $pinned := merge (dict "Chart" (dict "Name" "pinned" "Version" "pinned")) (omit . "Chart") -}}
{{- include "jhub.puller.daemonset" (list $pinned "hook") | sha256sum -}}
{{- end -}}

{{- /* Non-empty when the hook pullers should be part of this install or
upgrade: prePuller.hook.enabled and, with pullOnlyOnChanges, a checksum that
differs from the one stored by the previous release. */}}
{{- define "jhub.hookPuller.install" -}}
{{- if .Values.prePuller.hook.enabled -}}
{{- if .Values.prePuller.hook.pullOnlyOnChanges -}}
{{- $live := include "jhub.lookup" (list . "v1" "ConfigMap" .Release.Namespace (include "jhub.name" (list . "hub"))) | fromJson -}}
{{- $stored := dig "data" "checksum_hook-image-puller" "" $live -}}
{{- if ne $stored (include "jhub.hookPuller.checksum" .) -}}changed{{- end -}}
{{- else -}}always{{- end -}}
{{- end -}}
{{- end -}}
