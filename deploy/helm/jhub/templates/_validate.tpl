{{- /*
Values the chart refuses, with the reason and the fix. Included from the hub
ConfigMap (always rendered), so `helm install`, `helm upgrade` and
`helm template` all stop before anything is applied. The schema
(values.schema.json) has already rejected unknown keys and wrong types.
*/ -}}
{{- define "jhub.validate" -}}
{{- $problems := list -}}
{{- if hasKey .Values.rbac "enabled" -}}
{{- $problems = append $problems "rbac.enabled was removed in z2jh 2.0: use rbac.create (and <component>.serviceAccount.create)." -}}
{{- end -}}
{{- if hasKey .Values.hub "fsGid" -}}
{{- $problems = append $problems "hub.fsGid was removed in z2jh 2.0: use hub.podSecurityContext.fsGroup." -}}
{{- end -}}
{{- with .Values.httpRoute.gateway -}}
{{- $ref := printf "      - kind: Gateway\n        name: %s" (.name | default "<gateway>") -}}
{{- if .namespace }}{{ $ref = printf "%s\n        namespace: %s" $ref .namespace }}{{ end -}}
{{- $problems = append $problems (printf "httpRoute.gateway was removed in z2jh 5.0: use httpRoute.parentRefs, e.g.\n  httpRoute:\n    parentRefs:\n%s" $ref) -}}
{{- end -}}
{{- $su := .Values.singleuser -}}
{{- if and $su.cloudMetadata.blockWithIptables $su.networkPolicy.enabled $su.networkPolicy.egressAllowRules.cloudMetadataServer -}}
{{- $problems = append $problems "singleuser.cloudMetadata.blockWithIptables=true contradicts singleuser.networkPolicy.egressAllowRules.cloudMetadataServer=true: set one of them to false." -}}
{{- end -}}
{{- if eq (include "jhub.httpsMode" .) "letsencrypt" -}}
{{- $problems = append $problems "proxy.https.type=letsencrypt (Traefik with ACME) is not provided by the jhub chart. Terminate TLS in front of proxy-public (nginx, an Ingress with cert-manager: see deploy/README.md), use proxy.https.type manual, secret or offload, or keep the z2jh chart and set only hub.image to jhub's image." -}}
{{- end -}}
{{- $db := .Values.hub.db -}}
{{- if eq $db.type "mysql" -}}
{{- $problems = append $problems "hub.db.type=mysql: jhub supports sqlite-pvc, sqlite-memory and postgres (or other with a postgresql:// or sqlite:// hub.db.url)." -}}
{{- else if and (has $db.type (list "postgres" "other")) (not $db.url) -}}
{{- $problems = append $problems (printf "hub.db.type=%s needs hub.db.url (e.g. postgresql://jhub@db.example.org:5432/jhub; the password goes in hub.db.password)." $db.type) -}}
{{- end -}}
{{- with $problems -}}
{{- fail (printf "\n\njhub chart: these values cannot be deployed:\n\n- %s\n" (join "\n- " .)) -}}
{{- end -}}
{{- end -}}
