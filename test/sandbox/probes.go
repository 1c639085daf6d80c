package sandbox

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// checkLiveness runs the liveness probe when due, at the spec's own period (a restart is costly
// and a loaded test machine slow), and stops a container that failed it failureThreshold times
// in a row; step restarts it as its restart policy says. Host processes are not checked: the
// Redis pods ran without liveness probes in the sandbox before, and keep doing so.
func (r *podRunner) checkLiveness(ctx context.Context, c *containerRun, now time.Time) {
	p := c.spec.LivenessProbe
	if p == nil || c.killing || now.Before(c.nextLive) {
		return
	}
	c.nextLive = now.Add(time.Duration(max(p.PeriodSeconds, 1)) * time.Second)
	if r.runProbe(p, c, time.Duration(max(p.TimeoutSeconds, 1))*time.Second) {
		c.liveFailures = 0
		return
	}
	c.liveFailures++
	if c.liveFailures < max(p.FailureThreshold, 1) {
		return
	}
	r.a.warn(ctx, r.pod, "Unhealthy", fmt.Sprintf("Container %s failed its liveness probe %d times; it will be restarted", c.spec.Name, c.liveFailures))
	c.killing = true
	go c.proc.stop(r.gracePeriod())
}

// gracePeriod is the pod's termination grace period, capped at maxGracePeriod.
func (r *podRunner) gracePeriod() time.Duration {
	if s := r.pod.Spec.TerminationGracePeriodSeconds; s != nil {
		return min(maxGracePeriod, time.Duration(*s)*time.Second)
	}
	return maxGracePeriod
}

// probe runs the readiness probe when due, with the spec's thresholds.
func (r *podRunner) probe(c *containerRun, now time.Time) {
	p := c.spec.ReadinessProbe
	if p == nil {
		c.ready = true
		return
	}
	if now.Before(c.nextProbe) {
		return
	}
	period := min(time.Duration(max(p.PeriodSeconds, 1))*time.Second, probePeriodCap)
	c.nextProbe = now.Add(period)
	timeout := time.Duration(max(p.TimeoutSeconds, 1)) * time.Second
	if r.runProbe(p, c, timeout) {
		c.successes, c.failures = c.successes+1, 0
		if c.successes >= max(p.SuccessThreshold, 1) {
			c.ready = true
		}
		return
	}
	c.successes, c.failures = 0, c.failures+1
	if c.failures >= max(p.FailureThreshold, 1) {
		c.ready = false
	}
}

func (r *podRunner) runProbe(p *corev1.Probe, c *containerRun, timeout time.Duration) bool {
	host := r.podIP
	switch {
	case p.TCPSocket != nil:
		host = firstNonEmpty(p.TCPSocket.Host, host)
		conn, err := net.DialTimeout("tcp", net.JoinHostPort(host, containerPort(c.spec, p.TCPSocket.Port)), timeout)
		if err != nil {
			return false
		}
		conn.Close()
		return true
	case p.Exec != nil && len(p.Exec.Command) > 0:
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, p.Exec.Command[0], p.Exec.Command[1:]...)
		cmd.Env, cmd.Dir = c.env, c.cwd
		return cmd.Run() == nil
	case p.HTTPGet != nil:
		scheme := "http"
		client := http.Client{Timeout: timeout}
		if p.HTTPGet.Scheme == corev1.URISchemeHTTPS {
			// A kubelet does not verify the certificate of a probe either.
			scheme, client.Transport = "https", &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
		}
		host = firstNonEmpty(p.HTTPGet.Host, host)
		resp, err := client.Get(fmt.Sprintf("%s://%s/%s", scheme,
			net.JoinHostPort(host, containerPort(c.spec, p.HTTPGet.Port)), strings.TrimPrefix(p.HTTPGet.Path, "/")))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode >= 200 && resp.StatusCode < 400
	}
	return true
}

// containerPort is a probe's port as a number: a name is looked up in the container's ports.
func containerPort(c corev1.Container, port intstr.IntOrString) string {
	if port.Type == intstr.String {
		for _, p := range c.Ports {
			if p.Name == port.StrVal {
				return strconv.Itoa(int(p.ContainerPort))
			}
		}
	}
	return port.String()
}
