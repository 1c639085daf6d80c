package sandbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// agent plays the kubelet for one node: it runs the containers of the pods bound to the node as
// local processes and reports their status.
type agent struct {
	client kubernetes.Interface
	node   nodeInfo
	dir    string
	images *imageStore

	mu   sync.Mutex
	pods map[types.UID]*podRun
	ips  podIPs
	wg   sync.WaitGroup
}

// podRun is one pod being run; cancel stops its processes.
type podRun struct {
	cancel context.CancelFunc
	latest chan *corev1.Pod
}

func newAgent(client kubernetes.Interface, node nodeInfo, dir string, images *imageStore) *agent {
	return &agent{client: client, node: node, dir: dir, images: images, pods: map[types.UID]*podRun{},
		ips: podIPs{prefix: node.podPrefix, used: map[int]types.UID{}}}
}

// run watches the pods bound to the node until ctx ends, then stops every pod it runs.
func (a *agent) run(ctx context.Context) {
	factory := informers.NewSharedInformerFactoryWithOptions(a.client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", a.node.name).String()
		}))
	informer := factory.Core().V1().Pods().Informer()
	_, _ = informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { a.observe(ctx, obj.(*corev1.Pod)) },
		UpdateFunc: func(_, obj interface{}) { a.observe(ctx, obj.(*corev1.Pod)) },
		DeleteFunc: func(obj interface{}) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if pod, ok := obj.(*corev1.Pod); ok {
				a.forget(pod.UID)
			}
		},
	})
	factory.Start(ctx.Done())
	<-ctx.Done()
	factory.Shutdown()
	a.mu.Lock()
	for uid, run := range a.pods {
		run.cancel()
		delete(a.pods, uid)
	}
	a.mu.Unlock()
	a.wg.Wait()
}

// observe starts a pod it has not seen, or hands the newest copy to the pod's runner.
func (a *agent) observe(ctx context.Context, pod *corev1.Pod) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if run, ok := a.pods[pod.UID]; ok {
		select { // keep only the newest copy
		case <-run.latest:
		default:
		}
		run.latest <- pod
		return
	}
	if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		if pod.DeletionTimestamp != nil {
			a.finishDeletion(ctx, pod)
		}
		return
	}
	podIP := a.node.address
	if !pod.Spec.HostNetwork {
		ip, err := a.ips.allocate(pod.UID)
		if err != nil {
			a.warn(ctx, pod, "FailedCreatePodSandBox", err.Error())
			return
		}
		podIP = ip
	}
	runCtx, cancel := context.WithCancel(ctx)
	run := &podRun{cancel: cancel, latest: make(chan *corev1.Pod, 1)}
	a.pods[pod.UID] = run
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		r := newPodRunner(a, pod, podIP)
		r.run(runCtx, run.latest)
		a.mu.Lock()
		delete(a.pods, pod.UID)
		a.ips.release(pod.UID)
		a.mu.Unlock()
	}()
}

// forget stops the processes of a pod that disappeared from the API.
func (a *agent) forget(uid types.UID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if run, ok := a.pods[uid]; ok {
		run.cancel()
	}
}

// finishDeletion removes a terminating pod whose processes have stopped, as a kubelet does.
func (a *agent) finishDeletion(ctx context.Context, pod *corev1.Pod) {
	err := a.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: new(int64),
		Preconditions:      &metav1.Preconditions{UID: &pod.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		fmt.Fprintf(os.Stderr, "sandbox: deleting pod %s/%s: %v\n", pod.Namespace, pod.Name, err)
	}
}

// podDir is the pod's folder under pods/.
func (a *agent) podDir(pod *corev1.Pod) string {
	return filepath.Join(a.dir, "pods", fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID))
}

// updateStatus writes status, re-reading the pod on conflicts.
func (a *agent) updateStatus(ctx context.Context, pod *corev1.Pod, status corev1.PodStatus) (*corev1.Pod, error) {
	for attempt := 0; attempt < 5; attempt++ {
		update := pod.DeepCopy()
		update.Status = status
		updated, err := a.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, update, metav1.UpdateOptions{})
		if err == nil {
			return updated, nil
		}
		if !apierrors.IsConflict(err) {
			return pod, err
		}
		fresh, err := a.client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return pod, err
		}
		if fresh.UID != pod.UID {
			return pod, apierrors.NewNotFound(corev1.Resource("pods"), pod.Name)
		}
		pod = fresh
	}
	return pod, fmt.Errorf("status of pod %s/%s kept conflicting", pod.Namespace, pod.Name)
}

// warn records a Warning Event on the pod.
func (a *agent) warn(ctx context.Context, pod *corev1.Pod, reason, message string) {
	a.event(ctx, pod, corev1.EventTypeWarning, reason, message)
}

// event records an Event on the pod.
func (a *agent) event(ctx context.Context, pod *corev1.Pod, eventType, reason, message string) {
	now := metav1.NewTime(time.Now())
	_, _ = a.client.CoreV1().Events(pod.Namespace).Create(ctx, &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{GenerateName: pod.Name + ".", Namespace: pod.Namespace},
		InvolvedObject: corev1.ObjectReference{
			Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID,
		},
		Reason: reason, Message: message, Type: eventType,
		Source:         corev1.EventSource{Component: "sandbox-agent", Host: a.node.name},
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
	}, metav1.CreateOptions{})
}

// podIPs hands out the addresses of pods that are not on the host network: prefix.2 to
// prefix.254, the node's pod range, in turn, so a freed address is not reused at once. Every
// address of 127.0.0.0/8 is the host's, so pods need no network set up, and two pods listening
// on the same port on their own addresses do not collide.
type podIPs struct {
	prefix string // "127.0.11"
	used   map[int]types.UID
	next   int // offset of the next address to try, from .2
}

func (p *podIPs) allocate(uid types.UID) (string, error) {
	const size = 253 // .2 to .254
	for i := 0; i < size; i++ {
		n := 2 + (p.next+i)%size
		if _, taken := p.used[n]; !taken {
			p.used[n], p.next = uid, (p.next+i+1)%size
			return fmt.Sprintf("%s.%d", p.prefix, n), nil
		}
	}
	return "", fmt.Errorf("no pod address left in %s.0/24", p.prefix)
}

func (p *podIPs) release(uid types.UID) {
	for n, owner := range p.used {
		if owner == uid {
			delete(p.used, n)
		}
	}
}
