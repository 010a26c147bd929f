{{- /*
Pieces shared by the NetworkPolicies (hub, proxy, singleuser, autohttps).
Private ranges are RFC 1918; the cloud metadata address comes from
singleuser.cloudMetadata.ip.
*/ -}}

{{- /* Ingress from pods carrying an access label, and with
interNamespaceAccessLabels=accept also from such pods or namespaces elsewhere:
(list $netpolValues "hub.jupyter.org/network-access-hub" ports). */}}
{{- define "jhub.netpol.labelledIngress" -}}
{{- $np := index . 0 -}}
{{- $label := index . 1 -}}
{{- $ports := index . 2 -}}
{{- $peer := dict "podSelector" (dict "matchLabels" (dict $label "true")) -}}
{{- $from := list $peer -}}
{{- if eq $np.interNamespaceAccessLabels "accept" -}}
{{- $from = list (merge (dict "namespaceSelector" (dict "matchLabels" dict)) $peer) (dict "namespaceSelector" (dict "matchLabels" (dict $label "true"))) -}}
{{- end -}}
{{- $rule := dict "from" $from "ports" list -}}
{{- range $ports -}}
{{- $_ := set $rule "ports" (append $rule.ports (dict "port" .)) -}}
{{- end -}}
{{ toYaml (list $rule) }}
{{- end -}}

{{- /* Ingress to ports open to everyone (allowedIngressPorts). */}}
{{- define "jhub.netpol.openPorts" -}}
{{- with . -}}
{{- $rule := dict "ports" list -}}
{{- range . -}}
{{- $_ := set $rule "ports" (append $rule.ports (dict "port" .)) -}}
{{- end -}}
{{ toYaml (list $rule) }}
{{- end -}}
{{- end -}}

{{- /* Egress rules from egressAllowRules plus the user's own egress:
(list $ $netpolValues). */}}
{{- define "jhub.netpol.egressRules" -}}
{{- $root := index . 0 -}}
{{- $np := index . 1 -}}
{{- $allow := $np.egressAllowRules -}}
{{- $metadata := printf "%s/32" $root.Values.singleuser.cloudMetadata.ip -}}
{{- $private := list "10.0.0.0/8" "172.16.0.0/12" "192.168.0.0/16" -}}
{{- $privateBlocks := list -}}
{{- range $private }}{{ $privateBlocks = append $privateBlocks (dict "ipBlock" (dict "cidr" .)) }}{{ end -}}
{{- $rules := list -}}
{{- $dnsTo := list -}}
{{- if $allow.dnsPortsCloudMetadataServer -}}
{{- $dnsTo = append $dnsTo (dict "ipBlock" (dict "cidr" $metadata)) -}}
{{- end -}}
{{- if $allow.dnsPortsKubeSystemNamespace -}}
{{- $dnsTo = append $dnsTo (dict "namespaceSelector" (dict "matchLabels" (dict "kubernetes.io/metadata.name" "kube-system"))) -}}
{{- end -}}
{{- if $allow.dnsPortsPrivateIPs -}}
{{- $dnsTo = concat $dnsTo $privateBlocks -}}
{{- end -}}
{{- with $dnsTo -}}
{{- $rules = append $rules (dict "to" . "ports" (list (dict "port" 53 "protocol" "UDP") (dict "port" 53 "protocol" "TCP"))) -}}
{{- end -}}
{{- if $allow.nonPrivateIPs -}}
{{- $rules = append $rules (dict "to" (list (dict "ipBlock" (dict "cidr" "0.0.0.0/0" "except" (append $private $metadata))))) -}}
{{- end -}}
{{- if $allow.privateIPs -}}
{{- $rules = append $rules (dict "to" $privateBlocks) -}}
{{- end -}}
{{- if $allow.cloudMetadataServer -}}
{{- $rules = append $rules (dict "to" (list (dict "ipBlock" (dict "cidr" $metadata)))) -}}
{{- end -}}
{{- $rules = concat $rules ($np.egress | default list) -}}
{{- with $rules }}{{ toYaml . }}{{ end -}}
{{- end -}}

{{- /* Egress to pods selected by labels on some ports: (list matchLabels ports). */}}
{{- define "jhub.netpol.egressTo" -}}
{{- $ports := list -}}
{{- range index . 1 }}{{ $ports = append $ports (dict "port" .) }}{{ end -}}
{{ toYaml (list (dict "to" (list (dict "podSelector" (dict "matchLabels" (index . 0)))) "ports" $ports)) }}
{{- end -}}
