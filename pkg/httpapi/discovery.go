package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
)

// NodeAddress is one Redis node as discovery lists it. ip and port are the original operator's
// fields; the rest are additions old clients ignore.
type NodeAddress struct {
	IP     string   `json:"ip"`
	Port   int32    `json:"port"`
	Role   string   `json:"role,omitempty"`
	NodeID string   `json:"nodeId,omitempty"`
	Pod    string   `json:"pod,omitempty"`
	Slots  []string `json:"slots,omitempty"`
	Ready  bool     `json:"ready"`
	// TLS says the port speaks only TLS.
	TLS bool `json:"tls,omitempty"`
}

// ClusterSummary is one cluster as GET /clusters lists it.
type ClusterSummary struct {
	Namespace     string `json:"namespace"`
	Name          string `json:"name"`
	Masters       int32  `json:"masters"`
	Replicas      int32  `json:"replicas"`
	ReadyMasters  int32  `json:"readyMasters"`
	ReadyReplicas int32  `json:"readyReplicas"`
	Ready         bool   `json:"ready"`
	Reason        string `json:"reason,omitempty"`
	Message       string `json:"message,omitempty"`
	Nodes         int    `json:"nodes"`
}

// handleNodes serves GET /cluster/nodes?clusterName=NAME[&namespace=NS].
func (s *Server) handleNodes(w http.ResponseWriter, r *http.Request) {
	query := r.URL.Query()
	name, namespace := query.Get("clusterName"), query.Get("namespace")
	if name == "" {
		writeError(w, http.StatusBadRequest, "query parameter clusterName is required, as in /cluster/nodes?clusterName=rediscluster1")
		return
	}
	if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("clusterName %q is not a valid resource name: %s", name, strings.Join(msgs, "; ")))
		return
	}
	if namespace != "" {
		if msgs := validation.IsDNS1123Label(namespace); len(msgs) > 0 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("namespace %q is not a valid namespace name: %s", namespace, strings.Join(msgs, "; ")))
			return
		}
	}
	rc, err := s.findCluster(name, namespace)
	if err != nil {
		s.writeLookupError(w, err)
		return
	}
	nodes := make([]NodeAddress, 0, len(rc.Status.Nodes))
	for _, n := range rc.Status.Nodes {
		if n.IP == "" || n.Port == 0 {
			continue
		}
		nodes = append(nodes, NodeAddress{IP: n.IP, Port: n.Port, Role: n.Role, NodeID: n.NodeID, Pod: n.Pod, Slots: n.Slots, Ready: n.Ready,
			TLS: rc.RunsTLS()})
	}
	writeJSON(w, http.StatusOK, nodes)
}

// handleClusters serves GET /clusters.
func (s *Server) handleClusters(w http.ResponseWriter, _ *http.Request) {
	all, err := s.clusters.List(labels.Everything())
	if err != nil {
		writeError(w, http.StatusInternalServerError, "listing clusters: "+err.Error())
		return
	}
	out := make([]ClusterSummary, 0, len(all))
	for _, rc := range all {
		summary := ClusterSummary{
			Namespace: rc.Namespace, Name: rc.Name, Masters: rc.Spec.Masters, Replicas: rc.Spec.Replicas,
			ReadyMasters: rc.Status.ReadyMasters, ReadyReplicas: rc.Status.ReadyReplicas, Nodes: len(rc.Status.Nodes),
		}
		if ready := meta.FindStatusCondition(rc.Status.Conditions, redisv1beta1.ConditionReady); ready != nil {
			summary.Ready = ready.Status == "True"
			summary.Reason, summary.Message = ready.Reason, ready.Message
		}
		out = append(out, summary)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Namespace+"/"+out[i].Name < out[j].Namespace+"/"+out[j].Name
	})
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) writeLookupError(w http.ResponseWriter, err error) {
	var lookup *lookupError
	if errors.As(err, &lookup) {
		writeError(w, lookup.code, lookup.msg)
		return
	}
	writeError(w, http.StatusInternalServerError, err.Error())
}
