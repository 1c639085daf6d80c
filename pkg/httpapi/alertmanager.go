package httpapi

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	redisv1beta1 "redis-operator/pkg/apis/redis/v1beta1"
)

// maxWebhookBody bounds what the webhook reads; Alertmanager's payloads are far smaller.
const maxWebhookBody = 1 << 20

// AnnotationLastAutoscale records, in the same write as the masters change, when the webhook
// last scaled a cluster, so a second alert arriving before the controller's status update still
// sees the cooldown.
const AnnotationLastAutoscale = "redis.redis/last-autoscale-time"

// WebhookPayload is Alertmanager's webhook body (version 4).
type WebhookPayload struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []Alert           `json:"alerts"`
}

// Alert is one alert of a webhook payload.
type Alert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// Outcomes of one alert.
const (
	OutcomeScaled  = "scaled"
	OutcomeSkipped = "skipped"
	OutcomeIgnored = "ignored"
)

// AlertResult says what the webhook did with one alert.
type AlertResult struct {
	Alert       string `json:"alert"`
	Fingerprint string `json:"fingerprint,omitempty"`
	Status      string `json:"status"`
	Namespace   string `json:"namespace,omitempty"`
	Cluster     string `json:"cluster,omitempty"`
	Outcome     string `json:"outcome"`
	Reason      string `json:"reason,omitempty"`
	From        int32  `json:"from,omitempty"`
	To          int32  `json:"to,omitempty"`
}

// WebhookResponse is the webhook's answer.
type WebhookResponse struct {
	Alerts []AlertResult `json:"alerts"`
}

// decodePayload reads and checks a webhook body. A body over maxWebhookBody is a
// *http.MaxBytesError.
func decodePayload(body io.Reader) (*WebhookPayload, error) {
	dec := json.NewDecoder(body)
	var payload WebhookPayload
	if err := dec.Decode(&payload); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, err
		}
		return nil, fmt.Errorf("body is not JSON: %w", err)
	}
	if dec.More() {
		return nil, errors.New("body holds more than one JSON value")
	}
	if payload.Version != "" && payload.Version != "4" {
		return nil, fmt.Errorf("payload version %q is not Alertmanager's webhook version 4", payload.Version)
	}
	if payload.Alerts == nil {
		return nil, errors.New(`body is not an Alertmanager webhook payload: "alerts" is missing`)
	}
	for i, a := range payload.Alerts {
		if a.Status != "firing" && a.Status != "resolved" {
			return nil, fmt.Errorf(`alerts[%d].status is %q, want "firing" or "resolved"`, i, a.Status)
		}
		if a.Labels["alertname"] == "" {
			return nil, fmt.Errorf("alerts[%d].labels.alertname is missing", i)
		}
	}
	return &payload, nil
}

// scaleDirection maps an alert name to +1 (more masters), -1 (fewer) or 0 (not ours). The
// original chart's rules used the same names with a Redis prefix.
func scaleDirection(alertName string) int {
	switch strings.TrimPrefix(alertName, "Redis") {
	case "HighMemoryUsage", "HighThroughput":
		return 1
	case "LowMemoryUsage", "LowThroughput":
		return -1
	}
	return 0
}

// otherAlerts is the metrics' alert label of every name that is not an autoscaling alert.
const otherAlerts = "other"

// metricAlertName keeps the metrics' alert label to a few values: callers choose alert names.
func metricAlertName(alertName string) string {
	if scaleDirection(alertName) == 0 {
		return otherAlerts
	}
	return alertName
}

// alertCluster returns the cluster an alert names.
func alertCluster(a Alert) (name, namespace string) {
	for _, label := range []string{"redis_cluster", "rediscluster", "cluster"} {
		if v := a.Labels[label]; v != "" {
			return v, a.Labels["namespace"]
		}
	}
	return "", a.Labels["namespace"]
}

// scaleStep is the annotation scale_count when it is a positive integer, else 1.
func scaleStep(a Alert) int32 {
	if n, err := strconv.ParseInt(a.Annotations["scale_count"], 10, 32); err == nil && n > 0 {
		return int32(n)
	}
	return 1
}

// Reasons an alert was skipped.
const (
	SkipCooldown      = "cooldown"
	SkipBound         = "bound"
	SkipScaling       = "scaling in progress"
	SkipUpdating      = "rolling update in progress"
	SkipUnknown       = "unknown cluster"
	SkipNoClusterName = "no cluster label"
)

// decideScale returns the masters count an alert asks for, or the reason it changes nothing. It
// is pure: the cluster as last seen, the alert's direction and step, and the time.
func decideScale(rc *redisv1beta1.RedisCluster, direction int, step int32, now time.Time) (int32, string) {
	from := rc.Spec.Masters
	if scalingInProgress(rc) {
		return from, SkipScaling
	}
	// A scale composes with a roll (it waits for the roll's temporary node), but an alert is a
	// reading of a cluster whose pods are being replaced: it is read again after the roll.
	if meta.IsStatusConditionTrue(rc.Status.Conditions, redisv1beta1.ConditionUpdating) {
		return from, SkipUpdating
	}
	if last := lastScaleTime(rc); !last.IsZero() {
		if wait := rc.Spec.ScaleCooldownDuration() - now.Sub(last); wait > 0 {
			return from, fmt.Sprintf("%s (%s left)", SkipCooldown, wait.Round(time.Second))
		}
	}
	minMasters, maxMasters := rc.Spec.MasterBounds()
	to := from + int32(direction)*step
	if direction > 0 && maxMasters > 0 {
		to = min(to, maxMasters)
	}
	to = max(to, minMasters)
	if to == from || (direction > 0 && to < from) || (direction < 0 && to > from) {
		return from, fmt.Sprintf("%s (masters %d, bounds %d..%s)", SkipBound, from, minMasters, boundString(maxMasters))
	}
	return to, ""
}

func boundString(maxMasters int32) string {
	if maxMasters == 0 {
		return "unbounded"
	}
	return strconv.Itoa(int(maxMasters))
}

// scalingInProgress is true while the controller has not yet caught up with the spec or is
// moving slots.
func scalingInProgress(rc *redisv1beta1.RedisCluster) bool {
	if rc.Status.ObservedGeneration < rc.Generation || rc.Status.Migration != nil {
		return true
	}
	return meta.IsStatusConditionTrue(rc.Status.Conditions, redisv1beta1.ConditionScaling)
}

func lastScaleTime(rc *redisv1beta1.RedisCluster) time.Time {
	var last time.Time
	if rc.Status.LastScaleTime != nil {
		last = rc.Status.LastScaleTime.Time
	}
	if t, err := time.Parse(time.RFC3339, rc.Annotations[AnnotationLastAutoscale]); err == nil && t.After(last) {
		last = t
	}
	return last
}

// handleAlertmanager serves POST /webhooks/alertmanager.
func (s *Server) handleAlertmanager(w http.ResponseWriter, r *http.Request) {
	if s.token == "" && !s.anyone {
		writeError(w, http.StatusForbidden, "the webhook is off: start the operator with --webhook-token-file "+
			"(and send its token as a bearer token), or with --webhook-allow-unauthenticated to accept calls without one")
		return
	}
	if !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="redis-operator"`)
		writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
		return
	}
	payload, err := decodePayload(http.MaxBytesReader(w, r.Body, maxWebhookBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body is larger than %d bytes", maxWebhookBody))
			return
		}
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	// Every cluster is found before any is scaled, so an ambiguous alert changes nothing.
	plans := make([]alertPlan, 0, len(payload.Alerts))
	for _, alert := range payload.Alerts {
		plan, err := s.planAlert(r.Context(), alert)
		if err != nil {
			s.log.Warn().Err(err).Msg("webhook call refused")
			writeError(w, http.StatusConflict, err.Error())
			return
		}
		plans = append(plans, plan)
	}
	resp := WebhookResponse{Alerts: make([]AlertResult, 0, len(payload.Alerts))}
	for _, plan := range plans {
		result := plan.result
		if result.Outcome == "" {
			result = s.scale(r.Context(), plan)
		}
		s.metrics.webhookActions.WithLabelValues(metricAlertName(result.Alert), result.Outcome).Inc()
		s.log.Info().Str("alert", result.Alert).Str("namespace", result.Namespace).Str("cluster", result.Cluster).
			Str("outcome", result.Outcome).Str("reason", result.Reason).Int32("from", result.From).Int32("to", result.To).
			Msg("alert handled")
		resp.Alerts = append(resp.Alerts, result)
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) authorized(r *http.Request) bool {
	if s.token == "" {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(s.token)) == 1
}

// alertPlan is one alert, what it asks for and its cluster, found before anything changes.
type alertPlan struct {
	alert     Alert
	direction int
	cluster   *redisv1beta1.RedisCluster
	// result is final when its Outcome is set.
	result AlertResult
}

// planAlert finds the cluster an alert would scale. Its error is an alert without a namespace
// naming a cluster that exists in several: the webhook must not guess.
func (s *Server) planAlert(ctx context.Context, alert Alert) (alertPlan, error) {
	name, namespace := alertCluster(alert)
	plan := alertPlan{alert: alert, result: AlertResult{
		Alert: alert.Labels["alertname"], Fingerprint: alert.Fingerprint, Status: alert.Status,
		Namespace: namespace, Cluster: name,
	}}
	result := &plan.result
	plan.direction = scaleDirection(result.Alert)
	switch {
	case plan.direction == 0:
		result.Outcome, result.Reason = OutcomeIgnored, "not an autoscaling alert"
		return plan, nil
	case alert.Status != "firing":
		result.Outcome, result.Reason = OutcomeIgnored, "resolved"
		return plan, nil
	case name == "":
		result.Outcome, result.Reason = OutcomeSkipped, SkipNoClusterName+" (redis_cluster, rediscluster or cluster)"
		return plan, nil
	}
	rc, err := s.findCluster(name, namespace)
	var lookup *lookupError
	if errors.As(err, &lookup) && lookup.code == http.StatusConflict {
		return plan, fmt.Errorf("alert %s (fingerprint %s) has no label namespace and RedisCluster %s exists in namespaces %s; "+
			"add label namespace to the alert; nothing was changed", result.Alert, alert.Fingerprint, name, strings.Join(lookup.namespaces, ", "))
	}
	if err != nil {
		result.Outcome, result.Reason = OutcomeSkipped, SkipUnknown+": "+err.Error()
		return plan, nil
	}
	plan.cluster = rc
	result.Namespace = rc.Namespace
	if to, skip := decideScale(rc, plan.direction, scaleStep(alert), s.now()); skip == "" && s.checkMasters != nil {
		if err := s.checkMasters(ctx, rc.Namespace, rc.Name, to); err != nil {
			return plan, fmt.Errorf("alert %s (fingerprint %s) would scale RedisCluster %s/%s to %d masters, which does not fit: %v; nothing was changed",
				result.Alert, alert.Fingerprint, rc.Namespace, rc.Name, to, err)
		}
	}
	return plan, nil
}

// scale applies a planned alert to its cluster.
func (s *Server) scale(ctx context.Context, plan alertPlan) AlertResult {
	result, alert, rc, direction := plan.result, plan.alert, plan.cluster, plan.direction
	step := scaleStep(alert)
	now := s.now()
	var from, to int32
	var skip string
	err := s.scaler.ScaleMasters(ctx, rc, func(latest *redisv1beta1.RedisCluster) (int32, bool) {
		from = latest.Spec.Masters
		to, skip = decideScale(latest, direction, step, now)
		return to, skip == ""
	}, fmt.Sprintf("alert %s (fingerprint %s)", result.Alert, alert.Fingerprint))
	result.From, result.To = from, to
	switch {
	case err != nil:
		result.Outcome, result.Reason = OutcomeSkipped, "scaling failed: "+err.Error()
	case skip != "":
		result.Outcome, result.Reason, result.To = OutcomeSkipped, skip, 0
	default:
		result.Outcome = OutcomeScaled
	}
	return result
}

// Scaler changes spec.masters. decide is called with the freshest copy of the cluster (again
// after a conflict) and returns the masters count to set, or false to change nothing.
type Scaler interface {
	ScaleMasters(ctx context.Context, rc *redisv1beta1.RedisCluster,
		decide func(latest *redisv1beta1.RedisCluster) (int32, bool), cause string) error
}

// markAutoscaled sets the masters count and the autoscale time on a copy of rc.
func markAutoscaled(rc *redisv1beta1.RedisCluster, masters int32, now time.Time) *redisv1beta1.RedisCluster {
	update := rc.DeepCopy()
	update.Spec.Masters = masters
	if update.Annotations == nil {
		update.Annotations = map[string]string{}
	}
	update.Annotations[AnnotationLastAutoscale] = metav1.NewTime(now).UTC().Format(time.RFC3339)
	return update
}
