package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

// Storage served by the sandbox's provisioner: host folders under volumes/.
const (
	StorageClassName = "sandbox-hostpath"
	// FixedSizeStorageClassName is served by the same provisioner but allows no expansion: the
	// API server refuses a larger request on its claims.
	FixedSizeStorageClassName = "sandbox-hostpath-fixed"
	provisionerName           = "sandbox.local/hostpath"
	heartbeatPeriod           = 10 * time.Second
	// storageResync retries provisioning and resizing that failed on a transient error.
	storageResync = 30 * time.Second
)

// startNodes registers the nodes, keeps them alive, runs their agents and the volume provisioner.
func (s *Sandbox) startNodes(ctx, runCtx context.Context) error {
	for _, n := range s.nodes {
		if err := s.registerNode(ctx, n); err != nil {
			return fmt.Errorf("registering %s: %w", n.name, err)
		}
		a := newAgent(s.client, n, s.dir, s.images)
		s.agents.Add(2)
		go func() { defer s.agents.Done(); a.run(runCtx) }()
		go func() { defer s.agents.Done(); s.heartbeat(runCtx, n) }()
	}
	if err := s.ensureStorageClass(ctx); err != nil {
		return err
	}
	s.agents.Add(1)
	go func() { defer s.agents.Done(); s.provision(runCtx) }()
	return s.waitNodesReady(ctx)
}

func (s *Sandbox) registerNode(ctx context.Context, n nodeInfo) error {
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:   n.name,
			Labels: map[string]string{corev1.LabelHostname: n.name, corev1.LabelOSStable: "linux", corev1.LabelArchStable: runtime.GOARCH},
		},
		Spec: corev1.NodeSpec{PodCIDR: n.podPrefix + ".0/24", PodCIDRs: []string{n.podPrefix + ".0/24"}},
	}
	created, err := s.client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse("32"),
		corev1.ResourceMemory:           resource.MustParse("128Gi"),
		corev1.ResourcePods:             resource.MustParse("110"),
		corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
	}
	created.Status = corev1.NodeStatus{
		Capacity:    capacity,
		Allocatable: capacity,
		Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: n.address},
			{Type: corev1.NodeHostName, Address: n.name},
		},
		Conditions: nodeConditions(time.Now()),
		NodeInfo: corev1.NodeSystemInfo{
			KubeletVersion: "v1.37.2", OperatingSystem: "linux", Architecture: runtime.GOARCH,
			ContainerRuntimeVersion: "sandbox://host-process",
		},
	}
	_, err = s.client.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{})
	return err
}

func nodeConditions(now time.Time) []corev1.NodeCondition {
	t := metav1.NewTime(now)
	cond := func(typ corev1.NodeConditionType, status corev1.ConditionStatus, reason string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: typ, Status: status, Reason: reason, LastHeartbeatTime: t, LastTransitionTime: t}
	}
	return []corev1.NodeCondition{
		cond(corev1.NodeReady, corev1.ConditionTrue, "SandboxAgentReady"),
		cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "SandboxAgentHasSufficientMemory"),
		cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "SandboxAgentHasNoDiskPressure"),
		cond(corev1.NodePIDPressure, corev1.ConditionFalse, "SandboxAgentHasSufficientPID"),
	}
}

// heartbeat renews the node's Lease and Ready condition, as a kubelet does, so the node
// lifecycle controller never marks it unreachable.
func (s *Sandbox) heartbeat(ctx context.Context, n nodeInfo) {
	leases := s.client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		now := metav1.NewMicroTime(time.Now())
		lease, err := leases.Get(ctx, n.name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			_, _ = leases.Create(ctx, &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: n.name},
				Spec: coordinationv1.LeaseSpec{
					HolderIdentity: ptr.To(n.name), LeaseDurationSeconds: ptr.To[int32](40), RenewTime: &now,
				},
			}, metav1.CreateOptions{})
		} else if err == nil {
			lease.Spec.RenewTime = &now
			_, _ = leases.Update(ctx, lease, metav1.UpdateOptions{})
		}
		node, err := s.client.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
		if err != nil {
			return
		}
		node.Status.Conditions = nodeConditions(time.Now())
		_, _ = s.client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
	}, heartbeatPeriod)
}

func (s *Sandbox) ensureStorageClass(ctx context.Context) error {
	for _, sc := range []*storagev1.StorageClass{storageClass(StorageClassName, true), storageClass(FixedSizeStorageClassName, false)} {
		_, err := s.client.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	return nil
}

// storageClass is a class of the sandbox's provisioner; the expanding one is the default.
func storageClass(name string, expands bool) *storagev1.StorageClass {
	sc := &storagev1.StorageClass{
		ObjectMeta:           metav1.ObjectMeta{Name: name},
		Provisioner:          provisionerName,
		ReclaimPolicy:        ptr.To(corev1.PersistentVolumeReclaimDelete),
		VolumeBindingMode:    ptr.To(storagev1.VolumeBindingImmediate),
		AllowVolumeExpansion: ptr.To(expands),
	}
	if expands {
		sc.Annotations = map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}
	}
	return sc
}

// provision binds every pending claim of the sandbox class to a new host-folder volume, grows
// the volume of a bound claim whose request grew, and removes a released volume's folder
// (reclaim policy Delete).
func (s *Sandbox) provision(ctx context.Context) {
	factory := informers.NewSharedInformerFactory(s.client, storageResync)
	claims := factory.Core().V1().PersistentVolumeClaims().Informer()
	volumes := factory.Core().V1().PersistentVolumes().Informer()
	onClaim := func(obj interface{}) {
		if pvc, ok := obj.(*corev1.PersistentVolumeClaim); ok {
			s.provisionClaim(ctx, pvc)
			if err := s.resizeClaim(ctx, pvc); err != nil {
				fmt.Fprintf(os.Stderr, "sandbox: resizing claim %s/%s: %v\n", pvc.Namespace, pvc.Name, err)
			}
		}
	}
	onVolume := func(obj interface{}) {
		if pv, ok := obj.(*corev1.PersistentVolume); ok {
			s.reclaimVolume(ctx, pv)
		}
	}
	_, _ = claims.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: onClaim, UpdateFunc: func(_, o interface{}) { onClaim(o) }})
	_, _ = volumes.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: onVolume, UpdateFunc: func(_, o interface{}) { onVolume(o) }})
	factory.Start(ctx.Done())
	<-ctx.Done()
	factory.Shutdown()
}

func (s *Sandbox) provisionClaim(ctx context.Context, pvc *corev1.PersistentVolumeClaim) {
	class := ptr.Deref(pvc.Spec.StorageClassName, StorageClassName)
	if pvc.Status.Phase != corev1.ClaimPending || pvc.Spec.VolumeName != "" || (class != StorageClassName && class != FixedSizeStorageClassName) {
		return
	}
	name := "pvc-" + string(pvc.UID)
	path := filepath.Join(s.dir, "volumes", name)
	if err := os.MkdirAll(path, 0o777); err != nil {
		return
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{"pv.kubernetes.io/provisioned-by": provisionerName}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: pvc.Spec.Resources.Requests[corev1.ResourceStorage]},
			AccessModes:                   pvc.Spec.AccessModes,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
			StorageClassName:              class,
			ClaimRef: &corev1.ObjectReference{
				Kind: "PersistentVolumeClaim", Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID, APIVersion: "v1",
			},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: path}},
		},
	}
	_, _ = s.client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
}

func (s *Sandbox) reclaimVolume(ctx context.Context, pv *corev1.PersistentVolume) {
	if pv.Status.Phase != corev1.VolumeReleased || pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete ||
		pv.Spec.HostPath == nil || pv.Annotations["pv.kubernetes.io/provisioned-by"] != provisionerName {
		return
	}
	_ = os.RemoveAll(pv.Spec.HostPath.Path)
	_ = s.client.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{})
}

// resizeClaim plays the external resizer and the kubelet for a bound claim of the sandbox class
// whose request exceeds its capacity: a host folder has no size, so it sets the volume's capacity
// and then the claim's status to the request, leaving no resize in progress.
func (s *Sandbox) resizeClaim(ctx context.Context, pvc *corev1.PersistentVolumeClaim) error {
	if !needsResize(pvc) {
		return nil
	}
	want := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		pv, err := s.client.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if pv.Annotations["pv.kubernetes.io/provisioned-by"] != provisionerName ||
			pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.UID != pvc.UID {
			return errNotOurs
		}
		if have := pv.Spec.Capacity[corev1.ResourceStorage]; have.Cmp(want) >= 0 {
			return nil
		}
		pv.Spec.Capacity = corev1.ResourceList{corev1.ResourceStorage: want}
		_, err = s.client.CoreV1().PersistentVolumes().Update(ctx, pv, metav1.UpdateOptions{})
		return err
	})
	if errors.Is(err, errNotOurs) {
		return nil
	}
	if err != nil {
		return err
	}
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		fresh, err := s.client.CoreV1().PersistentVolumeClaims(pvc.Namespace).Get(ctx, pvc.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if fresh.UID != pvc.UID || !needsResize(fresh) {
			return nil
		}
		// The request may have grown again; the next event resizes the volume to it.
		if now := fresh.Spec.Resources.Requests[corev1.ResourceStorage]; now.Cmp(want) != 0 {
			return nil
		}
		fresh.Status = resizedClaimStatus(fresh.Status, want)
		_, err = s.client.CoreV1().PersistentVolumeClaims(pvc.Namespace).UpdateStatus(ctx, fresh, metav1.UpdateOptions{})
		return err
	})
}

// errNotOurs marks a volume the sandbox's provisioner did not make for the claim.
var errNotOurs = errors.New("volume not provisioned by the sandbox for this claim")

// needsResize reports whether a bound claim of the sandbox class requests more than it has.
func needsResize(pvc *corev1.PersistentVolumeClaim) bool {
	if pvc.Status.Phase != corev1.ClaimBound || pvc.Spec.VolumeName == "" ||
		ptr.Deref(pvc.Spec.StorageClassName, "") != StorageClassName {
		return false
	}
	want, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	have := pvc.Status.Capacity[corev1.ResourceStorage]
	return ok && want.Cmp(have) > 0
}

// resizedClaimStatus is a claim's status once both the controller and the node finished growing
// it to size: the capacity and allocation are the size, and no resize is in progress or failed.
func resizedClaimStatus(status corev1.PersistentVolumeClaimStatus, size resource.Quantity) corev1.PersistentVolumeClaimStatus {
	out := *status.DeepCopy()
	if out.Capacity == nil {
		out.Capacity = corev1.ResourceList{}
	}
	out.Capacity[corev1.ResourceStorage] = size
	if out.AllocatedResources == nil {
		out.AllocatedResources = corev1.ResourceList{}
	}
	out.AllocatedResources[corev1.ResourceStorage] = size
	delete(out.AllocatedResourceStatuses, corev1.ResourceStorage)
	if len(out.AllocatedResourceStatuses) == 0 {
		out.AllocatedResourceStatuses = nil
	}
	conditions := out.Conditions[:0]
	for _, c := range out.Conditions {
		switch c.Type {
		case corev1.PersistentVolumeClaimResizing, corev1.PersistentVolumeClaimFileSystemResizePending,
			corev1.PersistentVolumeClaimControllerResizeError, corev1.PersistentVolumeClaimNodeResizeError:
			continue
		}
		conditions = append(conditions, c)
	}
	out.Conditions = conditions
	if len(out.Conditions) == 0 {
		out.Conditions = nil
	}
	return out
}
